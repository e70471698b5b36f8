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

/**
 * Argmax labels of an nz x H x W normalized volume, slice batches through one eval session;
 * `probs` (optional, nz x K x H x W) receives the softmax. With `context`, each slice goes in
 * with its neighbours as channels (2.5D).
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
): Promise<Uint8Array> {
  const plane = w * h, k = predictor.model.numClasses;
  const out = new Uint8Array(slices * plane);
  for (let z0 = 0; z0 < slices; z0 += batch) {
    const n = Math.min(batch, slices - z0);
    const x = sliceInputs(image, slices, plane, z0, n, context);
    const p = (await predictor.run(x, n)).probs;
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
