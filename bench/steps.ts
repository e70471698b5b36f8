/**
 * The benchmark workloads: the U-Net 16-32-64-128 (transposed-conv up, 2 classes) training
 * step on a 4x1x128x128 batch with Adam and CE + Dice, its exported inference model, and the
 * dual-model step (two U-Nets; labelled, weak and strong views).
 */
import * as L from "../engine/losses.ts";
import { UNet } from "../engine/models/unet.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { exportOnnx } from "../engine/predict.ts";
import { ort, Session } from "../engine/session.ts";
import { type FeedValue, TrainStep } from "../engine/train.ts";
import type { StepBuilder } from "../engine/train.ts";
import type { Tensor } from "../engine/graph.ts";
import { Rng } from "../random/rng.ts";

export const BENCH = { batch: 4, size: 128, classes: 2, channels: [16, 32, 64, 128] };

export function benchUNet(seed: number, up: "transpose" | "bilinear" = "transpose"): UNet {
  return new UNet({ numClasses: BENCH.classes, channels: BENCH.channels, up }, new Rng(seed));
}

function images(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n * BENCH.size * BENCH.size);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  return a;
}

const labelsOf = (img: Float32Array) => Int32Array.from(img, (v) => (v > 0.5 ? 1 : 0));

/** CE + squared Dice: the loss torch_reference.py uses. */
function supervised(logits: Tensor, target: Tensor): Tensor {
  return op.add(L.crossEntropy(logits, target), L.diceLoss(op.softmax(logits, 1), target));
}

export interface Workload {
  run(): Promise<unknown>;
  /** The training step, when the workload is one. */
  step?: TrainStep;
  release(): Promise<void>;
  describe: string;
}

export async function singleStep(threads: number, profilePrefix?: string): Promise<Workload> {
  const { batch: B, size: S, classes: K } = BENCH;
  const step = await TrainStep.build({
    models: { net: benchUNet(1) },
    inputs: { image: [B, 1, S, S], label: { shape: [B, S, S], dtype: "int32" } },
    optimizer: adam(),
    session: { threads, profilePrefix },
    loss: (g) => ({
      loss: supervised(g.forward("net", g.input("image")).logits, L.oneHot(g.input("label"), K)),
    }),
  });
  const image = images(new Rng(2), B);
  const feeds: Record<string, FeedValue> = { image, label: labelsOf(image), lr: 1e-3 };
  return {
    run: () => step.run(feeds),
    release: () => step.release(),
    step,
    describe: `${step.graph.nodes.length} graph nodes, ${step.model("net").store.numParams} params`,
  };
}

export async function inference(threads: number): Promise<Workload> {
  const { batch: B, size: S } = BENCH;
  const bytes = exportOnnx(benchUNet(1), { spatial: [S, S], outputs: ["logits"] });
  const session = await Session.create(bytes, { threads });
  const x = new ort.Tensor("float32", images(new Rng(3), B), [B, 1, S, S]);
  return {
    run: () => session.run({ image: x }),
    release: () => session.release(),
    describe: "exported eval model",
  };
}

/**
 * Two U-Nets; 2 labelled images, 2 unlabelled ones as weak and strong views. Each model: one
 * train-mode forward of [labelled; strong], one eval-mode no-grad forward of the weak view whose
 * confident argmax (≥ 0.95) supervises the other model's strong-view prediction.
 */
export async function dualStep(threads: number, profilePrefix?: string): Promise<Workload> {
  const { size: S, classes: K } = BENCH;
  const h = BENCH.batch / 2;
  const step = await TrainStep.build({
    models: { a: benchUNet(1), b: benchUNet(2) },
    inputs: {
      xl: [h, 1, S, S],
      yl: { shape: [h, S, S], dtype: "int32" },
      xw: [h, 1, S, S],
      xs: [h, 1, S, S],
    },
    scalars: ["w_cross"],
    optimizer: adam(),
    session: { threads, profilePrefix },
    loss: (g: StepBuilder) => {
      const t = L.oneHot(g.input("yl"), K);
      const x = op.concat([g.input("xl"), g.input("xs")], 0);
      const parts: Record<
        string,
        { sup: Tensor; strong: Tensor; pseudo: { target: Tensor; mask: Tensor } }
      > = {};
      for (const m of ["a", "b"]) {
        const [zl, zs] = op.split(g.forward(m, x).logits, [h, h], 0);
        const pw = op.stopGradient(
          op.softmax(g.forward(m, g.input("xw"), { mode: "eval" }).logits, 1),
        );
        const { conf, label } = L.confidence(pw);
        parts[m] = {
          sup: supervised(zl, t),
          strong: zs,
          pseudo: {
            target: L.oneHot(label, K),
            mask: op.cast(op.greaterEqual(conf, 0.95), "float32"),
          },
        };
      }
      const cross = op.add(
        L.crossEntropy(parts.a.strong, parts.b.pseudo.target, { weight: parts.b.pseudo.mask }),
        L.crossEntropy(parts.b.strong, parts.a.pseudo.target, { weight: parts.a.pseudo.mask }),
      );
      const sup = op.add(parts.a.sup, parts.b.sup);
      return { loss: op.add(sup, op.mul(cross, g.scalar("w_cross"))), logs: { sup, cross } };
    },
  });
  const rng = new Rng(4);
  const xl = images(rng, h);
  const feeds: Record<string, FeedValue> = {
    xl,
    yl: labelsOf(xl),
    xw: images(rng, h),
    xs: images(rng, h),
    lr: 1e-3,
    w_cross: 0.5,
  };
  return {
    run: () => step.run(feeds),
    release: () => step.release(),
    step,
    describe: `${step.graph.nodes.length} graph nodes`,
  };
}
