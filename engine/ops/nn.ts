/** Neural-network ops: convolutions, pooling, normalisation, activations, resize, dropout. */
import { type Dim, fmtShape, normAxis, ShapeError, type Tensor } from "../graph.ts";
import { float, int, ints, str } from "./attrs.ts";
import * as m from "./math.ts";
import { concat, reshape, transpose } from "./shape.ts";

export interface ConvOptions {
  strides?: readonly number[];
  /** ONNX layout: all begins, then all ends. A single number pads every side. */
  pads?: readonly number[] | number;
  dilations?: readonly number[];
  group?: number;
}

function spatial(x: Tensor, op: string): number {
  const s = x.rank - 2;
  if (s < 1 || s > 3) throw new ShapeError(`${op}: expected rank 3-5 (N,C,spatial...), got ${x}`);
  return s;
}

function expandPads(p: readonly number[] | number | undefined, s: number): number[] {
  if (p === undefined) return new Array(2 * s).fill(0);
  if (typeof p === "number") return new Array(2 * s).fill(p);
  if (p.length !== 2 * s) throw new ShapeError(`pads ${fmtShape(p)} for ${s} spatial dims`);
  return [...p];
}

function staticDim(d: Dim, op: string, x: Tensor): number {
  if (typeof d !== "number") throw new ShapeError(`${op}: dynamic spatial dim in ${x}`);
  return d;
}

/** Conv with weight [O, C/group, k...]; 1-D, 2-D and 3-D. */
export function conv(x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvOptions = {}): Tensor {
  const s = spatial(x, "Conv");
  const group = o.group ?? 1;
  if (w.rank !== s + 2) throw new ShapeError(`Conv: weight ${w} does not match input ${x}`);
  if (x.shape[1] !== (w.shape[1] as number) * group) {
    throw new ShapeError(
      `Conv: input ${x} has ${x.shape[1]} channels, weight ${w} wants ${w.shape[1]}x${group}`,
    );
  }
  const [oc] = w.staticShape;
  if (b && (b.rank !== 1 || b.shape[0] !== oc)) {
    throw new ShapeError(`Conv: bias ${b} for weight ${w}`);
  }
  const k = w.staticShape.slice(2);
  const strides = [...(o.strides ?? k.map(() => 1))];
  const dil = [...(o.dilations ?? k.map(() => 1))];
  const pads = expandPads(o.pads, s);
  const out: Dim[] = [x.shape[0], oc];
  for (let i = 0; i < s; i++) {
    const n = staticDim(x.shape[2 + i], "Conv", x);
    const len = Math.floor((n + pads[i] + pads[i + s] - dil[i] * (k[i] - 1) - 1) / strides[i]) + 1;
    if (len <= 0) throw new ShapeError(`Conv: input ${x} too small for weight ${w}`);
    out.push(len);
  }
  const attrs = {
    kernel_shape: ints(k),
    strides: ints(strides),
    pads: ints(pads),
    dilations: ints(dil),
    group: int(group),
  };
  return x.graph.addNode("Conv", [x, w, b], [{ shape: out, dtype: x.dtype }], attrs)[0];
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: readonly number[];
}

/** ConvTranspose with weight [C, O/group, k...] (PyTorch's ConvTranspose layout). */
export function convTranspose(
  x: Tensor,
  w: Tensor,
  b: Tensor | null = null,
  o: ConvTransposeOptions = {},
): Tensor {
  const s = spatial(x, "ConvTranspose");
  const group = o.group ?? 1;
  if (w.rank !== s + 2 || x.shape[1] !== w.shape[0]) {
    throw new ShapeError(`ConvTranspose: input ${x} does not match weight ${w}`);
  }
  const oc = (w.shape[1] as number) * group;
  if (b && (b.rank !== 1 || b.shape[0] !== oc)) {
    throw new ShapeError(`ConvTranspose: bias ${b} for weight ${w}`);
  }
  const k = w.staticShape.slice(2);
  const strides = [...(o.strides ?? k.map(() => 1))];
  const dil = [...(o.dilations ?? k.map(() => 1))];
  const pads = expandPads(o.pads, s);
  const op = [...(o.outputPadding ?? k.map(() => 0))];
  const out: Dim[] = [x.shape[0], oc];
  for (let i = 0; i < s; i++) {
    const n = staticDim(x.shape[2 + i], "ConvTranspose", x);
    out.push((n - 1) * strides[i] + op[i] + (k[i] - 1) * dil[i] + 1 - pads[i] - pads[i + s]);
  }
  const tiles = k.every((kk, i) => kk === strides[i]) && pads.every((p) => p === 0) &&
    dil.every((d) => d === 1) && op.every((p) => p === 0) && group === 1;
  if (s === 3 && tiles) return convTransposeTiles3d(x, w, b);
  const attrs = {
    kernel_shape: ints(k),
    strides: ints(strides),
    pads: ints(pads),
    dilations: ints(dil),
    group: int(group),
    output_padding: ints(op),
  };
  return x.graph.addNode("ConvTranspose", [x, w, b], [{ shape: out, dtype: x.dtype }], attrs)[0];
}

/**
 * A 3-D ConvTranspose whose kernel equals its stride (each input voxel paints its own block, the
 * V-Net's up-sampling) as one 2-D ConvTranspose over depth slices, the depth offsets stacked as
 * output channels. For the V-Net's largest up-sampling onnxruntime's 3-D ConvTranspose took 29 ms,
 * this form with its two transposes 13 ms.
 */
function convTransposeTiles3d(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const [ci, d, h, wd] = x.shape.slice(1) as number[]; // the batch may be dynamic
  const [, co, kd, kh, kw] = w.staticShape;
  const x2 = reshape(transpose(x, [0, 2, 1, 3, 4]), [-1, ci, h, wd]);
  const w2 = reshape(transpose(w, [0, 2, 1, 3, 4]), [ci, kd * co, kh, kw]); // channel = (a, o)
  const b2 = b && kd > 1 ? concat(new Array(kd).fill(b), 0) : b;
  const y2 = convTranspose(x2, w2, b2, { strides: [kh, kw] }); // [N·D, kd·Co, H·kh, W·kw]
  const y = reshape(y2, [-1, d, kd, co, h * kh * wd * kw]);
  return reshape(transpose(y, [0, 3, 1, 2, 4]), [0, co, d * kd, h * kh, wd * kw]);
}

export interface PoolOptions {
  kernel: readonly number[];
  strides?: readonly number[];
  pads?: readonly number[] | number;
  /** AveragePool only: count padded zeros in the divisor. */
  countIncludePad?: boolean;
}

function poolShape(
  op: string,
  x: Tensor,
  o: PoolOptions,
): { out: Dim[]; attrs: Record<string, ReturnType<typeof ints>> } {
  const s = spatial(x, op);
  if (o.kernel.length !== s) throw new ShapeError(`${op}: kernel ${fmtShape(o.kernel)} for ${x}`);
  const strides = [...(o.strides ?? o.kernel)];
  const pads = expandPads(o.pads, s);
  const out: Dim[] = [x.shape[0], x.shape[1]];
  for (let i = 0; i < s; i++) {
    const n = staticDim(x.shape[2 + i], op, x);
    out.push(Math.floor((n + pads[i] + pads[i + s] - o.kernel[i]) / strides[i]) + 1);
  }
  return { out, attrs: { kernel_shape: ints(o.kernel), strides: ints(strides), pads: ints(pads) } };
}

/** MaxPool; the node also has an Indices output that only the gradient uses (pruned otherwise). */
export function maxPool(x: Tensor, o: PoolOptions): Tensor {
  const { out, attrs } = poolShape("MaxPool", x, o);
  return x.graph.addNode("MaxPool", [x], [{ shape: out, dtype: x.dtype }, {
    shape: out,
    dtype: "int64",
  }], attrs)[0];
}

export function averagePool(x: Tensor, o: PoolOptions): Tensor {
  const { out, attrs } = poolShape("AveragePool", x, o);
  return x.graph.addNode("AveragePool", [x], [{ shape: out, dtype: x.dtype }], {
    ...attrs,
    count_include_pad: int(o.countIncludePad ? 1 : 0),
  })[0];
}

export const relu = (x: Tensor) =>
  x.graph.addNode("Relu", [x], [{ shape: x.shape, dtype: x.dtype }])[0];
export const sigmoid = (x: Tensor) =>
  x.graph.addNode("Sigmoid", [x], [{ shape: x.shape, dtype: x.dtype }])[0];
export const tanh = (x: Tensor) =>
  x.graph.addNode("Tanh", [x], [{ shape: x.shape, dtype: x.dtype }])[0];

export function leakyRelu(x: Tensor, alpha = 0.01): Tensor {
  return x.graph.addNode("LeakyRelu", [x], [{ shape: x.shape, dtype: x.dtype }], {
    alpha: float(alpha),
  })[0];
}

export function softmax(x: Tensor, axis = 1): Tensor {
  const a = normAxis(axis, x.rank, "Softmax");
  if (a !== x.rank - 1) return softmaxAlong(x, a, false);
  return x.graph.addNode("Softmax", [x], [{ shape: x.shape, dtype: x.dtype }], { axis: int(a) })[0];
}

export function logSoftmax(x: Tensor, axis = 1): Tensor {
  const a = normAxis(axis, x.rank, "LogSoftmax");
  if (a !== x.rank - 1) return softmaxAlong(x, a, true);
  return x.graph.addNode("LogSoftmax", [x], [{ shape: x.shape, dtype: x.dtype }], {
    axis: int(a),
  })[0];
}

/**
 * (Log-)softmax over an inner axis (the class axis of NCHW logits) from reductions. onnxruntime
 * transposes the tensor twice for Softmax over a non-last axis; this is 4-5x faster. The
 * gradient is the closed form, not the derivative of the pieces.
 */
function softmaxAlong(x: Tensor, a: number, log: boolean): Tensor {
  return x.graph.customGrad([x], () => {
    const z = m.sub(x, m.max(x, [a], true));
    const e = m.exp(z);
    const s = m.sum(e, [a], true);
    const y = log ? m.sub(z, m.log(s)) : m.div(e, s);
    const grad = ([dy]: readonly (Tensor | null)[]) => {
      if (!dy) return [null];
      if (log) return [m.sub(dy, m.mul(m.exp(y), m.sum(dy, [a], true)))];
      return [m.mul(y, m.sub(dy, m.sum(m.mul(dy, y), [a], true)))];
    };
    return { outputs: [y], grad };
  })[0];
}

/** Per-channel view [1, C, 1, ...] of a [C] vector, for broadcasting against NC... tensors. */
export function channelView(v: Tensor, rank: number): Tensor {
  return reshape(v, [1, -1, ...new Array(rank - 2).fill(1)]);
}

/** Inference-mode batch norm with running statistics (the exported model's BN). */
export function batchNormEval(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  mean: Tensor,
  variance: Tensor,
  eps = 1e-5,
): Tensor {
  for (const p of [gamma, beta, mean, variance]) {
    if (p.rank !== 1 || p.shape[0] !== x.shape[1]) {
      throw new ShapeError(`BatchNormalization: ${p} does not match channels of ${x}`);
    }
  }
  return x.graph.addNode("BatchNormalization", [x, gamma, beta, mean, variance], [{
    shape: x.shape,
    dtype: x.dtype,
  }], { epsilon: float(eps) })[0];
}

export interface BatchNormTrainResult {
  y: Tensor;
  /** Updated running statistics (PyTorch semantics: unbiased variance, momentum 0.1). */
  runningMean: Tensor;
  runningVar: Tensor;
}

/**
 * Training-mode batch norm from batch statistics. onnxruntime's inference build has no
 * training-mode BatchNormalization, so the statistics are reductions and the normalisation is
 * an inference BatchNormalization node fed with them (one fused pass). The gradient is the
 * closed form (custom rule), which costs far fewer passes than differentiating the pieces.
 */
export function batchNormTrain(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  o: { eps?: number; momentum?: number } = {},
): BatchNormTrainResult {
  const eps = o.eps ?? 1e-5, momentum = o.momentum ?? 0.1;
  const g = x.graph;
  const axes = [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2)];
  const n = axes.reduce((p, a) => p * (x.shape[a] as number), 1);
  let mu!: Tensor, variance!: Tensor;
  const [y] = g.customGrad([x, gamma, beta], () => {
    mu = m.mean(x, axes);
    const xc = m.sub(x, channelView(mu, x.rank));
    variance = m.div(m.sumSquare(xc, axes), n);
    // Normalise the centred values: onnxruntime folds BatchNormalization into x·s + (β - μ·s),
    // which cancels badly when |μ| >> σ; with μ = 0 it is exact up to one rounding.
    const zeros = g.constant(
      new Float32Array(x.shape[1] as number),
      [x.shape[1] as number],
      "float32",
    );
    const y = batchNormEval(xc, gamma, beta, zeros, variance, eps);
    const grad = ([dy]: readonly (Tensor | null)[]) => {
      if (!dy) return [null, null, null];
      const inv = m.reciprocal(m.sqrt(m.add(variance, eps))); // [C]
      const dBeta = m.sum(dy, axes);
      const dyXc = m.sum(m.mul(dy, xc), axes); // Σ dy·(x-μ)
      const dGamma = m.mul(dyXc, inv);
      const a = m.mul(gamma, inv);
      // dx = a·dy + b·(x-μ) + c with per-channel a, b, c.
      const b = m.neg(m.div(m.mul(m.mul(a, m.mul(inv, inv)), dyXc), n));
      const c = m.neg(m.div(m.mul(a, dBeta), n));
      const zero = g.constant(
        new Float32Array(x.shape[1] as number),
        [x.shape[1] as number],
        "float32",
      );
      const one = g.constant(
        new Float32Array(x.shape[1] as number).fill(1),
        [x.shape[1] as number],
        "float32",
      );
      const affine = g.addNode("BatchNormalization", [dy, a, c, zero, one], [{
        shape: x.shape,
        dtype: x.dtype,
      }], { epsilon: float(0) })[0];
      const dx = m.add(affine, m.mul(xc, channelView(b, x.rank)));
      return [dx, dGamma, dBeta];
    };
    return { outputs: [y], grad };
  });
  const newMean = m.add(m.mul(runningMean, 1 - momentum), m.mul(mu, momentum));
  const unbiased = m.mul(variance, n / Math.max(n - 1, 1));
  const newVar = m.add(m.mul(runningVar, 1 - momentum), m.mul(unbiased, momentum));
  return { y, runningMean: newMean, runningVar: newVar };
}

export type ResizeMode = "nearest" | "linear";
export type CoordinateTransform =
  | "asymmetric"
  | "half_pixel"
  | "align_corners"
  | "pytorch_half_pixel";

export interface ResizeOptions {
  /** Scale per spatial axis (N and C are never resized). */
  scales: readonly number[];
  mode?: ResizeMode;
  coordinateTransform?: CoordinateTransform;
}

/** Resize spatial axes by scale factors (PyTorch nn.Upsample equivalents). */
export function resize(x: Tensor, o: ResizeOptions): Tensor {
  const s = spatial(x, "Resize");
  if (o.scales.length !== s) throw new ShapeError(`Resize: ${o.scales.length} scales for ${x}`);
  const mode = o.mode ?? "nearest";
  const ct = o.coordinateTransform ?? (mode === "nearest" ? "asymmetric" : "half_pixel");
  const out: Dim[] = [x.shape[0], x.shape[1]];
  o.scales.forEach((sc, i) => out.push(Math.floor(staticDim(x.shape[2 + i], "Resize", x) * sc)));
  const g = x.graph;
  const scales = g.constant(new Float32Array([1, 1, ...o.scales]), [s + 2], "float32");
  const attrs = {
    mode: str(mode),
    coordinate_transformation_mode: str(ct),
    nearest_mode: str("floor"),
  };
  return g.addNode("Resize", [x, null, scales], [{ shape: out, dtype: x.dtype }], attrs)[0];
}

/** Dropout with an explicit mask input (values 0 or 1/(1-p), seeded outside the graph). */
export function dropout(x: Tensor, mask: Tensor): Tensor {
  return m.mul(x, mask);
}

/**
 * Layer normalisation over the last axis (PyTorch nn.LayerNorm(d)): one ONNX
 * LayerNormalization node forward, the closed-form gradient backward (its statistics are
 * recomputed there: the node's optional Mean/InvStdDev outputs are float32 even for float64).
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const d = x.shape[x.rank - 1];
  for (const p of [gamma, beta]) {
    if (p.rank !== 1 || p.shape[0] !== d) {
      throw new ShapeError(`LayerNormalization: ${p} does not match the last axis of ${x}`);
    }
  }
  const n = d as number, last = x.rank - 1;
  const rows = Array.from({ length: last }, (_, i) => i);
  return x.graph.customGrad([x, gamma, beta], () => {
    const [y] = x.graph.addNode("LayerNormalization", [x, gamma, beta], [{
      shape: x.shape,
      dtype: x.dtype,
    }], { axis: int(-1), epsilon: float(eps) });
    const grad = ([dy]: readonly (Tensor | null)[]) => {
      if (!dy) return [null, null, null];
      const xc = m.sub(x, m.mean(x, [last], true));
      const r = m.reciprocal(m.sqrt(m.add(m.div(m.sumSquare(xc, [last], true), n), eps)));
      const xhat = m.mul(xc, r);
      const g = m.mul(dy, gamma); // d/dxhat
      const dx = m.mul(
        r,
        m.sub(
          m.sub(g, m.mean(g, [last], true)),
          m.mul(xhat, m.mean(m.mul(g, xhat), [last], true)),
        ),
      );
      return [dx, m.sum(m.mul(dy, xhat), rows), m.sum(dy, rows)];
    };
    return { outputs: [y], grad };
  })[0];
}
