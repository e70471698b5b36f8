/** Op-by-op gradient checks against tfjs and finite differences (see grad_util.ts). */
import { assert } from "../assert.ts";
import { checkCase, type GradCase, randn, tf } from "./grad_util.ts";
import * as op from "../../engine/ops.ts";
import * as L from "../../engine/losses.ts";
import type { Rng } from "../../random/rng.ts";

const nchw2nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);
const nhwc2nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const ncdhw2ndhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 4, 1]);
const ndhwc2ncdhw = (t: tf.Tensor) => tf.transpose(t, [0, 4, 1, 2, 3]);

/**
 * ConvTranspose3d whose kernel equals its stride, as a matrix product and an interleave (tfjs has
 * no gradient for conv3dTranspose).
 */
function tfConvTransposeTiles3d(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const [n, ci, d, h, wd] = x.shape, [, co, a, b, c] = w.shape;
  const rows = tf.reshape(tf.transpose(x, [0, 2, 3, 4, 1]), [n * d * h * wd, ci]);
  const tiles = [n, d, h, wd, co, a, b, c];
  const y = tf.reshape(tf.matMul(rows, tf.reshape(w, [ci, co * a * b * c])), tiles);
  return tf.reshape(tf.transpose(y, [0, 4, 1, 5, 2, 6, 3, 7]), [n, co, d * a, h * b, wd * c]);
}

/** x2 linear upsampling along `axis` with half-pixel centres (PyTorch align_corners=False). */
function upHalfPixel(x: tf.Tensor, axis: number): tf.Tensor {
  const n = x.shape[axis];
  const at = (i: number) => tf.gather(x, [Math.min(Math.max(i, 0), n - 1)], axis);
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(tf.add(tf.mul(at(i - 1), 0.25), tf.mul(at(i), 0.75)));
    parts.push(tf.add(tf.mul(at(i), 0.75), tf.mul(at(i + 1), 0.25)));
  }
  return tf.concat(parts, axis);
}
function upNearest(x: tf.Tensor, axis: number): tf.Tensor {
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[axis]; i++) {
    const xi = tf.gather(x, [i], axis);
    parts.push(xi, xi);
  }
  return tf.concat(parts, axis);
}
const positive = (rng: Rng, n: number) => randn(rng, n).map((v) => Math.abs(v) + 0.5);
/** Values far from each other so max/relu kinks are not within ε of the point. */
const spread = (rng: Rng, n: number) => {
  const v = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * 0.37 + 0.05);
  return rng.shuffle(Array.from(v)).reduce((a, x, i) => ((a[i] = x), a), new Float32Array(n));
};

/** One-hot targets [2, 3, 4, 3] of classes 0 and 1 (class 2 absent), every 5th pixel ignored. */
const PPC_TARGET = (() => {
  const t = new Float32Array(2 * 3 * 12);
  for (let n = 0; n < 2; n++) {
    for (let p = 0; p < 12; p++) {
      if ((n * 12 + p) % 5 !== 4) t[n * 36 + ((n + p) % 3 === 0 ? 1 : 0) * 12 + p] = 1;
    }
  }
  return t;
})();
const tfNormalize = (x: tf.Tensor, axis: number) =>
  tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), axis, true), 1e-12)));

/** Fused probabilities [2, 3, 2, 2] with one pixel left at zero (outside a moved view). */
const SOFT_Q = (() => {
  const q = new Float32Array(24);
  for (let n = 0; n < 2; n++) {
    for (let p = 0; p < 4; p++) {
      if (n === 1 && p === 3) continue;
      const raw = [1 + p, 2 + n, 0.5 + ((p * 7) % 3)];
      const sum = raw.reduce((a, b) => a + b);
      raw.forEach((v, c) => (q[n * 12 + c * 4 + p] = v / sum));
    }
  }
  return q;
})();

/** Row weights [5] and bank validity [6] for the correlation-consistency case. */
const ROW_W = new Float32Array([1, 1, 0, 1, 1]), MEM_VALID = new Float32Array([1, 1, 0, 1, 1, 0]);

const cases: GradCase[] = [
  {
    name: "omni-correlation consistency (CAML): masked bank entries and rows",
    shapes: { qa: [5, 3], qb: [5, 3], mem: [6, 3] },
    float64: true,
    build: ({ qa, qb, mem }) => {
      const c = (a: Float32Array) => qa.graph.constant(a, [a.length], qa.dtype);
      return L.correlationConsistency(qa, qb, c(ROW_W), mem, c(MEM_VALID), 0.5);
    },
    tf: ({ qa, qb, mem }) => {
      const keep = tf.tensor(MEM_VALID), rows = tf.tensor(ROW_W);
      const corr = (q: tf.Tensor) =>
        tf.softmax(
          tf.add(tf.div(tf.matMul(q, mem, false, true), 0.5), tf.mul(tf.sub(keep, 1), 1e4)),
        );
      const perRow = tf.neg(tf.sum(tf.mul(corr(qb), tf.log(tf.add(corr(qa), 1e-8))), 1));
      return tf.div(tf.sum(tf.mul(perRow, rows)), tf.sum(rows));
    },
  },
  {
    name: "LayerNorm over the last axis",
    shapes: { x: [2, 3, 5], gamma: [5], beta: [5] },
    float64: true,
    build: ({ x, gamma, beta }) => op.layerNorm(x, gamma, beta),
    tf: ({ x, gamma, beta }) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta);
    },
  },
  {
    name: "Gather rows (repeated indices scatter-add back)",
    shapes: { x: [6, 3] },
    float64: true,
    build: ({ x }) =>
      op.gatherRows(x, x.graph.constant(BigInt64Array.from([1n, 4n, 1n, 0n]), [4], "int64")),
    tf: ({ x }) => tf.gather(x, [1, 4, 1, 0]),
  },
  {
    name: "TopK values (largest 2 of each row)",
    shapes: { x: [3, 5] },
    values: { x: spread },
    float64: true,
    build: ({ x }) => op.topK(x, 2).values,
    // tfjs has no TopK gradient: pick the same elements with a one-hot mask of its indices.
    tf: ({ x }) => {
      const picked = tf.oneHot(tf.topk(tf.tensor(x.dataSync(), x.shape), 2).indices, 5);
      return tf.sum(tf.mul(tf.expandDims(x, 1), picked), 2);
    },
  },
  {
    name: "soft re-learning loss (sharpened, confidence-weighted CE + Dice)",
    shapes: { z: [2, 3, 2, 2] },
    float64: true,
    build: ({ z }) => L.softTargetLoss(z, z.graph.constant(SOFT_Q, [2, 3, 2, 2], z.dtype), 0.5),
    tf: ({ z }) => {
      const q = tf.tensor(SOFT_Q, [2, 3, 2, 2]);
      const p = tf.pow(q, 2);
      const target = tf.div(p, tf.maximum(tf.sum(p, 1, true), 1e-8));
      const w = tf.max(q, 1, true);
      const lsm = nhwc2nchw(tf.logSoftmax(nchw2nhwc(z)));
      const ce = tf.div(tf.neg(tf.sum(tf.mul(tf.mul(target, lsm), w))), tf.sum(w));
      const [pp, tt] = [tf.mul(tf.exp(lsm), w), tf.mul(target, w)];
      const inter = tf.sum(tf.mul(pp, tt), [0, 2, 3]);
      const den = tf.add(tf.sum(tf.square(pp), [0, 2, 3]), tf.sum(tf.square(tt), [0, 2, 3]));
      const dice = tf.mean(tf.sub(1, tf.div(tf.add(tf.mul(inter, 2), 1e-5), tf.add(den, 1e-5))));
      return tf.mul(tf.add(ce, dice), 0.5);
    },
  },
  {
    name: "pixel-prototype contrast (ELSNet): prototypes, masked absent class, ignored pixels",
    shapes: { e: [2, 3, 4, 3] },
    float64: true,
    build: ({ e }) =>
      L.prototypeContrast(e, e.graph.constant(PPC_TARGET, [2, 3, 4, 3], e.dtype), 0.5),
    tf: ({ e }) => {
      const t = tf.tensor(PPC_TARGET, [2, 3, 12]);
      const en = tfNormalize(tf.reshape(e, [2, 3, 12]), 1);
      const mu = tfNormalize(tf.sum(tf.matMul(t, en, false, true), 0), 1); // [K, D]
      const present = tf.cast(tf.greater(tf.sum(t, [0, 2]), 0), "float32");
      const logits = tf.add(
        tf.div(tf.matMul(tf.stack([mu, mu]), en), 0.5),
        tf.reshape(tf.mul(tf.sub(present, 1), 1e4), [1, 3, 1]),
      );
      const lsm = tf.transpose(tf.logSoftmax(tf.transpose(logits, [0, 2, 1])), [0, 2, 1]);
      return tf.div(tf.neg(tf.sum(tf.mul(t, lsm))), tf.sum(t));
    },
  },
  {
    name: "Conv2d 3x3 pad 1 + bias",
    shapes: { x: [2, 3, 5, 6], w: [4, 3, 3, 3], b: [4] },
    build: ({ x, w, b }) => op.conv(x, w, b, { pads: 1 }),
    tf: ({ x, w, b }) =>
      tf.add(
        nhwc2nchw(
          tf.conv2d(
            nchw2nhwc(x) as tf.Tensor4D,
            tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
            1,
            "same",
          ),
        ),
        tf.reshape(b, [1, 4, 1, 1]),
      ),
  },
  {
    name: "Conv2d fewer outputs than inputs, asymmetric pads (dY-shift weight gradient)",
    shapes: { x: [2, 5, 6, 5], w: [2, 5, 3, 3], b: [2] },
    build: ({ x, w, b }) => op.conv(x, w, b, { pads: [1, 0, 1, 2] }),
    tf: ({ x, w, b }) =>
      tf.add(
        nhwc2nchw(
          tf.conv2d(
            nchw2nhwc(x) as tf.Tensor4D,
            tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
            1,
            [[0, 0], [1, 1], [0, 2], [0, 0]],
          ),
        ),
        tf.reshape(b, [1, 2, 1, 1]),
      ),
  },
  {
    name: "Conv2d stride 2 no pad (odd size)",
    shapes: { x: [2, 2, 7, 6], w: [3, 2, 3, 3] },
    build: ({ x, w }) => op.conv(x, w, null, { strides: [2, 2] }),
    tf: ({ x, w }) =>
      nhwc2nchw(
        tf.conv2d(
          nchw2nhwc(x) as tf.Tensor4D,
          tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
          2,
          "valid",
        ),
      ),
  },
  {
    name: "Conv3d 3x3x3 pad 1",
    shapes: { x: [1, 2, 4, 5, 3], w: [3, 2, 3, 3, 3], b: [3] },
    build: ({ x, w, b }) => op.conv(x, w, b, { pads: 1 }),
    tf: ({ x, w, b }) =>
      tf.add(
        ndhwc2ncdhw(
          tf.conv3d(
            ncdhw2ndhwc(x) as tf.Tensor5D,
            tf.transpose(w, [2, 3, 4, 1, 0]) as tf.Tensor5D,
            1,
            "same",
          ),
        ),
        tf.reshape(b, [1, 3, 1, 1, 1]),
      ),
  },
  {
    name: "Conv3d k2 s2 (V-Net down)",
    shapes: { x: [2, 2, 4, 4, 6], w: [3, 2, 2, 2, 2] },
    build: ({ x, w }) => op.conv(x, w, null, { strides: [2, 2, 2] }),
    tf: ({ x, w }) =>
      ndhwc2ncdhw(
        tf.conv3d(
          ncdhw2ndhwc(x) as tf.Tensor5D,
          tf.transpose(w, [2, 3, 4, 1, 0]) as tf.Tensor5D,
          2,
          "valid",
        ),
      ),
  },
  {
    name: "ConvTranspose2d k2 s2 + bias",
    shapes: { x: [2, 3, 3, 4], w: [3, 2, 2, 2], b: [2] },
    build: ({ x, w, b }) => op.convTranspose(x, w, b, { strides: [2, 2] }),
    tf: ({ x, w, b }) =>
      tf.add(
        nhwc2nchw(
          tf.conv2dTranspose(
            nchw2nhwc(x) as tf.Tensor4D,
            tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
            [2, 6, 8, 2],
            2,
            "valid",
          ),
        ),
        tf.reshape(b, [1, 2, 1, 1]),
      ),
  },
  {
    name: "ConvTranspose2d k3 s2 pad 1 output_padding 1 (overlapping)",
    shapes: { x: [1, 2, 3, 3], w: [2, 3, 3, 3] },
    build: ({ x, w }) =>
      op.convTranspose(x, w, null, { strides: [2, 2], pads: 1, outputPadding: [1, 1] }),
    // Full ("valid") transpose is 7x7; pads 1 crop both ends, output_padding re-adds the last row.
    tf: ({ x, w }) =>
      nhwc2nchw(
        tf.slice(
          tf.conv2dTranspose(
            nchw2nhwc(x) as tf.Tensor4D,
            tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D,
            [1, 7, 7, 3],
            2,
            "valid",
          ),
          [0, 1, 1, 0],
          [1, 6, 6, 3],
        ),
      ),
  },
  {
    name: "ConvTranspose3d k2 s2",
    shapes: { x: [1, 2, 2, 3, 2], w: [2, 3, 2, 2, 2] },
    build: ({ x, w }) => op.convTranspose(x, w, null, { strides: [2, 2, 2] }),
    tf: ({ x, w }) => tfConvTransposeTiles3d(x, w),
  },
  {
    name: "ConvTranspose3d k2 s2 + bias, batch 2",
    shapes: { x: [2, 3, 2, 2, 3], w: [3, 2, 2, 2, 2], b: [2] },
    build: ({ x, w, b }) => op.convTranspose(x, w, b, { strides: [2, 2, 2] }),
    tf: ({ x, w, b }) => tf.add(tfConvTransposeTiles3d(x, w), tf.reshape(b, [1, 2, 1, 1, 1])),
  },
  {
    name: "ConvTranspose3d k(1,2,3) s(1,2,3) + bias",
    shapes: { x: [2, 2, 3, 2, 2], w: [2, 3, 1, 2, 3], b: [3] },
    build: ({ x, w, b }) => op.convTranspose(x, w, b, { strides: [1, 2, 3] }),
    tf: ({ x, w, b }) => tf.add(tfConvTransposeTiles3d(x, w), tf.reshape(b, [1, 3, 1, 1, 1])),
  },
  {
    name: "MaxPool 2x2",
    shapes: { x: [2, 3, 4, 6] },
    values: { x: spread },
    build: ({ x }) => op.maxPool(x, { kernel: [2, 2] }),
    tf: ({ x }) => nhwc2nchw(tf.maxPool(nchw2nhwc(x) as tf.Tensor4D, 2, 2, "valid")),
  },
  {
    name: "MaxPool 2x2x2 (3D U-Net down)",
    shapes: { x: [2, 2, 4, 4, 6] },
    values: { x: spread },
    build: ({ x }) => op.maxPool(x, { kernel: [2, 2, 2] }),
    tf: ({ x }) =>
      tf.transpose(
        tf.maxPool3d(tf.transpose(x, [0, 2, 3, 4, 1]) as tf.Tensor5D, 2, 2, "valid"),
        [0, 4, 1, 2, 3],
      ),
  },
  {
    name: "MaxPool 3x3 stride 1 (overlapping)",
    shapes: { x: [1, 2, 5, 5] },
    values: { x: spread },
    build: ({ x }) => op.maxPool(x, { kernel: [3, 3], strides: [1, 1] }),
    tf: ({ x }) => nhwc2nchw(tf.maxPool(nchw2nhwc(x) as tf.Tensor4D, 3, 1, "valid")),
  },
  {
    name: "AveragePool 2x2",
    shapes: { x: [2, 3, 4, 6] },
    build: ({ x }) => op.averagePool(x, { kernel: [2, 2] }),
    tf: ({ x }) => nhwc2nchw(tf.avgPool(nchw2nhwc(x) as tf.Tensor4D, 2, 2, "valid")),
  },
  {
    name: "Resize bilinear x2 half_pixel",
    // Square: tfjs's ResizeBilinearGrad mixes up height and width for non-square images.
    shapes: { x: [1, 2, 4, 4] },
    build: ({ x }) => op.resize(x, { scales: [2, 2], mode: "linear" }),
    // tfjs's ResizeBilinearGrad ignores halfPixelCenters, so the oracle is the explicit x2
    // half-pixel stencil: out[2i] = ¼x[i-1] + ¾x[i], out[2i+1] = ¾x[i] + ¼x[i+1], edges clamped.
    tf: ({ x }) => upHalfPixel(upHalfPixel(x, 2), 3),
  },
  {
    name: "Resize trilinear x2 half_pixel (V-Net's interpolating up-sampling)",
    shapes: { x: [1, 2, 3, 4, 2] },
    build: ({ x }) => op.resize(x, { scales: [2, 2, 2], mode: "linear" }),
    tf: ({ x }) => upHalfPixel(upHalfPixel(upHalfPixel(x, 2), 3), 4),
  },
  {
    name: "Resize bilinear x2 align_corners",
    shapes: { x: [1, 2, 4, 4] },
    build: ({ x }) =>
      op.resize(x, { scales: [2, 2], mode: "linear", coordinateTransform: "align_corners" }),
    tf: ({ x }) =>
      nhwc2nchw(tf.image.resizeBilinear(nchw2nhwc(x) as tf.Tensor4D, [8, 8], true, false)),
  },
  {
    name: "Resize nearest x2",
    shapes: { x: [2, 2, 4, 4] },
    build: ({ x }) => op.resize(x, { scales: [2, 2] }),
    // tfjs's ResizeNearestNeighborGrad is wrong for batch/channels > 1: explicit copies instead.
    tf: ({ x }) => upNearest(upNearest(x, 2), 3),
  },
  {
    name: "BatchNorm train (batch statistics)",
    shapes: { x: [3, 4, 3, 5], gamma: [4], beta: [4] },
    build: ({ x, gamma, beta }) => {
      const g = x.graph;
      const rm = g.constant(new Float32Array(4), [4], "float32");
      const rv = g.constant(new Float32Array(4).fill(1), [4], "float32");
      return op.batchNormTrain(x, gamma, beta, rm, rv).y;
    },
    tf: ({ x, gamma, beta }) => {
      const { mean, variance } = tf.moments(x, [0, 2, 3], true);
      const xhat = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
      return tf.add(tf.mul(xhat, tf.reshape(gamma, [1, 4, 1, 1])), tf.reshape(beta, [1, 4, 1, 1]));
    },
  },
  {
    name: "BatchNorm eval (running statistics)",
    shapes: { x: [2, 3, 2, 2], gamma: [3], beta: [3] },
    float64: true,
    build: ({ x, gamma, beta }) => {
      const g = x.graph;
      const d = x.dtype;
      const rm = d === "float64"
        ? g.constant(new Float64Array([0.1, -0.2, 0.3]), [3], d)
        : g.constant(new Float32Array([0.1, -0.2, 0.3]), [3], d);
      const rv = d === "float64"
        ? g.constant(new Float64Array([0.5, 1.5, 2]), [3], d)
        : g.constant(new Float32Array([0.5, 1.5, 2]), [3], d);
      return op.batchNormEval(x, gamma, beta, rm, rv);
    },
    tf: ({ x, gamma, beta }) => {
      const rm = tf.tensor([0.1, -0.2, 0.3], [1, 3, 1, 1]);
      const rv = tf.tensor([0.5, 1.5, 2], [1, 3, 1, 1]);
      const xhat = tf.div(tf.sub(x, rm), tf.sqrt(tf.add(rv, 1e-5)));
      return tf.add(tf.mul(xhat, tf.reshape(gamma, [1, 3, 1, 1])), tf.reshape(beta, [1, 3, 1, 1]));
    },
  },
  {
    name: "Relu / LeakyRelu / Sigmoid / Tanh",
    shapes: { x: [2, 3, 4] },
    values: { x: spread },
    float64: true,
    build: ({ x }) =>
      op.add(op.add(op.relu(x), op.leakyRelu(x, 0.1)), op.add(op.sigmoid(x), op.tanh(x))),
    tf: ({ x }) => tf.addN([tf.relu(x), tf.leakyRelu(x, 0.1), tf.sigmoid(x), tf.tanh(x)]),
  },
  {
    name: "Softmax / LogSoftmax over channels",
    shapes: { x: [2, 4, 3, 2] },
    float64: true,
    build: ({ x }) => op.add(op.softmax(x, 1), op.mul(op.logSoftmax(x, 1), 0.3)),
    tf: ({ x }) => {
      const t = tf.transpose(x, [0, 2, 3, 1]);
      return tf.transpose(tf.add(tf.softmax(t), tf.mul(tf.logSoftmax(t), 0.3)), [0, 3, 1, 2]);
    },
  },
  {
    name: "Add/Sub/Mul/Div with broadcasting",
    shapes: { a: [2, 3, 4], b: [3, 1], c: [4] },
    values: { c: positive },
    float64: true,
    build: ({ a, b, c }) => op.div(op.sub(op.mul(op.add(a, b), b), a), c),
    tf: ({ a, b, c }) => tf.div(tf.sub(tf.mul(tf.add(a, b), b), a), c),
  },
  {
    name: "Exp/Log/Pow/Sqrt/Neg/Abs/Reciprocal",
    shapes: { x: [3, 4] },
    values: { x: positive },
    float64: true,
    build: ({ x }) =>
      op.add(
        op.add(op.exp(op.mul(x, 0.3)), op.log(x)),
        op.add(op.add(op.pow(x, 3), op.sqrt(x)), op.add(op.neg(op.abs(x)), op.reciprocal(x))),
      ),
    tf: ({ x }) =>
      tf.addN([
        tf.exp(tf.mul(x, 0.3)),
        tf.log(x),
        tf.pow(x, 3),
        tf.sqrt(x),
        tf.neg(tf.abs(x)),
        tf.reciprocal(x),
      ]),
  },
  {
    name: "Max/Min element-wise, Where, Clip",
    shapes: { a: [3, 4], b: [3, 4] },
    values: { a: spread },
    float64: true,
    build: ({ a, b }) =>
      op.add(
        op.add(op.maximum(a, b), op.minimum(a, b)),
        op.add(op.where(op.greater(a, 0), a, op.mul(b, 2)), op.clip(a, -1, 1)),
      ),
    tf: ({ a, b }) =>
      tf.addN([
        tf.maximum(a, b),
        tf.minimum(a, b),
        tf.where(tf.greater(tf.tensor(a.dataSync(), a.shape), 0), a, tf.mul(b, 2)),
        tf.clipByValue(a, -1, 1),
      ]),
  },
  {
    name: "ReduceSum/Mean/Max/SumSquare",
    shapes: { x: [2, 3, 4] },
    values: { x: spread },
    float64: true,
    build: ({ x }) =>
      op.add(
        op.add(op.sum(x, [1]), op.mean(x, [1])),
        op.add(op.max(x, [1]), op.sumSquare(x, [1])),
      ),
    tf: ({ x }) => tf.addN([tf.sum(x, 1), tf.mean(x, 1), tf.max(x, 1), tf.sum(tf.square(x), 1)]),
  },
  {
    name: "MatMul (batched, broadcast) and Gemm",
    shapes: { a: [2, 3, 4], b: [4, 5], c: [3, 4], d: [5, 4], e: [5] },
    float64: true,
    build: ({ a, b, c, d, e }) =>
      op.add(op.matmul(a, b), op.gemm(c, d, e, { transB: true, alpha: 0.5 })),
    tf: ({ a, b, c, d, e }) =>
      tf.add(
        tf.matMul(a, tf.broadcastTo(b, [2, 4, 5])),
        tf.add(tf.mul(tf.matMul(c, d, false, true), 0.5), e),
      ),
  },
  {
    name: "Concat/Slice/Pad/Reshape/Transpose/Split",
    shapes: { a: [2, 3, 4], b: [2, 2, 4] },
    float64: true,
    build: ({ a, b }) => {
      const c = op.concat([a, b], 1); // [2,5,4]
      const s = op.slice(c, [1, 0], [4, 3], [1, 2]); // [2,3,3]
      const p = op.pad(s, [0, 1, 0, 0, 0, 2]); // [2,4,5]
      const t = op.transpose(op.reshape(p, [4, 2, 5]), [2, 0, 1]); // [5,4,2]
      const [u, v] = op.split(t, [2, 3], 0);
      return op.add(
        op.mul(op.reshape(u, [2, 8]), 2),
        op.reshape(op.slice(v, [0], [2], [0]), [2, 8]),
      );
    },
    tf: ({ a, b }) => {
      const c = tf.concat([a, b], 1);
      const s = tf.slice(c, [0, 1, 0], [2, 3, 3]);
      const p = tf.pad(s, [[0, 0], [1, 0], [0, 2]]);
      const t = tf.transpose(tf.reshape(p, [4, 2, 5]), [2, 0, 1]);
      const [u, v] = tf.split(t, [2, 3], 0);
      return tf.add(
        tf.mul(tf.reshape(u, [2, 8]), 2),
        tf.reshape(tf.slice(v, [0, 0, 0], [2, 4, 2]), [2, 8]),
      );
    },
  },
  {
    name: "Dropout mask, stopGradient",
    shapes: { x: [2, 3, 4] },
    // The forward pass sees through stopGradient, so finite differences do not apply.
    skipFiniteDifferences: true,
    build: ({ x }) => {
      const mask = new Float32Array(24).map((_, i) => (i % 3 === 0 ? 0 : 1.5));
      return op.add(
        op.dropout(x, x.graph.constant(mask, [2, 3, 4], "float32")),
        op.mul(op.stopGradient(x), x),
      );
    },
    tf: ({ x }) => {
      const mask = tf.tensor(Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 0 : 1.5)), [
        2,
        3,
        4,
      ]);
      return tf.add(tf.mul(x, mask), tf.mul(tf.tensor(x.dataSync(), x.shape), x));
    },
  },
];

for (const c of cases) {
  Deno.test(`gradient: ${c.name}`, async () => {
    const r = await checkCase(c);
    for (const [k, e] of Object.entries(r.tfErr)) {
      assert(e < 1e-4, `${c.name}: d/d${k} differs from tfjs, rel err ${e.toExponential(2)}`);
    }
    if (c.skipFiniteDifferences) return;
    const tol = r.fdDtype === "float64" ? 1e-6 : 2e-3;
    assert(
      r.fdErr < tol,
      `${c.name}: finite differences (${r.fdDtype}) rel err ${r.fdErr.toExponential(2)}`,
    );
  });
}
