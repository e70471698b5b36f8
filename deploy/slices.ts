/** Segmentation of normalized slices with the engine: batched softmax, then argmax. */
import type { Predictor } from "../engine/predict.ts";

/**
 * The network input of slice z with `context` neighbours on each side as channels (2.5D): planes
 * z - context .. z + context of an nz-plane volume, an end slice repeated past the volume's ends,
 * written to `out` at `at`.
 */
export function sliceStack(
  volume: Float32Array,
  slices: number,
  plane: number,
  z: number,
  context: number,
  out: Float32Array,
  at = 0,
): void {
  for (let d = -context; d <= context; d++) {
    const zz = Math.min(slices - 1, Math.max(0, z + d));
    out.set(volume.subarray(zz * plane, (zz + 1) * plane), at + (d + context) * plane);
  }
}

/**
 * Slice z with `context` neighbours on each side (C x H x W): a view of the volume where they all
 * lie inside it, else a stack with the end slices repeated (sliceStack).
 */
export function sliceWithNeighbours(
  volume: Float32Array,
  slices: number,
  plane: number,
  z: number,
  context: number,
): Float32Array {
  if (z - context >= 0 && z + context < slices) {
    return volume.subarray((z - context) * plane, (z + context + 1) * plane);
  }
  const out = new Float32Array((2 * context + 1) * plane);
  sliceStack(volume, slices, plane, z, context, out);
  return out;
}

/** Slices z0 .. z0+n-1 as network inputs: a view of the volume, or their 2.5D stacks. */
export function sliceInputs(
  volume: Float32Array,
  slices: number,
  plane: number,
  z0: number,
  n: number,
  context: number,
): Float32Array {
  if (!context) return volume.subarray(z0 * plane, (z0 + n) * plane);
  const channels = 2 * context + 1, x = new Float32Array(n * channels * plane);
  for (let i = 0; i < n; i++) {
    sliceStack(volume, slices, plane, z0 + i, context, x, i * channels * plane);
  }
  return x;
}

/** A predictor's class probabilities of n inputs. */
export const probsOf = (predictor: Predictor) => async (x: Float32Array, n: number) =>
  (await predictor.run(x, n)).probs;

/** Each w x h plane of `x` mirrored in x and/or y, into a new array (its own inverse). */
export function mirrored(x: Float32Array, w: number, h: number, fx: boolean, fy: boolean) {
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += w * h) {
    for (let y = 0; y < h; y++) {
      const from = o + (fy ? h - 1 - y : y) * w, to = o + y * w;
      for (let i = 0; i < w; i++) out[to + i] = x[from + (fx ? w - 1 - i : i)];
    }
  }
  return out;
}

/**
 * Class probabilities of n network inputs (n x C x h x w); with `mirror`, the mean over the
 * inputs as they are and mirrored in x, in y and in both (nnU-Net's test-time mirroring), each
 * mirrored back.
 */
export async function slicePredictions(
  run: (x: Float32Array, n: number) => Promise<Float32Array>,
  x: Float32Array,
  n: number,
  w: number,
  h: number,
  mirror = false,
): Promise<Float32Array> {
  const p = await run(x, n);
  if (!mirror) return p;
  const sum = p.slice();
  for (const [fx, fy] of [[true, false], [false, true], [true, true]]) {
    const q = await run(mirrored(x, w, h, fx, fy), n);
    const back = mirrored(q, w, h, fx, fy);
    for (let i = 0; i < sum.length; i++) sum[i] += back[i];
  }
  for (let i = 0; i < sum.length; i++) sum[i] /= 4;
  return sum;
}

/**
 * Argmax labels of an nz x H x W normalized volume, slice batches through one eval session;
 * `probs` (optional, nz x K x H x W) receives the softmax. With `context`, each slice goes in
 * with its neighbours as channels (2.5D); with `mirror`, mirrored too (slicePredictions).
 */
export async function predictSlices(
  predictor: Predictor,
  image: Float32Array,
  slices: number,
  w: number,
  h: number,
  batch = 8,
  probs?: Float32Array,
  context = 0,
  mirror = false,
): Promise<Uint8Array> {
  const plane = w * h, k = predictor.model.numClasses;
  const out = new Uint8Array(slices * plane);
  for (let z0 = 0; z0 < slices; z0 += batch) {
    const n = Math.min(batch, slices - z0);
    const x = sliceInputs(image, slices, plane, z0, n, context);
    const p = await slicePredictions(probsOf(predictor), x, n, w, h, mirror);
    probs?.set(p, z0 * k * plane);
    for (let i = 0; i < n; i++) {
      out.set(argmaxClasses(p, i * k * plane, k, plane), (z0 + i) * plane);
    }
  }
  return out;
}

/** Argmax over k class planes starting at `offset` (first class wins ties, as numpy). */
export function argmaxClasses(
  p: Float32Array,
  offset: number,
  k: number,
  plane: number,
): Uint8Array {
  const out = new Uint8Array(plane);
  const best = p.slice(offset, offset + plane);
  for (let c = 1; c < k; c++) {
    const o = offset + c * plane;
    for (let q = 0; q < plane; q++) {
      const v = p[o + q];
      if (v > best[q]) {
        best[q] = v;
        out[q] = c;
      }
    }
  }
  return out;
}
