/**
 * cmems's loss on confident pseudo-labels (train.pseudoLoss): CE over the confident pixels (mean
 * over all pixels, SSL4MIS), the squared Dice of the confident pixels per class (mean over
 * classes), and their mean, against float64 computations from their definitions; and the
 * supervised loss, whose unknown labels (255) weigh like unconfident pixels there.
 */
import { assert } from "../assert.ts";
import { Graph } from "../../engine/graph.ts";
import * as op from "../../engine/ops.ts";
import { ort, Session } from "../../engine/session.ts";
import { Rng } from "../../random/rng.ts";
import { labelTargets, pseudoLoss, supervised } from "../../training/methods.ts";

const [N, K, P] = [2, 3, 20]; // 2 images, 3 classes, 20 pixels (4 x 5)

function reference(z: Float64Array, y: Int32Array, m: Float64Array) {
  let ce = 0;
  const inter = new Float64Array(K), pp = new Float64Array(K), tt = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < P; i++) {
      const logits = Array.from({ length: K }, (_, k) => z[(n * K + k) * P + i]);
      const max = Math.max(...logits);
      const sum = logits.reduce((a, v) => a + Math.exp(v - max), 0);
      const w = m[n * P + i], label = y[n * P + i];
      ce += -w * (logits[label] - max - Math.log(sum));
      for (let k = 0; k < K; k++) {
        const p = w * Math.exp(logits[k] - max) / sum, t = w * (k === label ? 1 : 0);
        inter[k] += p * t;
        pp[k] += p * p;
        tt[k] += t * t;
      }
    }
  }
  let dice = 0;
  for (let k = 0; k < K; k++) dice += (1 - (2 * inter[k] + 1e-5) / (pp[k] + tt[k] + 1e-5)) / K;
  return { ce: ce / (N * P), dice };
}

Deno.test("pseudoLoss: ce, dice and ce+dice of the confident pixels match their definitions", async () => {
  const rng = new Rng(5);
  const z = Float64Array.from({ length: N * K * P }, () => 2 * rng.normal());
  // Class 2 only in a few pixels: Dice weighs it like the others, CE by its pixel count.
  const y = Int32Array.from({ length: N * P }, (_, i) => (i % 9 === 0 ? 2 : i % 3 === 0 ? 1 : 0));
  const m = Float64Array.from({ length: N * P }, (_, i) => (i % 4 === 3 ? 0 : 1));
  const want = reference(z, y, m);
  for (const kind of ["ce", "dice", "ce+dice"] as const) {
    const g = new Graph("pseudo");
    const logits = g.input("z", [N, K, 4, 5]);
    const labels = g.input("y", [N, 4, 5], "int32");
    const mask = g.input("m", [N, 4, 5]);
    const target = op.cast(
      op.equal(
        op.unsqueeze(labels, [1]),
        g.constant(Int32Array.from([0, 1, 2]), [1, K, 1, 1], "int32"),
      ),
      "float32",
    );
    g.output("loss", pseudoLoss(logits, target, mask, kind));
    const session = await Session.create(g.toOnnx(), { threads: 1 });
    const out = await session.run({
      z: new ort.Tensor("float32", Float32Array.from(z), [N, K, 4, 5]),
      y: new ort.Tensor("int32", y, [N, 4, 5]),
      m: new ort.Tensor("float32", Float32Array.from(m), [N, 4, 5]),
    });
    await session.release();
    const got = (out.loss.data as Float32Array)[0];
    const expected = kind === "ce"
      ? want.ce
      : kind === "dice"
      ? want.dice
      : (want.ce + want.dice) / 2;
    assert(Math.abs(got - expected) < 1e-5, `${kind}: ${got} vs ${expected}`);
  }
});

Deno.test("supervised: unknown pixels (255) are left out of CE and Dice; known ones as defined", async () => {
  const rng = new Rng(7);
  const z = Float64Array.from({ length: N * K * P }, () => 2 * rng.normal());
  const y = Int32Array.from({ length: N * P }, (_, i) => (i % 9 === 0 ? 2 : i % 3 === 0 ? 1 : 0));
  const unknown = (i: number) => i % 5 === 4 || i >= P + 12; // a scattered few, a whole block
  const labels = Int32Array.from(y, (v, i) => (unknown(i) ? 255 : v));
  // The reference weighs the unknown pixels 0: CE summed over known pixels, divided by all.
  const want = reference(z, y, Float64Array.from(y, (_, i) => (unknown(i) ? 0 : 1)));
  const g = new Graph("supervised");
  const logits = g.input("z", [N, K, 4, 5]);
  g.output("loss", supervised(logits, labelTargets(g.input("y", [N, 4, 5], "int32"), K)));
  const session = await Session.create(g.toOnnx(), { threads: 1 });
  const out = await session.run({
    z: new ort.Tensor("float32", Float32Array.from(z), [N, K, 4, 5]),
    y: new ort.Tensor("int32", labels, [N, 4, 5]),
  });
  await session.release();
  const got = (out.loss.data as Float32Array)[0], expected = (want.ce + want.dice) / 2;
  assert(Math.abs(got - expected) < 1e-5, `${got} vs ${expected}`);
});
