/**
 * `deno run -A bench/model_checks.ts [unet] [vnet] [--no-tfjs]`: the paper-size models.
 * - SSL4MIS 2-D U-Net (16-32-64-128-256, dropout, bilinear up, 4 classes: 1.81 M) at 256x256:
 *   builds, trains a few steps (batch 4), and one step's full gradient (batch 1) is compared
 *   with a tfjs replica (cpu backend: several minutes).
 * - UA-MT/CAML V-Net (16 filters): builds and trains a few steps at 112x112x80 (batch 2), and
 *   its gradient is compared with tfjs at a reduced 32x32x16 patch.
 * Relative error = max|a-b| / max|b| over the flat gradient (float32 both sides).
 */
import { cpus } from "node:os";
import * as L from "../engine/losses.ts";
import type { SegmentationModel } from "../engine/models/context.ts";
import { UNet } from "../engine/models/unet.ts";
import { VNet } from "../engine/models/vnet.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { TrainStep } from "../engine/train.ts";
import { Rng } from "../random/rng.ts";
import { ceDiceLoss, unetForward, vnetForward, weightsOf } from "../tests/engine/tf_models.ts";
import * as tf from "@tensorflow/tfjs";

const which = Deno.args.filter((a) => !a.startsWith("--"));
const runAll = which.length === 0;
const withTf = !Deno.args.includes("--no-tfjs");
const threads = cpus().length;

async function buildStep(
  model: SegmentationModel,
  shape: number[],
  classes: number,
  grads = false,
) {
  return await TrainStep.build({
    models: { net: model },
    inputs: { image: shape, label: { shape: [shape[0], ...shape.slice(2)], dtype: "int32" } },
    optimizer: adam(),
    outputGradients: grads,
    seed: 1,
    session: { threads },
    loss: (g) => {
      const z = g.forward("net", g.input("image")).logits;
      const t = L.oneHot(g.input("label"), classes);
      return { loss: op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t)) };
    },
  });
}

function batch(shape: number[], classes: number, seed: number) {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const image = new Float32Array(n);
  for (let i = 0; i < n; i++) image[i] = rng.normal();
  const label = Int32Array.from(
    image,
    (v) => Math.min(classes - 1, Math.max(0, Math.floor(v + 1.5))),
  );
  return { image, label };
}

async function trainFew(
  name: string,
  model: SegmentationModel,
  shape: number[],
  classes: number,
  steps = 3,
) {
  const t0 = performance.now();
  const step = await buildStep(model, shape, classes);
  const built = performance.now() - t0;
  const d = batch(shape, classes, 7);
  const times: number[] = [], losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    const r = await step.run({ ...d, lr: 1e-3 });
    times.push(performance.now() - t);
    losses.push(+r.loss.toFixed(4));
  }
  await step.release();
  const rss = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)/)![1];
  console.log(
    `${name}: ${model.store.numParams} params, input [${shape}], build ${built.toFixed(0)} ms, ` +
      `steps ${times.map((t) => t.toFixed(0)).join(", ")} ms, losses ${
        losses.join(" -> ")
      }, peak RSS ${(+rss / 1024).toFixed(0)} MiB`,
  );
}

async function compareTf(
  name: string,
  model: SegmentationModel,
  shape: number[],
  classes: number,
  maskShapes: number[][],
  fwd: (w: Map<string, tf.Tensor>, x: tf.Tensor, masks: tf.Tensor[]) => tf.Tensor,
) {
  await tf.setBackend("cpu");
  const step = await buildStep(model, shape, classes, true);
  const d = batch(shape, classes, 8);
  const weights = weightsOf(model.store);
  const r = await step.run({ ...d, lr: 0 });
  const masks = [...step.dropoutMasks().values()].map((m, i) => tf.tensor(m, maskShapes[i]));
  await step.release();
  const t0 = performance.now();
  const x = tf.tensor(d.image, shape);
  const labels = tf.tensor(d.label, [shape[0], ...shape.slice(2)], "int32");
  const perm = [0, shape.length - 1, ...shape.slice(2).map((_, i) => i + 1)];
  const onehot = tf.transpose(tf.oneHot(labels, classes), perm);
  const lossFn = (...ws: tf.Tensor[]) =>
    ceDiceLoss(fwd(new Map(weights.names.map((n, i) => [n, ws[i]])), x, masks), onehot);
  const { value, grads } = tf.valueAndGrads(lossFn)(weights.tensors);
  const ours = r.gradients!.get("net")!;
  let off = 0, diff = 0, scale = 0;
  for (const g of grads) {
    const v = g.dataSync();
    for (let i = 0; i < v.length; i++) {
      diff = Math.max(diff, Math.abs(ours[off + i] - v[i]));
      scale = Math.max(scale, Math.abs(v[i]));
    }
    off += v.length;
  }
  const err = diff / scale;
  console.log(
    `${name} vs tfjs: loss ${r.loss.toFixed(6)} / ${
      value.dataSync()[0].toFixed(6)
    }, gradient rel err ${err.toExponential(2)} ` +
      `(${err < 1e-4 ? "PASS" : "FAIL"} < 1e-4), tfjs took ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s`,
  );
}

if (runAll || which.includes("unet")) {
  const unet = () => new UNet({ numClasses: 4 }, new Rng(1));
  await trainFew("SSL4MIS U-Net 256x256", unet(), [4, 1, 256, 256], 4);
  if (withTf) {
    const ms = [[1, 16, 256, 256], [1, 32, 128, 128], [1, 64, 64, 64], [1, 128, 32, 32], [
      1,
      256,
      16,
      16,
    ]];
    await compareTf(
      "SSL4MIS U-Net 256x256 (batch 1)",
      unet(),
      [1, 1, 256, 256],
      4,
      ms,
      (w, x, m) => unetForward(w, x, m, { levels: 5, bilinear: true }),
    );
  }
}
if (runAll || which.includes("vnet")) {
  await trainFew("V-Net 112x112x80", new VNet({}, new Rng(1)), [2, 1, 112, 112, 80], 2, 2);
  if (withTf) {
    await compareTf("V-Net 32x32x16 (batch 2)", new VNet({}, new Rng(1)), [2, 1, 32, 32, 16], 2, [[
      2,
      256,
      1,
      1,
      1,
    ], [2, 16, 1, 1, 1]], vnetForward);
  }
}
