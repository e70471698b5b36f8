/**
 * Dropout masks drawn from the step's seeded Rng, so a run (and a resumed run) sees the same
 * masks: element i is dropped when a 32-bit draw is below p·2³², kept values are 1/(1-p).
 */
import type { Rng } from "../random/rng.ts";

export function fillDropoutMask(rng: Rng, out: Float32Array, p: number): void {
  const keep = 1 / (1 - p);
  const threshold = p * 4294967296;
  for (let i = 0; i < out.length; i++) out[i] = rng.nextUint32() < threshold ? 0 : keep;
}

/** Uniform values in [lo, hi) (feature-noise perturbations). */
export function fillUniform(rng: Rng, out: Float32Array, lo: number, hi: number): void {
  const scale = (hi - lo) / 4294967296;
  for (let i = 0; i < out.length; i++) out[i] = lo + rng.nextUint32() * scale;
}
