/**
 * Whole-model gradients against tfjs: the same weights, dropout masks, batch and loss
 * (CE + squared Dice) through the engine's training step and through a tfjs replica.
 * Relative error = max|a-b| / max|b| over the model's flat gradient; bound 1e-4.
 * Sizes and seeds are fixed: at larger sizes float32 rounding occasionally puts an activation
 * on the other side of a ReLU/LeakyReLU kink than the oracle does, which moves a few gradient
 * entries by O(1e-3) in any two float32 engines (see bench/model_checks.ts and the README).
 */
import { assert } from "../assert.ts";
import { randn, relErr, tf } from "./grad_util.ts";
import { ceDiceLoss, unetForward, vnetForward, weightsOf } from "./tf_models.ts";
import { crossEntropy, diceLoss, oneHot } from "../../engine/losses.ts";
import type { SegmentationModel } from "../../engine/models/context.ts";
import { UNet } from "../../engine/models/unet.ts";
import { VNet } from "../../engine/models/vnet.ts";
import * as op from "../../engine/ops.ts";
import { sgd } from "../../engine/optim.ts";
import { TrainStep } from "../../engine/train.ts";
import { Rng } from "../../random/rng.ts";

async function engineGradients(
  model: SegmentationModel,
  shape: number[],
  classes: number,
  seed: number,
) {
  const step = await TrainStep.build({
    models: { net: model },
    inputs: { image: shape, label: { shape: [shape[0], ...shape.slice(2)], dtype: "int32" } },
    optimizer: sgd(),
    outputGradients: true,
    seed,
    session: { threads: 1 },
    loss: (b) => {
      const logits = b.forward("net", b.input("image")).logits;
      const t = oneHot(b.input("label"), classes);
      return { loss: op.add(crossEntropy(logits, t), diceLoss(op.softmax(logits, 1), t)) };
    },
  });
  const rng = new Rng(seed);
  const image = randn(rng, shape.reduce((a, b) => a * b, 1));
  const label = new Int32Array(image.length / shape[1]).map(() => rng.int(0, classes));
  // Snapshot weights before the step updates them (lr 0 keeps them anyway).
  const weights = weightsOf(model.store);
  const r = await step.run({ image, label, lr: 0 });
  const masks = [...step.dropoutMasks().values()].map((m) => m.slice());
  await step.release();
  return { grad: r.gradients!.get("net")!, loss: r.loss, image, label, weights, masks };
}

function tfGradients(
  e: Awaited<ReturnType<typeof engineGradients>>,
  shape: number[],
  classes: number,
  maskShapes: number[][],
  fwd: (w: Map<string, tf.Tensor>, x: tf.Tensor, masks: tf.Tensor[]) => tf.Tensor,
) {
  const x = tf.tensor(e.image, shape);
  const labels = tf.tensor(e.label, [shape[0], ...shape.slice(2)], "int32");
  const onehot = tf.transpose(tf.oneHot(labels, classes), [
    0,
    shape.length - 1,
    ...shape.slice(2).map((_, i) => i + 1),
  ]);
  const masks = e.masks.map((m, i) => tf.tensor(m, maskShapes[i]));
  const { names, tensors } = e.weights;
  const lossFn = (...ws: tf.Tensor[]) => {
    const w = new Map(names.map((n, i) => [n, ws[i]]));
    return ceDiceLoss(fwd(w, x, masks), onehot);
  };
  const { value, grads } = tf.valueAndGrads(lossFn)(tensors);
  const flat = new Float32Array(e.grad.length);
  let off = 0;
  for (const g of grads) {
    flat.set(g.dataSync(), off);
    off += g.size;
  }
  return { loss: value.dataSync()[0], grad: flat };
}

for (const up of ["transpose", "bilinear"] as const) {
  Deno.test(`whole U-Net (${up} up) gradients match tfjs`, async () => {
    const shape = [2, 1, 16, 16];
    const model = new UNet(
      { numClasses: 3, channels: [4, 8, 16], dropout: [0.05, 0.1, 0.2], up },
      new Rng(3),
    );
    const e = await engineGradients(model, shape, 3, 5);
    const maskShapes = [[2, 4, 16, 16], [2, 8, 8, 8], [2, 16, 4, 4]];
    assert(e.masks.length === 3, `expected 3 dropout masks, got ${e.masks.length}`);
    assert(e.masks[2].some((v) => v === 0), "dropout mask should drop something");
    const t = tfGradients(
      e,
      shape,
      3,
      maskShapes,
      (w, x, m) => unetForward(w, x, m, { levels: 3, bilinear: up === "bilinear" }),
    );
    assert(Math.abs(e.loss - t.loss) < 1e-5 * Math.abs(t.loss), `loss ${e.loss} vs tfjs ${t.loss}`);
    const err = relErr(e.grad, t.grad);
    assert(err < 1e-4, `U-Net gradient rel err ${err.toExponential(2)}`);
  });
}

Deno.test("whole V-Net gradients match tfjs (reduced size)", async () => {
  // 32x32x16 keeps 2x2x1 voxels at the deepest level (BatchNorm over 2 samples is ill-conditioned).
  const shape = [2, 1, 32, 32, 16];
  const model = new VNet({ nFilters: 2, numClasses: 2 }, new Rng(4));
  const e = await engineGradients(model, shape, 2, 6);
  assert(e.masks.length === 2, "V-Net has two Dropout3d masks");
  const maskShapes = [[2, 32, 1, 1, 1], [2, 2, 1, 1, 1]];
  const t = tfGradients(e, shape, 2, maskShapes, vnetForward);
  assert(Math.abs(e.loss - t.loss) < 1e-5 * Math.abs(t.loss), `loss ${e.loss} vs tfjs ${t.loss}`);
  const err = relErr(e.grad, t.grad);
  assert(err < 1e-4, `V-Net gradient rel err ${err.toExponential(2)}`);
});
