/**
 * Intensity normalisation. Every method is one recorded affine map with an optional clip:
 * `out = (clamp(v, clip) - offset) / scale`, and voxels that were exactly 0 stay 0 when the
 * statistics were taken over non-zero voxels only (nnU-Net's "use mask for norm").
 */

export type IntensityRecipe =
  | { readonly kind: "zscore"; readonly nonzero?: boolean }
  | {
    readonly kind: "percentile";
    /** Percentiles in 0..100, e.g. 0.5 and 99.5. */
    readonly lower: number;
    readonly upper: number;
    readonly nonzero?: boolean;
  }
  /** CT window: clip to [center - width/2, center + width/2], scale to [0, 1]. */
  | { readonly kind: "window"; readonly center: number; readonly width: number }
  | { readonly kind: "none" };

export interface IntensityParams {
  readonly kind: IntensityRecipe["kind"];
  readonly clip: readonly [number, number] | null;
  readonly offset: number;
  readonly scale: number;
  /** Keep exact zeros at 0 (statistics were over non-zero voxels). */
  readonly keepZeros: boolean;
}

/** numpy.percentile (linear interpolation) of a sorted array. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function meanStd(data: Float32Array, nonzero: boolean, lo = -Infinity, hi = Infinity) {
  let n = 0, sum = 0, sum2 = 0;
  for (let i = 0; i < data.length; i++) {
    let v = data[i];
    if (nonzero && v === 0) continue;
    v = v < lo ? lo : v > hi ? hi : v;
    n++;
    sum += v;
    sum2 += v * v;
  }
  if (n === 0) return { mean: 0, std: 1 };
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
  return { mean, std: std > 1e-8 ? std : 1 };
}

/** Computes the parameters of a recipe on one image. */
export function fitIntensity(data: Float32Array, recipe: IntensityRecipe): IntensityParams {
  switch (recipe.kind) {
    case "none":
      return { kind: "none", clip: null, offset: 0, scale: 1, keepZeros: false };
    case "window": {
      const lo = recipe.center - recipe.width / 2, hi = recipe.center + recipe.width / 2;
      return { kind: "window", clip: [lo, hi], offset: lo, scale: recipe.width, keepZeros: false };
    }
    case "zscore": {
      const nonzero = recipe.nonzero ?? false;
      const { mean, std } = meanStd(data, nonzero);
      return { kind: "zscore", clip: null, offset: mean, scale: std, keepZeros: nonzero };
    }
    case "percentile": {
      const nonzero = recipe.nonzero ?? false;
      const values = nonzero ? data.filter((v) => v !== 0) : data.slice();
      values.sort();
      const lo = percentileSorted(values, recipe.lower),
        hi = percentileSorted(values, recipe.upper);
      const { mean, std } = meanStd(data, nonzero, lo, hi);
      return { kind: "percentile", clip: [lo, hi], offset: mean, scale: std, keepZeros: nonzero };
    }
  }
}

/** Applies recorded parameters; returns a new array. */
export function applyIntensity(data: Float32Array, p: IntensityParams): Float32Array {
  const out = new Float32Array(data.length);
  const lo = p.clip ? p.clip[0] : -Infinity, hi = p.clip ? p.clip[1] : Infinity;
  const inv = 1 / p.scale;
  for (let i = 0; i < data.length; i++) {
    const v0 = data[i];
    if (p.keepZeros && v0 === 0) continue;
    const v = v0 < lo ? lo : v0 > hi ? hi : v0;
    out[i] = (v - p.offset) * inv;
  }
  return out;
}
