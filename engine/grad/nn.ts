/** Gradient rules for convolutions, pooling, activations, normalisation and resize. */
import type { GradContext, GradRule } from "../autodiff.ts";
import type { Tensor } from "../graph.ts";
import { getFloat, getInt, getInts, getStr, int, ints } from "../ops/attrs.ts";
import * as m from "../ops/math.ts";
import { channelView, conv, convTranspose } from "../ops/nn.ts";
import { concat, pad, reshape, slice, transpose } from "../ops/shape.ts";
import { resizeMatrix } from "./resize_matrix.ts";

const X = (c: { x: readonly (Tensor | null)[] }, i: number) => c.x[i]!;

/** Swaps the first two axes (N,C,... <-> C,N,...). */
const swap01 = (t: Tensor) => transpose(t, [1, 0, ...t.shape.slice(2).map((_, i) => i + 2)]);

const spatialAxes = (t: Tensor) => [0, ...t.shape.slice(2).map((_, i) => i + 2)];

/** Crops trailing spatial positions so a weight gradient matches the kernel size. */
function cropTo(t: Tensor, k: readonly number[]): Tensor {
  const sp = t.staticShape.slice(2);
  if (sp.every((d, i) => d === k[i])) return t;
  const axes = k.map((_, i) => i + 2);
  return slice(t, k.map(() => 0), k, axes);
}

function convAttrs(c: GradContext) {
  const w = X(c, 1);
  const k = w.staticShape.slice(2);
  const s = k.length;
  const strides = getInts(c.node.attrs, "strides");
  const pads = getInts(c.node.attrs, "pads");
  const dil = getInts(c.node.attrs, "dilations");
  return {
    k,
    strides: strides.length ? strides : k.map(() => 1),
    pads: pads.length ? pads : new Array(2 * s).fill(0),
    dil: dil.length ? dil : k.map(() => 1),
    group: getInt(c.node.attrs, "group", 1),
  };
}

const convGrad: GradRule = (c) => {
  const [x, w, b] = [X(c, 0), X(c, 1), c.x[2]];
  const dy = c.dy[0]!;
  const { k, strides, pads, dil, group } = convAttrs(c);
  const s = k.length;
  let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
  if (c.needs[0]) {
    const unitStride = strides.every((st) => st === 1);
    const fits = k.every((kk, i) =>
      pads[i] <= (kk - 1) * dil[i] && pads[i + s] <= (kk - 1) * dil[i]
    );
    if (unitStride && group === 1 && fits) {
      // Stride 1: dX is a plain convolution of dY with the flipped, transposed kernel, which
      // onnxruntime runs about twice as fast as the equivalent ConvTranspose.
      const wt = transpose(flipSpatial(w), [1, 0, ...k.map((_, i) => i + 2)]);
      const p = [
        ...k.map((kk, i) => (kk - 1) * dil[i] - pads[i]),
        ...k.map((kk, i) => (kk - 1) * dil[i] - pads[i + s]),
      ];
      dx = conv(dy, wt, null, { pads: p, dilations: dil });
    } else {
      const outPad = k.map((kk, i) =>
        (x.shape[2 + i] as number) + pads[i] + pads[i + s] -
        (((dy.shape[2 + i] as number) - 1) * strides[i] + (kk - 1) * dil[i] + 1)
      );
      dx = convTranspose(dy, w, null, {
        strides,
        pads,
        dilations: dil,
        group,
        outputPadding: outPad,
      });
    }
  }
  if (c.needs[1]) {
    if (group !== 1 || dil.some((d) => d !== 1)) {
      throw new Error("Conv weight gradient: groups and dilation are not supported");
    }
    dw = convWeightGrad(x, dy, k, strides, pads);
  }
  if (b && c.needs[2]) db = m.sum(dy, spatialAxes(dy));
  return [dx, dw, db];
};

/** Reverses every spatial axis of a weight [O, C, k...]: one Gather over the flattened kernel. */
function flipSpatial(w: Tensor): Tensor {
  const g = w.graph;
  const [o, c, ...k] = w.staticShape;
  const kn = k.reduce((a, b) => a * b, 1);
  if (kn === 1) return w;
  const rev = g.constant(
    BigInt64Array.from({ length: kn }, (_, i) => BigInt(kn - 1 - i)),
    [kn],
    "int64",
  );
  const flat = reshape(w, [o, c, kn]);
  const flipped = g.addNode("Gather", [flat, rev], [{ shape: [o, c, kn], dtype: w.dtype }], {
    axis: int(2),
  })[0];
  return reshape(flipped, [o, c, ...k]);
}

/** All kernel offsets (a0, a1, ...) in row-major order. */
function kernelOffsets(k: readonly number[]): number[][] {
  let offsets: number[][] = [[]];
  for (const kk of k) {
    offsets = offsets.flatMap((o) => Array.from({ length: kk }, (_, a) => [...o, a]));
  }
  return offsets;
}

/**
 * dW[o,c,a] = Σ_{n,i} dY[n,o,i] · Xpad[n,c,i·s+a], one kernel offset a at a time: a strided
 * window times the other operand (transposed inside onnxruntime's MatMul) is a batched matrix
 * product. This is im2col split per offset, so memory stays at one window (3-D volumes would
 * need k³ copies at once). With stride 1 the shifted windows can be cut from the padded dY
 * instead of X; whichever has fewer channels is copied.
 */
function convWeightGrad(
  x: Tensor,
  dy: Tensor,
  k: readonly number[],
  strides: readonly number[],
  pads: readonly number[],
): Tensor {
  const s = k.length;
  const [n, ci] = x.staticShape;
  const co = dy.shape[1] as number;
  const inSp = x.staticShape.slice(2), outSp = dy.staticShape.slice(2);
  const prod = (a: number[]) => a.reduce((p, q) => p * q, 1);
  const sumN = (t: Tensor, rows: number, cols: number) =>
    reshape(n > 1 ? m.sum(t, [0]) : t, [rows, cols, 1]);
  const swapLast = (t: Tensor) => transpose(t, [0, 2, 1]);
  const offsets = kernelOffsets(k);
  const axes = k.map((_, i) => i + 2);
  if (k.every((kk) => kk === 1) && strides.every((st) => st === 1) && pads.every((p) => p === 0)) {
    // 1x1 convolution: no window to cut, one batched product dY·Xᵀ.
    const len = prod(inSp);
    const r = m.matmul(reshape(dy, [n, co, len]), swapLast(reshape(x, [n, ci, len])));
    return reshape(n > 1 ? m.sum(r, [0]) : r, [co, ci, ...k]);
  }
  let parts: Tensor[];
  let layout: "oc" | "co";
  if (strides.every((st) => st === 1) && co < ci && pads.every((p, i) => p <= k[i % s] - 1)) {
    // Shift dY instead: dW[o,c,a] = Σ_j X[c,j] · dYpad[o, j + k-1-a].
    const lIn = prod(inSp);
    const dyp = pad(dy, [
      0,
      0,
      ...k.map((kk, i) => kk - 1 - pads[i]),
      0,
      0,
      ...k.map((kk, i) => kk - 1 - pads[i + s]),
    ]);
    const x3 = reshape(x, [n, ci, lIn]);
    parts = offsets.map((off) => {
      const st = off.map((a, i) => k[i] - 1 - a);
      const win = reshape(slice(dyp, st, st.map((v, i) => v + inSp[i]), axes), [n, co, lIn]);
      return sumN(m.matmul(x3, swapLast(win)), ci, co); // [Ci, Co, 1]
    });
    layout = "co";
  } else if (ci * offsets.length <= 64) {
    // Few input channels (the first conv): one small im2col matrix and one GEMM instead of
    // k³ matrix-vector products.
    const len = prod(outSp);
    const xp = pads.some((p) => p !== 0)
      ? pad(x, [0, 0, ...pads.slice(0, s), 0, 0, ...pads.slice(s)])
      : x;
    const cols = concat(
      offsets.map((off) => {
        const end = off.map((a, i) => a + (outSp[i] - 1) * strides[i] + 1);
        return reshape(slice(xp, off, end, axes, strides), [n, ci, len]);
      }),
      1,
    ); // [N, K·Ci, L]
    const r = m.matmul(reshape(dy, [n, co, len]), swapLast(cols)); // [N, Co, K·Ci]
    const w = reshape(n > 1 ? m.sum(r, [0]) : r, [co, offsets.length, ci]);
    return reshape(transpose(w, [0, 2, 1]), [co, ci, ...k]);
  } else {
    const len = prod(outSp);
    const xp = pads.some((p) => p !== 0)
      ? pad(x, [0, 0, ...pads.slice(0, s), 0, 0, ...pads.slice(s)])
      : x;
    const dy3 = reshape(dy, [n, co, len]);
    parts = offsets.map((off) => {
      const end = off.map((a, i) => a + (outSp[i] - 1) * strides[i] + 1);
      const win = reshape(slice(xp, off, end, axes, strides), [n, ci, len]);
      return sumN(m.matmul(dy3, swapLast(win)), co, ci); // [Co, Ci, 1]
    });
    layout = "oc";
  }
  const stacked = parts.length > 1 ? concat(parts, 2) : parts[0]; // [A, B, K]
  const w = layout === "oc" ? stacked : transpose(stacked, [1, 0, 2]);
  return reshape(w, [co, ci, ...k]);
}

const convTransposeGrad: GradRule = (c) => {
  const [x, w, b] = [X(c, 0), X(c, 1), c.x[2]];
  const dy = c.dy[0]!;
  const { k, strides, pads, dil, group } = convAttrs(c);
  let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
  if (c.needs[0]) dx = conv(dy, w, null, { strides, pads, dilations: dil, group });
  if (c.needs[1]) {
    if (group !== 1 || dil.some((d) => d !== 1)) {
      throw new Error("ConvTranspose weight gradient: groups and dilation are not supported");
    }
    const nonOverlapping = k.every((kk, i) => kk === strides[i]) && pads.every((p) => p === 0);
    if (nonOverlapping) {
      // Each output pixel sees one input pixel: dW is one matrix product.
      dw = convTransposeWeightGradMatmul(x, dy, k);
    } else {
      const r = conv(swap01(dy), swap01(x), null, { pads, dilations: strides });
      dw = swap01(cropTo(r, k));
    }
  }
  if (b && c.needs[2]) db = m.sum(dy, spatialAxes(dy));
  return [dx, dw, db];
};

/** dW[ci, co, a...] = Σ_{n,i...} X[n,ci,i...] dY[n,co,i·k+a...] for stride == kernel. */
function convTransposeWeightGradMatmul(x: Tensor, dy: Tensor, k: readonly number[]): Tensor {
  const [n, ci, ...sp] = x.staticShape;
  const co = dy.shape[1] as number;
  const s = sp.length;
  // dY [N, Co, i0, a0, i1, a1, ...] -> [N, i0, i1, ..., Co, a0, a1, ...]
  const split = [n, co, ...sp.flatMap((d, i) => [d, k[i]])];
  const perm = [0, ...sp.map((_, i) => 2 + 2 * i), 1, ...sp.map((_, i) => 3 + 2 * i)];
  const rows = n * sp.reduce((a, b) => a * b, 1);
  const d2 = reshape(transpose(reshape(dy, split), perm), [
    rows,
    co * k.reduce((a, b) => a * b, 1),
  ]);
  const x2 = reshape(swap01(x), [ci, rows]);
  return reshape(m.matmul(x2, d2), [ci, co, ...k.slice(0, s)]);
}

const maxPoolGrad: GradRule = (c) => {
  const x = X(c, 0);
  const dy = c.dy[0]!;
  const indices = c.y[1];
  const kernel = getInts(c.node.attrs, "kernel_shape");
  const strides = getInts(c.node.attrs, "strides");
  const pads = getInts(c.node.attrs, "pads");
  const g = x.graph;
  if (kernel.every((k, i) => k === (strides[i] ?? 1)) && pads.every((p) => p === 0)) {
    // Windows do not overlap: MaxUnpool puts each gradient back where its max came from.
    const dx = g.addNode("MaxUnpool", [dy, indices, g.int64s(x.staticShape)], [{
      shape: x.shape,
      dtype: x.dtype,
    }], { kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads) })[0];
    return [dx];
  }
  // Overlapping windows: scatter-add into the flattened input.
  const zeros = g.constant(new Float32Array(x.size), [x.size], "float32");
  const flat = g.addNode("ScatterElements", [zeros, reshape(indices, [-1]), reshape(dy, [-1])], [{
    shape: [x.size],
    dtype: x.dtype,
  }], { axis: int(0), reduction: { kind: "string", value: "add" } })[0];
  return [reshape(flat, x.staticShape)];
};

const averagePoolGrad: GradRule = (c) => {
  const x = X(c, 0);
  const kernel = getInts(c.node.attrs, "kernel_shape");
  const strides = getInts(c.node.attrs, "strides");
  const pads = getInts(c.node.attrs, "pads");
  const s = kernel.length;
  const padded = pads.some((p) => p !== 0);
  if (padded && getInt(c.node.attrs, "count_include_pad", 0) === 0) {
    throw new Error("AveragePool gradient: padding without count_include_pad is not supported");
  }
  const ch = x.shape[1] as number;
  const kn = kernel.reduce((a, b) => a * b, 1);
  const w = x.graph.constant(new Float32Array(ch * kn).fill(1 / kn), [ch, 1, ...kernel], "float32");
  const st = strides.length ? strides : kernel.map(() => 1);
  const pd = pads.length ? pads : new Array(2 * s).fill(0);
  const dy = c.dy[0]!;
  const outPad = kernel.map((k, i) =>
    (x.shape[2 + i] as number) + pd[i] + pd[i + s] - (((dy.shape[2 + i] as number) - 1) * st[i] + k)
  );
  return [convTranspose(dy, w, null, { strides: st, pads: pd, group: ch, outputPadding: outPad })];
};

const batchNormEvalGrad: GradRule = (c) => {
  const [x, scale, , mean, variance] = [X(c, 0), X(c, 1), X(c, 2), X(c, 3), X(c, 4)];
  const dy = c.dy[0]!;
  const eps = getFloat(c.node.attrs, "epsilon", 1e-5);
  const inv = m.reciprocal(m.sqrt(m.add(variance, eps)));
  const axes = spatialAxes(x);
  return [
    c.needs[0] ? m.mul(dy, channelView(m.mul(scale, inv), x.rank)) : null,
    c.needs[1] ? m.mul(m.sum(m.mul(dy, m.sub(x, channelView(mean, x.rank))), axes), inv) : null,
    c.needs[2] ? m.sum(dy, axes) : null,
    null,
    null,
  ];
};

/** Resize is linear in its input: the gradient applies each axis's interpolation matrix transposed. */
const resizeGrad: GradRule = (c) => {
  const x = X(c, 0);
  const g = x.graph;
  const scales = g.constValues(X(c, 2));
  const mode = getStr(c.node.attrs, "mode", "nearest");
  const ct = getStr(c.node.attrs, "coordinate_transformation_mode", "half_pixel");
  let d = c.dy[0]!;
  const r = x.rank;
  const integerNearest = mode === "nearest" && ct === "asymmetric" &&
    scales.every((s) => Number.isInteger(s));
  if (integerNearest) {
    // Each input pixel was copied into an s×s block: sum the blocks.
    const split = [
      ...x.staticShape.slice(0, 2),
      ...x.staticShape.slice(2).flatMap((n, i) => [n, scales[i + 2]]),
    ];
    const axes = x.staticShape.slice(2).map((_, i) => 3 + 2 * i);
    return [reshape(m.sum(reshape(d, split), axes), x.staticShape)];
  }
  for (let axis = 2; axis < r; axis++) {
    if (scales[axis] === 1) continue;
    const inN = x.shape[axis] as number, outN = c.y[0].shape[axis] as number;
    // M is [in, out]; forward y = x·M along the axis, so dx = dy·Mᵀ.
    const mt = g.constant(
      resizeMatrix(inN, outN, scales[axis], mode, ct, true),
      [outN, inN],
      "float32",
    );
    const perm = d.shape.map((_, i) => i);
    [perm[axis], perm[r - 1]] = [perm[r - 1], perm[axis]];
    d = transpose(m.matmul(transpose(d, perm), mt), perm);
  }
  return [d];
};

export const nnRules: Record<string, GradRule> = {
  Conv: convGrad,
  ConvTranspose: convTransposeGrad,
  MaxPool: maxPoolGrad,
  AveragePool: averagePoolGrad,
  BatchNormalization: batchNormEvalGrad,
  Resize: resizeGrad,
  // dY·[y > 0] as a product: onnxruntime's Where is single-threaded, Mul is not.
  Relu: (c) => [m.mul(c.dy[0]!, m.cast(m.greater(c.y[0], 0), c.dy[0]!.dtype))],
  LeakyRelu: (c) => {
    const alpha = getFloat(c.node.attrs, "alpha", 0.01);
    const dy = c.dy[0]!;
    return [m.where(m.greater(X(c, 0), 0), dy, m.mul(dy, alpha))];
  },
  Sigmoid: (c) => [m.mul(c.dy[0]!, m.mul(c.y[0], m.sub(1, c.y[0])))],
  Tanh: (c) => [m.mul(c.dy[0]!, m.sub(1, m.mul(c.y[0], c.y[0])))],
  Softmax: (c) => {
    const axis = getInt(c.node.attrs, "axis", -1);
    const y = c.y[0], dy = c.dy[0]!;
    return [m.mul(y, m.sub(dy, m.sum(m.mul(dy, y), [axis], true)))];
  },
  LogSoftmax: (c) => {
    const axis = getInt(c.node.attrs, "axis", -1);
    const dy = c.dy[0]!;
    return [m.sub(dy, m.mul(m.exp(c.y[0]), m.sum(dy, [axis], true)))];
  },
};
