/**
 * Strong-view intensity transforms (CMEMS / SSL4MIS `WeakStrongAugment` analogue for grey
 * images). They change image values only: labels and pseudo-labels are never touched, except
 * CutMix, which reports its box so the caller mixes (pseudo-)labels with the same box.
 *
 * Defaults follow PAPERS.md §1 (reconstructed CMEMS) and PEERS.md §3: ColorJitter(0.8, 0.8, 0.8)
 * applied with probability 0.8 (FixMatch/UniMatch), blur sigma 0.1..2 with p 0.5, cutout/CutMix
 * boxes of 2..40% area with aspect 0.3..3.3 (UniMatch `obtain_cutmix_box`).
 */
import { Rng } from "../random/rng.ts";
import { type Box, clampBox, type Image2D, mean, minMax } from "./image2d.ts";
import { addNormal, gaussianBlur } from "./smooth.ts";

export interface StrongConfig {
  /** Probability of brightness/contrast/gamma jitter (applied together). Default 0.8. */
  readonly jitterProbability: number;
  /** Brightness factor uniform in [max(0, 1-b), 1+b] on [0,1]-normalised intensities. 0.8. */
  readonly brightness: number;
  /** Contrast factor uniform in [max(0, 1-c), 1+c] (blend with the mean, as torchvision). 0.8. */
  readonly contrast: number;
  /** Gamma log-uniform in [1/(1+g), 1+g] on [0,1]-normalised intensities. 0.8 (0.56..1.8). */
  readonly gamma: number;
  /** Probability and sigma range (pixels) of a Gaussian blur. Default 0.5, [0.1, 2]. */
  readonly blurProbability: number;
  readonly blurSigma: readonly [number, number];
  /** Probability and std range of additive Gaussian noise, as a fraction of max-min. 0.5, [0, 0.05]. */
  readonly noiseProbability: number;
  readonly noiseStd: readonly [number, number];
  /** Probability of cutout, box area fraction, aspect ratio range, fill. 0.5, [0.02, 0.4]. */
  readonly cutoutProbability: number;
  readonly cutoutArea: readonly [number, number];
  readonly cutoutAspect: readonly [number, number];
  readonly cutoutFill: "zero" | "mean" | "min";
  /** Probability of a random intensity curve (`intensityCurve`) and its control points. 0, 5. */
  readonly curveProbability: number;
  readonly curvePoints: number;
  /** Probability of CutMix with a partner image (only when one is available). Default 0.5. */
  readonly cutmixProbability: number;
  readonly cutmixArea: readonly [number, number];
  readonly cutmixAspect: readonly [number, number];
}

export const defaultStrongConfig: StrongConfig = {
  jitterProbability: 0.8,
  brightness: 0.8,
  contrast: 0.8,
  gamma: 0.8,
  blurProbability: 0.5,
  blurSigma: [0.1, 2],
  noiseProbability: 0.5,
  noiseStd: [0, 0.05],
  cutoutProbability: 0.5,
  cutoutArea: [0.02, 0.4],
  cutoutAspect: [0.3, 1 / 0.3],
  cutoutFill: "mean",
  curveProbability: 0,
  curvePoints: 5,
  cutmixProbability: 0.5,
  cutmixArea: [0.02, 0.4],
  cutmixAspect: [0.3, 1 / 0.3],
};

export interface JitterParams {
  readonly brightness: number;
  readonly contrast: number;
  readonly gamma: number;
}

/** What a strong view applied, in order: cutmix, curve, jitter, blur, noise, cutout. */
export interface StrongParams {
  /** Box pasted from the partner image (partner = batch index, -1 when given directly). */
  readonly cutmix?: { readonly box: Box; readonly partner: number };
  /** The intensity curve's values at evenly spaced points of [0, 1]. */
  readonly curve?: readonly number[];
  readonly jitter?: JitterParams;
  readonly blurSigma?: number;
  /** Noise std as a fraction of the image's max-min, and the seed of the noise stream. */
  readonly noise?: { readonly std: number; readonly seed: number };
  readonly cutout?: { readonly box: Box; readonly fill: "zero" | "mean" | "min" };
}

/** Random box with area fraction and aspect (h/w) ratio in the given ranges, inside the image. */
export function sampleBox(
  rng: Rng,
  width: number,
  height: number,
  area: readonly [number, number],
  aspect: readonly [number, number],
): Box {
  const a = rng.uniform(area[0], area[1]) * width * height;
  const r = Math.exp(rng.uniform(Math.log(aspect[0]), Math.log(aspect[1])));
  const w = Math.max(1, Math.min(width, Math.round(Math.sqrt(a / r))));
  const h = Math.max(1, Math.min(height, Math.round(Math.sqrt(a * r))));
  const x = rng.int(0, width - w + 1);
  const y = rng.int(0, height - h + 1);
  return { x, y, w, h };
}

/**
 * Brightness, contrast, gamma on min-max normalised intensities, then mapped back to the
 * original range. Clamped to [0, 1] after each step as torchvision's ColorJitter does. In place.
 */
export function colorJitter(data: Float32Array, p: JitterParams): void {
  const [lo, hi] = minMax(data);
  const range = hi - lo;
  if (!(range > 0)) return;
  const inv = 1 / range;
  const b = p.brightness;
  let s = 0;
  for (let i = 0; i < data.length; i++) {
    let v = (data[i] - lo) * inv * b;
    v = v > 1 ? 1 : v;
    data[i] = v;
    s += v;
  }
  const m = s / data.length;
  const c = p.contrast;
  const g = p.gamma;
  for (let i = 0; i < data.length; i++) {
    let v = c * data[i] + (1 - c) * m;
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    if (g !== 1) v = Math.pow(v, g);
    data[i] = lo + v * range;
  }
}

/**
 * A random intensity curve: `points` values, each uniform in [0, 1], at evenly spaced points of
 * [0, 1]. Usually not monotone, so it reorders tissue intensities (a cavity darker than its
 * wall on one scanner, brighter on another): what stays is shape and edges.
 */
export const sampleCurve = (rng: Rng, points: number): number[] =>
  Array.from({ length: Math.max(2, points) }, () => rng.next());

/**
 * Maps min-max normalised intensities through the piecewise-linear curve `ys`, back to the
 * original range. In place.
 */
export function intensityCurve(data: Float32Array, ys: readonly number[]): void {
  const [lo, hi] = minMax(data);
  const range = hi - lo;
  if (!(range > 0)) return;
  const segments = ys.length - 1;
  for (let i = 0; i < data.length; i++) {
    const t = ((data[i] - lo) / range) * segments;
    const k = Math.min(segments - 1, Math.floor(t));
    data[i] = lo + range * (ys[k] + (ys[k + 1] - ys[k]) * (t - k));
  }
}

/** Set a box to a value (in place). */
export function fillBox(
  data: Float32Array,
  width: number,
  height: number,
  box: Box,
  value: number,
) {
  const b = clampBox(box, width, height);
  for (let y = b.y; y < b.y + b.h; y++) data.fill(value, y * width + b.x, y * width + b.x + b.w);
}

/**
 * Copy a box from `src` into `dst` for every one of `channels` planes of width x height
 * (works for images, label maps and C-channel probability maps alike).
 */
export function pasteBox<T extends Float32Array | Uint8Array>(
  dst: T,
  src: T,
  width: number,
  height: number,
  box: Box,
  channels = 1,
): void {
  const b = clampBox(box, width, height);
  const plane = width * height;
  for (let c = 0; c < channels; c++) {
    for (let y = b.y; y < b.y + b.h; y++) {
      const o = c * plane + y * width + b.x;
      dst.set(src.subarray(o, o + b.w), o);
    }
  }
}

/** Strong intensity view: sample a parameter record, then apply it in place. */
export class RandomStrong {
  readonly config: StrongConfig;
  constructor(config: Partial<StrongConfig> = {}) {
    this.config = { ...defaultStrongConfig, ...config };
  }

  /** `partner` is the batch index of a CutMix partner, or undefined when none is available. */
  sample(rng: Rng, width: number, height: number, partner?: number): StrongParams {
    const c = this.config;
    const out: {
      -readonly [K in keyof StrongParams]: StrongParams[K];
    } = {};
    if (partner !== undefined && rng.bool(c.cutmixProbability)) {
      out.cutmix = { box: sampleBox(rng, width, height, c.cutmixArea, c.cutmixAspect), partner };
    }
    Object.assign(out, sampleIntensityChanges(rng, c));
    if (rng.bool(c.cutoutProbability)) {
      out.cutout = {
        box: sampleBox(rng, width, height, c.cutoutArea, c.cutoutAspect),
        fill: c.cutoutFill,
      };
    }
    return out;
  }

  /** Apply in place to `image`; `partner` supplies the CutMix box content when requested. */
  static apply(p: StrongParams, image: Image2D, partner?: Image2D): void {
    const { data, width, height } = image;
    if (p.cutmix) {
      if (!partner) throw new RangeError("strong view asks for CutMix but no partner image given");
      if (partner.width !== width || partner.height !== height) {
        throw new RangeError("CutMix partner has a different size");
      }
      pasteBox(data, partner.data, width, height, p.cutmix.box);
    }
    applyIntensityChanges(p, data, (sigma) => gaussianBlur(data, width, height, sigma));
    if (p.cutout) {
      const f = p.cutout.fill;
      const value = f === "zero" ? 0 : f === "min" ? minMax(data)[0] : mean(data);
      fillBox(data, width, height, p.cutout.box, value);
    }
  }
}

/** The intensity part of a strong view, shared by the 2D and 3D views. */
export type IntensityChanges = Pick<StrongParams, "curve" | "jitter" | "blurSigma" | "noise">;

/** Draws the intensity changes in a fixed order: curve, jitter, blur, noise. */
export function sampleIntensityChanges(
  rng: Rng,
  c: Pick<
    StrongConfig,
    | "curveProbability"
    | "curvePoints"
    | "jitterProbability"
    | "brightness"
    | "contrast"
    | "gamma"
    | "blurProbability"
    | "blurSigma"
    | "noiseProbability"
    | "noiseStd"
  >,
): IntensityChanges {
  const out: { -readonly [K in keyof IntensityChanges]: IntensityChanges[K] } = {};
  // Drawn only when enabled, so the other parameters' streams do not change with it off.
  if (c.curveProbability > 0 && rng.bool(c.curveProbability)) {
    out.curve = sampleCurve(rng, c.curvePoints);
  }
  if (rng.bool(c.jitterProbability)) {
    const lg = Math.log(1 + c.gamma);
    out.jitter = {
      brightness: rng.uniform(Math.max(0, 1 - c.brightness), 1 + c.brightness),
      contrast: rng.uniform(Math.max(0, 1 - c.contrast), 1 + c.contrast),
      gamma: Math.exp(rng.uniform(-lg, lg)),
    };
  }
  if (rng.bool(c.blurProbability)) out.blurSigma = rng.uniform(c.blurSigma[0], c.blurSigma[1]);
  if (rng.bool(c.noiseProbability)) {
    out.noise = { std: rng.uniform(c.noiseStd[0], c.noiseStd[1]), seed: rng.nextUint32() };
  }
  return out;
}

/** Applies the intensity changes in place; `blur` blurs `data` in its own geometry. */
export function applyIntensityChanges(
  p: IntensityChanges,
  data: Float32Array,
  blur: (sigma: number) => void,
): void {
  if (p.curve) intensityCurve(data, p.curve);
  if (p.jitter) colorJitter(data, p.jitter);
  if (p.blurSigma) blur(p.blurSigma);
  if (p.noise && p.noise.std > 0) {
    const [lo, hi] = minMax(data);
    addNormal(data, new Rng(p.noise.seed), p.noise.std * (hi - lo));
  }
}
