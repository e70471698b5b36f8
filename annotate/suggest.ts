/**
 * Which slice to annotate first: the z-slice with the most structure, i.e. the largest total
 * variation (sum of |dx| + |dy|) of the image clipped to its 1st-99th percentile window. Clipping
 * keeps a few hot voxels or a bright artefact from winning; an empty slice at the volume's edge
 * has almost none, a slice through the organs the most.
 */
import type { Volume } from "../io/volume.ts";

/** Approximate `q`-quantiles from at most ~1M evenly strided samples (sorting 30M is slow). */
export function quantiles(data: Float32Array, qs: readonly number[]): number[] {
  const step = Math.max(1, Math.floor(data.length / 1_000_000));
  const sample = new Float32Array(Math.ceil(data.length / step));
  let n = 0;
  for (let i = 0; i < data.length; i += step) sample[n++] = data[i];
  const sorted = sample.subarray(0, n).sort();
  return qs.map((q) => sorted[Math.min(n - 1, Math.max(0, Math.round(q * (n - 1))))] ?? 0);
}

/** The z index with the largest clipped total variation (the first such on ties). */
export function suggestSlice(image: Volume): number {
  const [nx, ny, nz] = image.shape;
  const [lo, hi] = quantiles(image.data, [0.01, 0.99]);
  const clip = (v: number) => (v < lo ? lo : v > hi ? hi : v);
  let best = 0, bestScore = -1;
  for (let z = 0; z < nz; z++) {
    const off = z * nx * ny;
    let score = 0;
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = off + x + nx * y;
        const v = clip(image.data[i]);
        if (x + 1 < nx) score += Math.abs(clip(image.data[i + 1]) - v);
        if (y + 1 < ny) score += Math.abs(clip(image.data[i + nx]) - v);
      }
    }
    if (score > bestScore) [best, bestScore] = [z, score];
  }
  return best;
}
