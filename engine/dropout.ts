/**
 * Dropout masks and noise drawn from the step's seeded Rng, so a run (and a resumed run) sees
 * the same masks. Each 32-bit draw decides two mask elements (16 bits each: p is resolved to
 * 1/65536, far below any dropout rate in use), halving the generator cost per step.
 */
import type { Rng } from "../random/rng.ts";

export function fillDropoutMask(rng: Rng, out: Float32Array, p: number): void {
  const keep = 1 / (1 - p);
  const threshold = Math.round(p * 65536);
  const n = out.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const r = rng.nextUint32();
    out[i] = (r & 0xffff) < threshold ? 0 : keep;
    out[i + 1] = r >>> 16 < threshold ? 0 : keep;
  }
  if (i < n) out[i] = (rng.nextUint32() & 0xffff) < threshold ? 0 : keep;
}

/** Uniform values in [lo, hi) (feature-noise perturbations). */
export function fillUniform(rng: Rng, out: Float32Array, lo: number, hi: number): void {
  const scale = (hi - lo) / 4294967296;
  for (let i = 0; i < out.length; i++) out[i] = lo + rng.nextUint32() * scale;
}
