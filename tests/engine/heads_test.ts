/**
 * The MLP heads (engine/models/heads.ts) through a training step: parameter gradients on rows
 * and on every pixel of a feature map against tfjs and against central finite differences of
 * the step's own loss (float32, ε = 3e-3, bound 2e-3; ε = 1e-2 crosses ReLU kinks here); eval
 * mode uses the running statistics that train mode updates.
 */
import { assert } from "../assert.ts";
import { directionalError, randn, relErr, size, tf } from "./grad_util.ts";
import { weightsOf } from "./tf_models.ts";
import { Heads } from "../../engine/models/heads.ts";
import * as op from "../../engine/ops.ts";
import { sgd } from "../../engine/optim.ts";
import { TrainStep } from "../../engine/train.ts";
import { Rng } from "../../random/rng.ts";

const SPEC = { in: 3, hidden: 5, out: 4 };

/** tfjs replica on rows [N, C]: Linear - BatchNorm1d (batch statistics) - ReLU - Linear. */
function tfHead(w: tf.Tensor[], rows: tf.Tensor): tf.Tensor {
  const [w0, b0, gamma, beta, w3, b3] = w;
  const h = tf.add(tf.matMul(rows, w0, false, true), b0);
  const { mean, variance } = tf.moments(h, 0);
  const bn = tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta);
  return tf.add(tf.matMul(tf.relu(bn), w3, false, true), b3);
}

for (const layout of ["rows", "pixels"] as const) {
  Deno.test(`MLP head on ${layout}: gradients match tfjs and finite differences`, async () => {
    const heads = new Heads({ proj: SPEC }, new Rng(2));
    const xShape = layout === "rows" ? [7, 3] : [2, 3, 3, 2];
    const yShape = layout === "rows" ? [7, 4] : [2, 4, 3, 2];
    const rng = new Rng(3);
    const x = randn(rng, size(xShape)), r = randn(rng, size(yShape));
    const step = await TrainStep.build({
      models: { h: heads },
      inputs: { x: xShape, r: yShape },
      optimizer: sgd(),
      outputGradients: true,
      session: { threads: 1 },
      loss: (g) => ({
        loss: op.sum(
          op.mul(heads.apply(g.context("h"), "proj", g.input("x"), "train"), g.input("r")),
        ),
      }),
    });
    const { names, tensors } = weightsOf(heads.store);
    assert(names[0] === "proj.0.weight" && names[2] === "proj.1.weight", names.join());
    const res = await step.run({ x, r, lr: 0 });
    const grad = res.gradients!.get("h")!;

    const toRows = (t: tf.Tensor) =>
      layout === "rows" ? t : tf.reshape(tf.transpose(t, [0, 2, 3, 1]), [-1, t.shape[1]!]);
    const fromRows = (t: tf.Tensor) =>
      layout === "rows" ? t : tf.transpose(tf.reshape(t, [2, 3, 2, 4]), [0, 3, 1, 2]);
    const tx = tf.tensor(x, xShape), tr = tf.tensor(r, yShape);
    const { value, grads } = tf.valueAndGrads((...w: tf.Tensor[]) =>
      tf.sum(tf.mul(fromRows(tfHead(w, toRows(tx))), tr)) as tf.Scalar
    )(tensors);
    const want = new Float32Array(grad.length);
    let off = 0;
    for (const g of grads) want.set(g.dataSync(), (off += g.size) - g.size);
    assert(Math.abs(res.loss - value.dataSync()[0]) < 1e-4, `loss ${res.loss} vs tfjs`);
    const err = relErr(grad, want);
    assert(err < 1e-4, `head gradient vs tfjs: rel err ${err.toExponential(2)}`);

    // Central differences of the step's loss along a random parameter direction (lr 0 keeps the
    // weights; train-mode BatchNorm does not read the running statistics it updates).
    const fd = await directionalError(
      heads.store.params.data,
      grad,
      async () => (await step.run({ x, r, lr: 0 })).loss,
    );
    assert(fd < 2e-3, `finite differences rel err ${fd.toExponential(2)}`);
    await step.release();
  });
}

Deno.test("MLP head in eval mode normalises with the running statistics train mode updated", async () => {
  const heads = new Heads({ proj: SPEC }, new Rng(2));
  const x = randn(new Rng(5), 7 * 3);
  const step = await TrainStep.build({
    models: { h: heads },
    inputs: { x: [7, 3] },
    optimizer: sgd(),
    session: { threads: 1 },
    loss: (g) => {
      const ctx = g.context("h");
      const train = heads.apply(ctx, "proj", g.input("x"), "train");
      const evalOut = heads.apply(ctx, "proj", g.input("x"), "eval");
      return { loss: op.sum(train), outputs: { eval: evalOut } };
    },
  });
  const before = heads.store.buffers.data.slice();
  const out = (await step.run({ x, lr: 0 })).outputs.eval as Float32Array;
  const after = heads.store.buffers.data;
  assert(after.some((v, i) => v !== before[i]), "train mode moved the running statistics");
  // Eval after the update: BatchNorm with running mean/var (momentum 0.1 from 0/1).
  const { tensors } = weightsOf(heads.store);
  const [w0, b0, gamma, beta, w3, b3] = tensors;
  const h = tf.add(tf.matMul(tf.tensor(x, [7, 3]), w0, false, true), b0);
  const { mean, variance } = tf.moments(h, 0);
  const rm = tf.mul(mean, 0.1), rv = tf.add(0.9, tf.mul(tf.mul(variance, 7 / 6), 0.1));
  const bn = tf.add(tf.mul(tf.div(tf.sub(h, rm), tf.sqrt(tf.add(rv, 1e-5))), gamma), beta);
  const want = tf.add(tf.matMul(tf.relu(bn), w3, false, true), b3).dataSync();
  assert(relErr(out, want) < 1e-5, `eval output rel err ${relErr(out, want)}`);
  await step.release();
});
