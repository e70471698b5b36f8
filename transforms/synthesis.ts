/**
 * ELSNet exemplar-guided synthesis (PAPERS.md §4, reconstructed): annotated samples made from
 * the single exemplar. Per sample:
 *  1. deform the whole exemplar (random affine + elastic) — image and label together;
 *  2. pick a background: the deformed exemplar with the classes about to be moved in-painted
 *     (filled from surrounding label-0 tissue), or an unlabelled image (label 0 everywhere);
 *  3. cut each region from the exemplar, transform it independently (scale, rotation,
 *     translation, flip about its centroid, on top of the global deformation), paste in random
 *     order (painter's order for the label map), blending a feathered edge into the background.
 *     A region is a group of touching classes (`pasteGroups: "touching"`, the default: a
 *     myocardium ring, the cavity it surrounds and the ventricle beside it move as one heart),
 *     or each class on its own (`"class"`, ELSNet's per-organ pastes);
 *  4. optionally change intensities globally (a random curve, contrast, gamma, noise) — labels
 *     untouched.
 * Each step draws from its own fork of the sample's Rng, so `synthesizeSample(.., rng.fork(i))`
 * is reproducible on its own (shardable) and switching intensity off leaves geometry unchanged.
 */
import { Rng } from "../random/rng.ts";
import {
  addFields,
  type AffineConfig,
  type AffineParams,
  affineToField,
  chainAffineField,
  compose,
  type ElasticConfig,
  type ElasticParams,
  invert,
  RandomAffine,
  RandomElastic,
  warp,
} from "./geometric.ts";
import { assertSameShape, type Image2D, image2d, type Label2D, label2d } from "./image2d.ts";
import { colorJitter, intensityCurve, sampleCurve } from "./intensity.ts";
import { addNormal, gaussianBlur } from "./smooth.ts";

export interface Exemplar {
  readonly image: Image2D;
  readonly label: Label2D;
}

export interface SynthesisConfig {
  /** Global deformation of the exemplar. Defaults: scale 0.8..1.2, ±15°, ±10% shift. */
  readonly affine: Partial<AffineConfig>;
  readonly elastic: Partial<ElasticConfig>;
  /**
   * Probability of an unlabelled background (when any are given). Default 0.25: structures of
   * an unlabelled background stay labelled 0, a label-noise source, so the exemplar dominates.
   */
  readonly backgroundProbability: number;
  /**
   * What an unlabelled background's own pixels are labelled: "background" (0, default), or
   * "unknown" (UNKNOWN_LABEL, left out of the loss) beyond a ring of `KNOWN_RING` px around the
   * pastes, whose feathered seams carry the exemplar's own surroundings. The background's own
   * structures (its atrium, its heart) are then never taught as background.
   */
  readonly backgroundLabels: "background" | "unknown";
  /** Probability that a region is cut and pasted. Default 0.9. */
  readonly pasteProbability: number;
  /** What moves as one region: classes that touch (within 2 px) together, or each class. */
  readonly pasteGroups: "touching" | "class";
  readonly pasteScale: readonly [number, number];
  readonly pasteRotationDeg: number;
  /** Paste shift range as a fraction of width/height. Default 0.15. */
  readonly pasteTranslate: number;
  readonly pasteFlipProbability: number;
  /** Multiplicative gain range of a pasted region's intensities. Default [0.95, 1.05]. */
  readonly pasteGain: readonly [number, number];
  /** Feather (Gaussian sigma, px) of pasted edges; 0 = hard edges. Default 1. */
  readonly seamSigma: number;
  /** In-paint the moved classes' original places on an exemplar background. Default true. */
  readonly inpaint: boolean;
  /** Global intensity change: probability, contrast, gamma (log-uniform), noise std fraction. */
  readonly intensityProbability: number;
  readonly contrast: readonly [number, number];
  readonly gamma: readonly [number, number];
  readonly noiseStd: readonly [number, number];
  /** Probability of a random intensity curve (transforms/intensity.ts) and its points. */
  readonly curveProbability: number;
  readonly curvePoints: number;
}

export const defaultSynthesisConfig: SynthesisConfig = {
  affine: {},
  elastic: {},
  backgroundProbability: 0.25,
  backgroundLabels: "background",
  pasteProbability: 0.9,
  pasteGroups: "touching",
  pasteScale: [0.8, 1.2],
  pasteRotationDeg: 15,
  pasteTranslate: 0.15,
  pasteFlipProbability: 0.5,
  pasteGain: [0.95, 1.05],
  seamSigma: 1,
  inpaint: true,
  intensityProbability: 0.8,
  contrast: [0.75, 1.25],
  gamma: [0.7, 1.5],
  noiseStd: [0, 0.03],
  curveProbability: 0,
  curvePoints: 5,
};

export interface PasteParams {
  /** The classes of the region (one, or a touching group). */
  readonly classes: readonly number[];
  /** Transform about the region centroid, in the deformed exemplar's pixel grid. */
  readonly affine: AffineParams;
  readonly flip: boolean;
  readonly gain: number;
}

export interface SynthesisParams {
  readonly affine: AffineParams;
  readonly elastic: ElasticParams;
  /** -1: the deformed exemplar; otherwise the index into `backgrounds`. */
  readonly background: number;
  /** Pastes in painter's order (later ones on top). */
  readonly pastes: readonly PasteParams[];
  readonly intensity?: {
    readonly contrast: number;
    readonly gamma: number;
    readonly noiseStd: number;
    readonly noiseSeed: number;
    readonly curve?: readonly number[];
  };
}

export interface SynthesizedSample {
  readonly image: Image2D;
  readonly label: Label2D;
  readonly params: SynthesisParams;
}

/** Label of pixels whose class nobody knows: left out of the losses (as refine's pseudo-labels). */
const UNKNOWN_LABEL = 255;

/** Known background around the pastes on an unlabelled background: the seam's feather (σ 1 px). */
const KNOWN_RING = 3;

/** Classes (> 0) present in a label map, ascending. */
export function classesIn(label: Label2D): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < label.data.length; i++) seen[label.data[i]] = 1;
  const out: number[] = [];
  for (let c = 1; c < 256; c++) if (seen[c]) out.push(c);
  return out;
}

export function synthesizeSample(
  exemplar: Exemplar,
  backgrounds: readonly Image2D[],
  rng: Rng,
  config: Partial<SynthesisConfig> = {},
): SynthesizedSample {
  const c = { ...defaultSynthesisConfig, ...config };
  const { image: exImage, label: exLabel } = exemplar;
  assertSameShape(exImage, exLabel, "exemplar image vs label");
  const { width: w, height: h } = exImage;
  const rDeform = rng.fork("deform"), rBack = rng.fork("background");
  const rPaste = rng.fork("paste"), rInt = rng.fork("intensity");

  // 1. Global deformation: one field = affine displacement + elastic displacement.
  const affineT = new RandomAffine(c.affine), elasticT = new RandomElastic(c.elastic);
  const affine = affineT.sample(rDeform, w, h);
  const elastic = elasticT.sample(rDeform, w, h);
  const field = addFields(
    affineToField(RandomAffine.matrix(affine, w, h), w, h),
    RandomElastic.field(elastic, w, h),
  );
  const fill = minOf(exImage.data);
  const deformed = warp(exImage, exLabel, field, { fill });

  // 2. Which regions move, in which order, and onto which background.
  const regions = c.pasteGroups === "touching"
    ? touchingGroups(exLabel)
    : classesIn(exLabel).map((k) => [k]);
  const pastedRegions = rPaste.shuffle(regions.filter(() => rPaste.bool(c.pasteProbability)));
  const pasted = pastedRegions.flat();
  const useOther = backgrounds.length > 0 && rBack.bool(c.backgroundProbability);
  const background = useOther ? rBack.int(0, backgrounds.length) : -1;
  let outImage: Float32Array, outLabel: Uint8Array;
  if (background >= 0) {
    const bg = backgrounds[background];
    assertSameShape(bg, exImage, "background vs exemplar");
    outImage = bg.data.slice();
    outLabel = new Uint8Array(w * h);
  } else {
    outImage = deformed.image.data;
    outLabel = deformed.label.data;
    if (c.inpaint && pasted.length) {
      const moved = new Uint8Array(256);
      for (const k of pasted) moved[k] = 1;
      // known: 0 = to fill (moved classes), 1 = fill source (label 0 at least 2 px from any
      // structure, so partial-volume edges do not bleed in), 2 = kept but not a source.
      // The 2 px partial-volume rim of a moved region is filled too (no ghost outlines).
      const near = dilate(outLabel, w, h, 2);
      const movedMask = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) movedMask[i] = moved[outLabel[i]];
      const rim = dilate(movedMask, w, h, 2);
      const known = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) {
        const l = outLabel[i];
        if (moved[l] || (l === 0 && rim[i])) {
          outLabel[i] = 0;
          known[i] = 0;
        } else known[i] = l === 0 && !near[i] ? 1 : 2;
      }
      inpaint(outImage, w, h, known, rBack.fork("inpaint"));
    }
  }

  // 3. Copy-paste of class regions, each with its own transform about its centroid.
  const exMask = new Float32Array(w * h);
  const alpha = new Float32Array(w * h);
  const region = new Float32Array(w * h);
  const regionLabel = new Uint8Array(w * h);
  const pastes: PasteParams[] = [];
  for (const classes of pastedRegions) {
    const inRegion = new Uint8Array(256);
    for (const k of classes) inRegion[k] = 1;
    const centre = centroid(deformed.label.data, w, h, inRegion) ??
      centroid(exLabel.data, w, h, inRegion)!;
    const p: AffineParams = {
      scale: rPaste.uniform(c.pasteScale[0], c.pasteScale[1]),
      rotationDeg: rPaste.uniform(-c.pasteRotationDeg, c.pasteRotationDeg),
      tx: rPaste.uniform(-c.pasteTranslate, c.pasteTranslate) * w,
      ty: rPaste.uniform(-c.pasteTranslate, c.pasteTranslate) * h,
    };
    const flip = rPaste.bool(c.pasteFlipProbability);
    const gain = rPaste.uniform(c.pasteGain[0], c.pasteGain[1]);
    pastes.push({ classes, affine: p, flip, gain });
    // Forward: flip about the centroid, then scale/rotate/shift; pull back, then through `field`.
    const flipM = flip ? ([-1, 0, 2 * centre[0], 0, 1, 0] as const) : ([1, 0, 0, 0, 1, 0] as const);
    const forward = compose(RandomAffine.forward(p, w, h, centre[0], centre[1]), flipM);
    const toSource = chainAffineField(invert(forward), field);
    for (let i = 0; i < w * h; i++) exMask[i] = inRegion[exLabel.data[i]];
    warp(exImage, exLabel, toSource, { fill, outImage: region, outLabel: regionLabel });
    warp(image2d(w, h, exMask), undefined, toSource, { fill: 0, outImage: alpha });
    gaussianBlur(alpha, w, h, c.seamSigma);
    for (let i = 0; i < w * h; i++) {
      const l = regionLabel[i];
      // The feather may carry the region's own surroundings (label 0), never other structures.
      const a = inRegion[l] || l === 0 ? alpha[i] : 0;
      if (a > 0) outImage[i] += a * (gain * region[i] - outImage[i]);
      if (inRegion[l]) outLabel[i] = l;
    }
  }

  if (background >= 0 && c.backgroundLabels === "unknown") {
    const known = dilate(outLabel, w, h, KNOWN_RING);
    for (let i = 0; i < w * h; i++) if (!known[i]) outLabel[i] = UNKNOWN_LABEL;
  }

  // 4. Global intensity change (own Rng stream: geometry does not depend on it).
  let intensity: SynthesisParams["intensity"];
  if (rInt.bool(c.intensityProbability)) {
    const lg = [Math.log(c.gamma[0]), Math.log(c.gamma[1])];
    intensity = {
      contrast: rInt.uniform(c.contrast[0], c.contrast[1]),
      gamma: Math.exp(rInt.uniform(lg[0], lg[1])),
      noiseStd: rInt.uniform(c.noiseStd[0], c.noiseStd[1]),
      noiseSeed: rInt.nextUint32(),
      // Drawn last and only when enabled: samples without curves stay as they were.
      ...(c.curveProbability > 0 && rInt.bool(c.curveProbability)
        ? { curve: sampleCurve(rInt, c.curvePoints) }
        : {}),
    };
    if (intensity.curve) intensityCurve(outImage, intensity.curve);
    colorJitter(outImage, { brightness: 1, contrast: intensity.contrast, gamma: intensity.gamma });
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < outImage.length; i++) {
      lo = Math.min(lo, outImage[i]);
      hi = Math.max(hi, outImage[i]);
    }
    addNormal(outImage, new Rng(intensity.noiseSeed), intensity.noiseStd * (hi - lo));
  }

  return {
    image: image2d(w, h, outImage),
    label: label2d(w, h, outLabel),
    params: { affine, elastic, background, pastes, intensity },
  };
}

/**
 * A sample for a 2.5D model: the exemplar slice and its neighbours (`planes`, centre in the
 * middle; the label is the centre's) each go through `synthesizeSample` with the same draws, onto
 * the same plane of the same background stack (`backgrounds[c]`: plane c of every background), so
 * the neighbours move, blend and change intensity with the centre. Returns C x H x W.
 */
export function synthesizeStack(
  planes: readonly Image2D[],
  label: Label2D,
  backgrounds: readonly (readonly Image2D[])[],
  rng: Rng,
  config: Partial<SynthesisConfig> = {},
): SynthesizedSample & { readonly planes: Float32Array } {
  const { width: w, height: h } = label, plane = w * h;
  const out = new Float32Array(planes.length * plane);
  let centre: SynthesizedSample | undefined;
  planes.forEach((image, c) => {
    const s = synthesizeSample(
      { image, label },
      backgrounds[c] ?? [],
      new Rng(rng.state()),
      config,
    );
    out.set(s.image.data, c * plane);
    if (c === planes.length >> 1) centre = s;
  });
  return { ...centre!, planes: out };
}

/** `count` samples; sample i uses rng.fork(i), exactly as a shard computing only i would. */
export function synthesizeMany(
  exemplar: Exemplar,
  backgrounds: readonly Image2D[],
  rng: Rng,
  count: number,
  config: Partial<SynthesisConfig> = {},
  first = 0,
): SynthesizedSample[] {
  const out: SynthesizedSample[] = [];
  for (let i = first; i < first + count; i++) {
    out.push(synthesizeSample(exemplar, backgrounds, rng.fork(i), config));
  }
  return out;
}

function minOf(d: Float32Array): number {
  let m = Infinity;
  for (let i = 0; i < d.length; i++) if (d[i] < m) m = d[i];
  return Number.isFinite(m) ? m : 0;
}

/** 1 where a non-zero label lies within Chebyshev distance r (separable max filter). */
function dilate(lab: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const rows = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!lab[x + w * y]) continue;
      for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) rows[xx + w * y] = 1;
    }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!rows[x + w * y]) continue;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) out[x + w * yy] = 1;
    }
  }
  return out;
}

/**
 * Classes grouped by contact: two classes whose regions come within 2 px of each other belong
 * to one group (transitively), so nested and touching structures keep their relation.
 */
export function touchingGroups(label: Label2D): number[][] {
  const { width: w, height: h, data } = label;
  const classes = classesIn(label);
  const parent = new Map(classes.map((k) => [k, k]));
  const find = (k: number): number => (parent.get(k) === k ? k : find(parent.get(k)!));
  for (const k of classes) {
    const near = dilate(data.map((v) => (v === k ? 1 : 0)), w, h, 2);
    for (let i = 0; i < w * h; i++) {
      const other = data[i];
      if (near[i] && other !== 0 && other !== k) parent.set(find(other), find(k));
    }
  }
  const groups = new Map<number, number[]>();
  for (const k of classes) groups.set(find(k), [...(groups.get(find(k)) ?? []), k]);
  return [...groups.values()];
}

/** Centroid of the pixels whose label is marked in `member` (a 256-entry lookup). */
function centroid(
  lab: Uint8Array,
  w: number,
  h: number,
  member: Uint8Array,
): [number, number] | undefined {
  let sx = 0, sy = 0, n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (member[lab[x + w * y]]) {
        sx += x;
        sy += y;
        n++;
      }
    }
  }
  return n ? [sx / n, sy / n] : undefined;
}

/**
 * Push-pull in-painting: pixels with known[i] === 0 are filled from a pyramid of averages of
 * the pixels with known[i] === 1 (pixels marked 2 are kept but do not feed the fill), then get
 * noise matching the high-frequency level of the sources. In place.
 */
export function inpaint(data: Float32Array, w: number, h: number, known: Uint8Array, rng: Rng) {
  // Pull: weighted averages at halving resolutions until every coarse cell has support.
  const levels: { v: Float32Array; m: Float32Array; w: number; h: number }[] = [];
  let v = new Float32Array(w * h), m = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    m[i] = known[i] === 1 ? 1 : 0;
    v[i] = m[i] ? data[i] : 0;
  }
  let lw = w, lh = h;
  levels.push({ v, m, w, h });
  while (lw > 1 || lh > 1) {
    const nw = Math.ceil(lw / 2), nh = Math.ceil(lh / 2);
    const nv = new Float32Array(nw * nh), nm = new Float32Array(nw * nh);
    for (let y = 0; y < lh; y++) {
      for (let x = 0; x < lw; x++) {
        const j = (x >> 1) + nw * (y >> 1);
        const wt = m[x + lw * y];
        nv[j] += wt * v[x + lw * y];
        nm[j] += wt;
      }
    }
    let full = true;
    for (let j = 0; j < nw * nh; j++) {
      if (nm[j] > 0) nv[j] /= nm[j];
      else full = false;
      nm[j] = Math.min(1, nm[j]);
    }
    v = nv;
    m = nm;
    lw = nw;
    lh = nh;
    levels.push({ v, m, w: lw, h: lh });
    if (full && lw * lh <= 4) break;
  }
  // Push: fill each level's gaps from the bilinear upsampling of the coarser one.
  for (let l = levels.length - 2; l >= 0; l--) {
    const fine = levels[l], coarse = levels[l + 1];
    for (let y = 0; y < fine.h; y++) {
      const cy = Math.min(coarse.h - 1, Math.max(0, (y + 0.5) / 2 - 0.5));
      const y0 = Math.floor(cy), y1 = Math.min(coarse.h - 1, y0 + 1), fy = cy - y0;
      for (let x = 0; x < fine.w; x++) {
        const i = x + fine.w * y;
        const mi = fine.m[i];
        if (mi >= 1) continue;
        const cx = Math.min(coarse.w - 1, Math.max(0, (x + 0.5) / 2 - 0.5));
        const x0 = Math.floor(cx), x1 = Math.min(coarse.w - 1, x0 + 1), fx = cx - x0;
        const cv = coarse.v;
        const top = cv[x0 + coarse.w * y0] * (1 - fx) + cv[x1 + coarse.w * y0] * fx;
        const bot = cv[x0 + coarse.w * y1] * (1 - fx) + cv[x1 + coarse.w * y1] * fx;
        fine.v[i] = mi * fine.v[i] + (1 - mi) * (top * (1 - fy) + bot * fy);
      }
    }
  }
  // Noise level of the sources from neighbour differences (mean |d| * sqrt(pi)/2 = sigma).
  let sum = 0, count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x + 1 < w; x++) {
      const i = x + w * y;
      if (known[i] === 1 && known[i + 1] === 1) {
        sum += Math.abs(data[i + 1] - data[i]);
        count++;
      }
    }
  }
  const sigma = count ? (sum / count) * (Math.sqrt(Math.PI) / 2) : 0;
  const fillV = levels[0].v;
  const noise = new Float32Array(w * h);
  addNormal(noise, rng, sigma);
  for (let i = 0; i < w * h; i++) if (known[i] === 0) data[i] = fillV[i] + noise[i];
}
