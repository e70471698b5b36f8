/**
 * Gradient-check harness. A case is a function written twice: once with the engine's ops and
 * once with tfjs. The loss is Σ f(x)·r for a fixed random r, so every output element matters.
 *
 * Two oracles:
 * - tfjs (cpu backend, float32): engine gradients must match with relative error < 1e-4,
 *   where relative error = max|a-b| / max|b| over the whole gradient tensor.
 * - central finite differences of the engine's own forward pass along a random direction d:
 *   (f(x+εd) - f(x-εd)) / 2ε vs ∇f·d. Graphs run in float64 when onnxruntime has float64
 *   kernels for all their ops (ε = 1e-6, tolerance 1e-6); otherwise in float32 (ε = 1e-2,
 *   tolerance 2e-3: float32 rounding of f, ~1e-7·|f|/ε, dominates there).
 */
import * as tf from "@tensorflow/tfjs";
import { gradients } from "../../engine/autodiff.ts";
import { type DType, Graph, type Tensor } from "../../engine/graph.ts";
import * as op from "../../engine/ops.ts";
import { ort, Session } from "../../engine/session.ts";
import { Rng } from "../../random/rng.ts";

await tf.setBackend("cpu");

export interface GradCase {
  name: string;
  /** Input shapes; all inputs are differentiated. */
  shapes: Record<string, number[]>;
  /** Optional fixed input values (e.g. positive values for Log). */
  values?: Record<string, (rng: Rng, n: number) => Float32Array>;
  build: (x: Record<string, Tensor>) => Tensor;
  tf: (x: Record<string, tf.Tensor>) => tf.Tensor;
  /** Run the finite-difference check in float64 (ORT has double kernels for every op). */
  float64?: boolean;
  skipFiniteDifferences?: boolean;
}

export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/**
 * Central differences of `loss` along a random direction of `params` (shifted in place, then
 * restored) against the analytic directional derivative ∇·d, relative to Σ|∇ᵢdᵢ|.
 */
export async function directionalError(
  params: Float32Array,
  grad: ArrayLike<number>,
  loss: () => Promise<number>,
  eps = 3e-3,
): Promise<number> {
  const p0 = params.slice();
  const dir = randn(new Rng(4), params.length);
  const at = (sign: number) => {
    params.set(p0.map((v, i) => v + sign * eps * dir[i]));
    return loss();
  };
  const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
  params.set(p0);
  let analytic = 0, scale = 0;
  for (let i = 0; i < params.length; i++) {
    analytic += grad[i] * dir[i];
    scale += Math.abs(grad[i] * dir[i]);
  }
  return Math.abs(numeric - analytic) / scale;
}

function inputValues(c: GradCase, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const out: Record<string, Float32Array> = {};
  for (const [k, s] of Object.entries(c.shapes)) {
    out[k] = c.values?.[k]?.(rng, size(s)) ?? randn(rng, size(s));
  }
  return out;
}

/** Builds loss = Σ f(x)·r with gradients as outputs, in the given dtype. */
function buildLossGraph(c: GradCase, r: Float32Array, rShape: number[], dtype: DType) {
  const g = new Graph("gradcheck");
  const xs: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(c.shapes)) xs[k] = g.input(k, s, dtype);
  const y = c.build(xs);
  const rc = dtype === "float64"
    ? g.constant(Float64Array.from(r), rShape, dtype)
    : g.constant(r, rShape, dtype);
  const loss = op.sum(op.mul(y, rc));
  g.output("loss", loss);
  const names = Object.keys(xs);
  const grads = gradients(loss, names.map((k) => xs[k]));
  names.forEach((k, i) => g.output(`grad_${k}`, grads[i]));
  return { g, names, yShape: y.staticShape };
}

function toTensor(data: Float32Array, shape: number[], dtype: DType): ort.Tensor {
  return dtype === "float64"
    ? new ort.Tensor("float64", Float64Array.from(data), shape)
    : new ort.Tensor("float32", data, shape);
}

export interface GradCheckResult {
  tfErr: Record<string, number>;
  fdErr: number;
  fdDtype: DType;
}

/** Runs both oracles for one case and returns the errors (the caller asserts). */
export async function checkCase(c: GradCase, seed = 1): Promise<GradCheckResult> {
  const x = inputValues(c, seed);
  // Output shape from a probe build; r drawn from a separate stream.
  const probe = new Graph("probe");
  const px: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(c.shapes)) px[k] = probe.input(k, s);
  const yShape = c.build(px).staticShape;
  const r = randn(new Rng(seed + 1000), size(yShape));

  // Engine gradients (float32) vs tfjs.
  const { g, names } = buildLossGraph(c, r, yShape, "float32");
  const sess = await Session.create(g.toOnnx(), { threads: 1 });
  const feeds = Object.fromEntries(names.map((k) => [k, toTensor(x[k], c.shapes[k], "float32")]));
  const out = await sess.run(feeds);
  const tfX = Object.fromEntries(names.map((k) => [k, tf.tensor(x[k], c.shapes[k])]));
  const tfR = tf.tensor(r, yShape);
  const tfLoss = (...vals: tf.Tensor[]) => {
    const m = Object.fromEntries(names.map((k, i) => [k, vals[i]]));
    return tf.sum(tf.mul(c.tf(m), tfR)) as tf.Scalar;
  };
  const tfGrads = tf.grads(tfLoss)(names.map((k) => tfX[k]));
  const tfErr: Record<string, number> = {};
  names.forEach((k, i) => {
    tfErr[k] = relErr(out[`grad_${k}`].data as Float32Array, tfGrads[i].dataSync());
  });
  tf.dispose([...Object.values(tfX), tfR, ...tfGrads]);

  // Finite differences along a random direction.
  const dtype: DType = c.float64 ? "float64" : "float32";
  const eps = c.float64 ? 1e-6 : 1e-2;
  const fd = buildLossGraph(c, r, yShape, dtype);
  const fsess = fd.g === g ? sess : await Session.create(fd.g.toOnnx(), { threads: 1 });
  const drng = new Rng(seed + 2000);
  const dir = Object.fromEntries(names.map((k) => [k, randn(drng, size(c.shapes[k]))]));
  const shifted = async (sign: number) => {
    const f = Object.fromEntries(names.map((k) => {
      const v = new Float64Array(x[k].length);
      for (let i = 0; i < v.length; i++) v[i] = x[k][i] + sign * eps * dir[k][i];
      return [
        k,
        dtype === "float64"
          ? new ort.Tensor("float64", v, c.shapes[k])
          : new ort.Tensor("float32", Float32Array.from(v), c.shapes[k]),
      ];
    }));
    const o = await fsess.run(f, ["loss"]);
    return Number(o.loss.data[0]);
  };
  const numeric = ((await shifted(1)) - (await shifted(-1))) / (2 * eps);
  const base = await fsess.run(
    Object.fromEntries(names.map((k) => [k, toTensor(x[k], c.shapes[k], dtype)])),
  );
  let analytic = 0, scale = 0;
  for (const k of names) {
    const gk = base[`grad_${k}`].data as Float32Array | Float64Array;
    for (let i = 0; i < gk.length; i++) {
      analytic += gk[i] * dir[k][i];
      scale += Math.abs(gk[i] * dir[k][i]);
    }
  }
  const fdErr = Math.abs(numeric - analytic) / Math.max(scale, 1e-12);
  await sess.release();
  if (fsess !== sess) await fsess.release();
  return { tfErr, fdErr, fdDtype: dtype };
}

export { tf };
