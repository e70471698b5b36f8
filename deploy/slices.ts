/** Segmentation of normalized slices with the engine: batched softmax, then argmax. */
import type { Predictor } from "../engine/predict.ts";

/**
 * Argmax labels of an nz x H x W normalized volume, slice batches through one eval session;
 * `probs` (optional, nz x K x H x W) receives the softmax.
 */
export async function predictSlices(
  predictor: Predictor,
  image: Float32Array,
  slices: number,
  w: number,
  h: number,
  batch = 8,
  probs?: Float32Array,
): Promise<Uint8Array> {
  const plane = w * h, k = predictor.model.numClasses;
  const out = new Uint8Array(slices * plane);
  for (let z0 = 0; z0 < slices; z0 += batch) {
    const n = Math.min(batch, slices - z0);
    const p = (await predictor.run(image.subarray(z0 * plane, (z0 + n) * plane), n)).probs;
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
