/** The engine README's example, kept runnable: `deno run -A engine/example.ts`. */
import { UNet } from "./models/unet.ts";
import { TrainStep } from "./train.ts";
import { adam } from "./optim.ts";
import * as L from "./losses.ts";
import * as op from "./ops.ts";
import { exportOnnx, Predictor } from "./predict.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { Rng } from "../random/rng.ts";

const B = 2, S = 64, K = 4; // labelled batch, size, classes
const a = new UNet({ numClasses: K }, new Rng(1)); // SSL4MIS: 16-32-64-128-256, dropout, bilinear up
const b = new UNet({ numClasses: K, up: "transpose" }, new Rng(2)); // other init and up-sampling

const step = await TrainStep.build({
  models: { a, b },
  inputs: {
    xl: [B, 1, S, S], // labelled images
    yl: { shape: [B, S, S], dtype: "int32" }, // their labels
    xw: [B, 1, S, S], // unlabelled, weak view
    xs: [B, 1, S, S], // unlabelled, strong view
  },
  scalars: ["w_cross"], // loss weights / ramp-ups are inputs: one graph per run
  optimizer: adam({ weightDecay: 1e-4 }),
  seed: 7, // dropout masks
  loss: (g) => {
    const t = L.oneHot(g.input("yl"), K);
    const sup = (m: string) => {
      const z = g.forward(m, g.input("xl")).logits;
      return op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t));
    };
    // Weak-view pseudo-labels: eval-mode forward, no gradient, confidence threshold 0.95.
    const pseudo = (m: string) => {
      const p = op.stopGradient(
        op.softmax(g.forward(m, g.input("xw"), { mode: "eval" }).logits, 1),
      );
      const { conf, label } = L.confidence(p);
      return { target: L.oneHot(label, K), mask: op.cast(op.greaterEqual(conf, 0.95), "float32") };
    };
    const cross = (m: string, from: { target: op.Tensor; mask: op.Tensor }) =>
      L.crossEntropy(g.forward(m, g.input("xs")).logits, from.target, { weight: from.mask });
    const pa = pseudo("a"), pb = pseudo("b");
    const lossSup = op.add(sup("a"), sup("b"));
    const lossCross = op.add(cross("a", pb), cross("b", pa));
    return {
      loss: op.add(lossSup, op.mul(lossCross, g.scalar("w_cross"))),
      logs: { sup: lossSup, cross: lossCross },
    };
  },
});

const rng = new Rng(3);
const img = () => new Float32Array(B * S * S).map(() => rng.normal());
for (let i = 0; i < 3; i++) {
  const r = await step.run({
    xl: img(),
    yl: new Int32Array(B * S * S).map(() => rng.int(0, K)),
    xw: img(),
    xs: img(),
    lr: 1e-3,
    w_cross: 0.1,
  });
  console.log(i, r.loss, r.logs); // { sup, cross }
}

const ckpt = saveCheckpoint(step, { epoch: 0 }); // safetensors bytes: weights+optimizer+step+rng
loadCheckpoint(step, ckpt); // continue bit-identically (same thread count)

const pred = await Predictor.create(a, { spatial: [S, S] }); // eval mode, live weights
const { probs } = await pred.run(img(), B); // [B, K, S, S]
const onnx = exportOnnx(a, { spatial: [S, S], metadata: { "duet.classes": "4" } }); // dynamic batch
console.log(probs.length, onnx.length);
