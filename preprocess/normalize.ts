/**
 * Normalisation of one case into 2D slices, with a recorded, JSON-serialisable transform.
 *
 * Steps, in order: crop to the foreground / body box with a margin (original grid) ->
 * intensity (statistics over the cropped image) -> resample to a target spacing -> resize each
 * z-slice to a target 2D size -> slice extraction along z. The `CaseTransform` records every
 * value used, so `applyRecorded` repeats it on a new image (predict) and `restoreToOriginal`
 * maps slice predictions back into the original geometry (nearest un-resize / un-resample,
 * un-crop by padding with background).
 */
import { DataError } from "../io/errors.ts";
import type { LabelVolume, Volume } from "../io/volume.ts";
import {
  applyIntensity,
  fitIntensity,
  type IntensityParams,
  type IntensityRecipe,
} from "./intensity.ts";
import {
  boundingBox,
  type Box,
  cropData,
  nearestTarget,
  resampleData,
  resizeSlice,
  scaleAffine,
  shiftAffine,
  type Vec3,
} from "./geometry.ts";

export interface CropRecipe {
  /** "foreground": label != 0 (needs a label); "body": image voxels above `threshold`. */
  readonly by: "foreground" | "body";
  /** Voxels added on each side, per axis or for all. */
  readonly margin: number | readonly [number, number, number];
  /** Body threshold: voxels > threshold are body (default: != 0). */
  readonly threshold?: number;
  /** Crop only in-plane (keep all slices): "xy", or all axes (default "xyz"). */
  readonly axes?: "xy" | "xyz";
  /** What `applyRecorded` does for new images, which have no label: default "none" for a
   * foreground crop, "body" for a body crop. */
  readonly atPredict?: "body" | "none";
}

export interface NormalizeRecipe {
  readonly intensity: IntensityRecipe;
  readonly crop?: CropRecipe;
  /** Target spacing in mm: [x, y] keeps z, [x, y, z] resamples z too. */
  readonly spacing?: readonly [number, number] | readonly [number, number, number];
  /** Target 2D size [width, height] of every slice. */
  readonly size?: readonly [number, number];
  /**
   * How a slice becomes `size`: "stretch" resizes it (each case by its own factor, so anatomy
   * changes scale and aspect with the field of view); "pad" centres it and pads or crops to
   * `size`, keeping every case's voxel scale (set `spacing` to choose that scale). Default
   * "stretch".
   */
  readonly fit?: "stretch" | "pad";
  /** Slices emitted for cases with a label: all, or only those with foreground. Default all. */
  readonly slices?: "all" | "foreground";
}

/** Everything that was done to one case; JSON-serialisable. */
export interface CaseTransform {
  readonly version: 1;
  readonly recipe: NormalizeRecipe;
  readonly original: {
    readonly shape: Vec3;
    readonly spacing: Vec3;
    readonly affine: number[];
  };
  /** Crop box in the original voxel grid (the whole volume when nothing was cropped). */
  readonly crop: Box;
  readonly intensity: IntensityParams;
  /** Grid after resampling (before the 2D resize). */
  readonly resampled: { readonly shape: Vec3; readonly spacing: Vec3 };
  /** Grid of the emitted slices: width x height x depth, with its spacing and affine. */
  readonly output: { readonly shape: Vec3; readonly spacing: Vec3; readonly affine: number[] };
  /** fit "pad": output (x, y) = resampled (x, y) + offset; outside the slice: `fill`. */
  readonly pad?: { readonly offset: readonly [number, number]; readonly fill: number };
  /** z indices (output grid) of the emitted slices. */
  readonly slices: number[];
}

export interface Slice2D {
  readonly caseId: string;
  /** z index in the output grid of the case's transform. */
  readonly z: number;
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly label?: Uint8Array;
}

export interface NormalizeOptions {
  /** Slices (original z indices) whose label is valid, e.g. the exemplar's one annotated slice;
   * other slices are emitted without a label. Needs no z cropping or z resampling. */
  readonly labelledZ?: readonly number[];
}

const margin3 = (m: CropRecipe["margin"]): Vec3 => (typeof m === "number" ? [m, m, m] : [...m]);

function cropBox(
  image: Volume,
  label: LabelVolume | undefined,
  crop: CropRecipe | undefined,
  predict: boolean,
  file: string,
): Box {
  const whole: Box = { start: [0, 0, 0], size: [...image.shape] };
  if (!crop) return whole;
  let by: "foreground" | "body" | "none" = crop.by;
  if (predict) by = crop.atPredict ?? (crop.by === "foreground" ? "none" : "body");
  if (by === "none") return whole;
  if (by === "foreground" && !label) {
    throw new DataError(
      file,
      "foreground crop needs a label; this case has none",
      'use crop.by "body"',
    );
  }
  const t = crop.threshold;
  const inside = by === "foreground"
    ? (i: number) => label!.data[i] !== 0
    : t === undefined
    ? (i: number) => image.data[i] !== 0
    : (i: number) => image.data[i] > t;
  const box = boundingBox(image.shape, inside, margin3(crop.margin)) ?? whole;
  if (crop.axes === "xy") {
    return {
      start: [box.start[0], box.start[1], 0],
      size: [box.size[0], box.size[1], image.shape[2]],
    };
  }
  return box;
}

/** Fits and applies the recipe to one case. */
export function normalizeCase(
  caseId: string,
  image: Volume,
  label: LabelVolume | undefined,
  recipe: NormalizeRecipe,
  options: NormalizeOptions = {},
): { slices: Slice2D[]; transform: CaseTransform } {
  const box = cropBox(image, label, recipe.crop, false, caseId);
  const transform = buildTransform(image, box, recipe);
  if (options.labelledZ && (box.start[2] !== 0 || transform.output.shape[2] !== image.shape[2])) {
    throw new Error(
      'labelledZ needs a recipe without z cropping or z resampling (crop.axes: "xy")',
    );
  }
  return { slices: run(caseId, image, label, transform, options.labelledZ), transform };
}

/** The grid a crop of `size` voxels at `spacing` has after the recipe's resampling. */
export function resampledGrid(
  size: Readonly<Vec3>,
  spacing: Readonly<Vec3>,
  recipe: NormalizeRecipe,
): { shape: Vec3; spacing: Vec3 } {
  const sp = recipe.spacing;
  if (!sp) return { shape: [...size], spacing: [...spacing] };
  const to: Vec3 = [sp[0], sp[1], sp.length === 3 ? sp[2]! : spacing[2]];
  const rs = (a: number) => Math.max(1, Math.round((size[a] * spacing[a]) / to[a]));
  return { shape: [rs(0), rs(1), rs(2)], spacing: to };
}

/**
 * How much resizing an nx x ny slice to W x H stretches it: the larger of either side's
 * up-scaling and the change of aspect ratio. A slice cut along the wrong axis (a 10 x 256 strip
 * of a (Z, Y, X) volume read as (X, Y, Z)) stretches by 10 or more; real slices by 1-3.
 */
export function sliceStretch(inPlane: readonly number[], size: readonly [number, number]): number {
  const sx = size[0] / inPlane[0], sy = size[1] / inPlane[1];
  return Math.max(sx, sy, sx / sy, sy / sx);
}

function buildTransform(
  image: Volume,
  box: Box,
  recipe: NormalizeRecipe,
  intensity?: IntensityParams,
): CaseTransform {
  const cropped = cropData(image.data, image.shape, box);
  const fitted = intensity ?? fitIntensity(cropped, recipe.intensity);
  const { shape: resampledShape, spacing: toSpacing } = resampledGrid(
    box.size,
    image.spacing,
    recipe,
  );
  const [W, H] = recipe.size ?? [resampledShape[0], resampledShape[1]];
  const outShape: Vec3 = [W, H, resampledShape[2]];
  // Affine of the output grid: crop shift, then voxel scaling; the half-pixel resize also moves
  // the origin by half a voxel difference, padding by the offset.
  let affine = shiftAffine(image.affine, box.start);
  affine = scaleAffine(affine, [0, 1, 2].map((a) => toSpacing[a] / image.spacing[a]));
  let outSpacing: Vec3, pad: CaseTransform["pad"];
  if (recipe.fit === "pad") {
    const offset = [0, 1].map((a) => Math.floor((outShape[a] - resampledShape[a]) / 2)) as [
      number,
      number,
    ];
    pad = { offset, fill: minimum(applyIntensity(cropped, fitted)) };
    outSpacing = [...toSpacing];
    affine = shiftAffine(affine, [-offset[0], -offset[1], 0]);
  } else {
    const rx = resampledShape[0] / W, ry = resampledShape[1] / H;
    outSpacing = [toSpacing[0] * rx, toSpacing[1] * ry, toSpacing[2]];
    affine = shiftAffine(affine, [(rx - 1) / 2, (ry - 1) / 2, 0]);
    affine = scaleAffine(affine, [rx, ry, 1]);
  }
  return {
    version: 1,
    recipe,
    original: { shape: [...image.shape], spacing: [...image.spacing], affine: [...image.affine] },
    crop: { start: [...box.start], size: [...box.size] },
    intensity: fitted,
    resampled: { shape: resampledShape, spacing: toSpacing },
    output: { shape: outShape, spacing: outSpacing, affine },
    ...(pad ? { pad } : {}),
    slices: [],
  };
}

function minimum(data: Float32Array): number {
  let m = Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] < m) m = data[i];
  return Number.isFinite(m) ? m : 0;
}

/** Centres a rx x ry slice in a W x H one (offset may be negative: a crop), `fill` outside. */
function padSlice<T extends Float32Array | Uint8Array>(
  src: T,
  rx: number,
  ry: number,
  W: number,
  H: number,
  offset: readonly [number, number],
  fill: number,
): T {
  const out = new (src.constructor as { new (n: number): T })(W * H);
  out.fill(fill);
  const [ox, oy] = offset;
  const x0 = Math.max(0, ox), x1 = Math.min(W, rx + ox);
  for (let y = Math.max(0, oy); y < Math.min(H, ry + oy); y++) {
    const from = (y - oy) * rx - ox;
    out.set(src.subarray(from + x0, from + x1), y * W + x0);
  }
  return out;
}

function run(
  caseId: string,
  image: Volume,
  label: LabelVolume | undefined,
  t: CaseTransform,
  labelledZ?: readonly number[],
): Slice2D[] {
  const box = t.crop;
  let img = applyIntensity(cropData(image.data, image.shape, box), t.intensity);
  let lab = label ? cropData(label.data, label.shape, box) : undefined;
  let shape: Vec3 = [...box.size];
  if (t.recipe.spacing) {
    const from = image.spacing, to = t.resampled.spacing;
    const r = resampleData(img, shape, from, to, "linear");
    if (lab) lab = resampleData(lab, shape, from, to, "nearest").data;
    img = r.data;
    shape = r.shape;
  }
  const [rx, ry, nz] = shape;
  const [W, H] = t.output.shape;
  const onlyForeground = lab && t.recipe.slices === "foreground";
  const slices: Slice2D[] = [];
  const labelled = labelledZ ? new Set(labelledZ) : undefined;
  for (let z = 0; z < nz; z++) {
    const srcImg = img.subarray(z * rx * ry, (z + 1) * rx * ry);
    const srcLab = lab?.subarray(z * rx * ry, (z + 1) * rx * ry);
    const hasLabel = srcLab && (!labelled || labelled.has(z));
    if (onlyForeground && (!hasLabel || !srcLab!.some((v) => v !== 0))) continue;
    const sameSize = rx === W && ry === H;
    const pad = t.pad;
    const fit = <T extends Float32Array | Uint8Array>(
      src: T,
      mode: "linear" | "nearest",
      fill: number,
    ) =>
      sameSize
        ? src.slice() as T
        : pad
        ? padSlice(src, rx, ry, W, H, pad.offset, fill)
        : resizeSlice(src, rx, ry, W, H, mode);
    slices.push({
      caseId,
      z,
      width: W,
      height: H,
      image: fit(srcImg, "linear", pad?.fill ?? 0),
      ...(hasLabel ? { label: fit(srcLab!, "nearest", 0) } : {}),
    });
  }
  (t.slices as number[]).push(...slices.map((s) => s.z));
  return slices;
}

/**
 * Applies a recorded transform to an image. "recompute" (default, for new images at predict
 * time): the recipe is re-fitted to this image (intensity statistics, body box; a foreground
 * crop becomes `crop.atPredict`); all slices are emitted. "exact": the recorded crop box and
 * intensity values are reused, for the same case (its shape must match).
 */
export function applyRecorded(
  recorded: CaseTransform,
  image: Volume,
  mode: "recompute" | "exact" = "recompute",
  caseId = "predict",
): { slices: Slice2D[]; transform: CaseTransform } {
  const recipe: NormalizeRecipe = { ...recorded.recipe, slices: "all" };
  if (mode === "exact") {
    if (image.shape.some((s, i) => s !== recorded.original.shape[i])) {
      throw new DataError(
        caseId,
        `image shape ${image.shape.join("x")} differs from the recorded ${
          recorded.original.shape.join("x")
        }`,
      );
    }
    const t = buildTransform(image, recorded.crop, recipe, recorded.intensity);
    return { slices: run(caseId, image, undefined, t), transform: t };
  }
  const box = cropBox(image, undefined, recipe.crop, true, caseId);
  const t = buildTransform(image, box, recipe);
  return { slices: run(caseId, image, undefined, t), transform: t };
}

/**
 * Maps predicted label slices (output grid, W x H, keyed by z) back to the original geometry.
 * Missing slices and everything outside the crop box are background (0).
 */
export function restoreToOriginal(
  t: CaseTransform,
  predicted: ReadonlyMap<number, Uint8Array> | readonly { z: number; label: Uint8Array }[],
): LabelVolume {
  const map = predicted instanceof Map ? predicted as ReadonlyMap<number, Uint8Array> : new Map(
    (predicted as readonly { z: number; label: Uint8Array }[]).map((p) => [p.z, p.label]),
  );
  const [nx, ny, nz] = t.original.shape;
  const [W, H, D] = t.output.shape;
  const [rx, ry, rz] = t.resampled.shape;
  const out = new Uint8Array(nx * ny * nz);
  const { start, size } = t.crop;
  const from = t.original.spacing, to = t.resampled.spacing;
  const resampling = !!t.recipe.spacing;
  // original crop index -> resampled index (nearest) -> output index (nearest inverse resize)
  // -1: a voxel the padded output cropped away (predicted background).
  const axis = (a: 0 | 1 | 2, nRes: number, nOut: number) =>
    Int32Array.from({ length: size[a] }, (_, j) => {
      const r = resampling ? Math.min(nRes - 1, Math.round((j * from[a]) / to[a])) : j;
      if (a === 2) return r;
      if (!t.pad) return nearestTarget(r, nRes, nOut);
      const o = r + t.pad.offset[a];
      return o >= 0 && o < nOut ? o : -1;
    });
  const xs = axis(0, rx, W), ys = axis(1, ry, H), zs = axis(2, rz, D);
  for (let k = 0; k < size[2]; k++) {
    const slice = map.get(zs[k]);
    if (!slice) continue;
    if (slice.length !== W * H) {
      throw new Error(`prediction for z=${zs[k]} has ${slice.length} pixels, expected ${W * H}`);
    }
    for (let j = 0; j < size[1]; j++) {
      if (ys[j] < 0) continue;
      const row = W * ys[j];
      const o = nx * (start[1] + j + ny * (start[2] + k)) + start[0];
      for (let i = 0; i < size[0]; i++) if (xs[i] >= 0) out[o + i] = slice[row + xs[i]];
    }
  }
  return {
    data: out,
    shape: [nx, ny, nz],
    spacing: [...t.original.spacing],
    affine: [...t.original.affine],
  };
}
