/**
 * Weak/strong views of 3D patches (D x H x W), the volumetric counterpart of views.ts: weak =
 * a zoom-in (a sub-box of the patch scaled up to it: trilinear for images, nearest for labels),
 * in-plane rot90 and flips along each axis (UA-MT's RandomRotFlip, labels moved the same way);
 * strong = the weak view plus a 3D CutMix box from another patch of the batch, an intensity
 * curve, brightness/contrast/gamma jitter, in-plane blur of every slice and Gaussian noise
 * (labels untouched; the boxes are reported so targets can be mixed the same way).
 */
import type { Rng } from "../random/rng.ts";
import type { WeakConfig } from "./geometric.ts";
import {
  applyIntensityChanges,
  type IntensityChanges,
  sampleIntensityChanges,
  type StrongConfig,
} from "./intensity.ts";
import { gaussianBlur } from "./smooth.ts";

/** [D, H, W]. */
export type Dims = readonly [number, number, number];

/** A box [z, y, x] start and [d, h, w] size. */
export interface Box3 {
  readonly at: Dims;
  readonly size: Dims;
}

export interface Weak3 {
  /** Zoom-in: the patch shows the box of 1/factor its size starting at `at` (voxels), scaled up. */
  readonly zoom?: { readonly factor: number; readonly at: readonly [number, number, number] };
  /** Quarter turns in the (y, x) plane (0 or 2 when H != W). */
  readonly rot90: number;
  /** Flip along z, y, x. */
  readonly flip: readonly [boolean, boolean, boolean];
}

export interface Strong3 extends IntensityChanges {
  readonly cutmix?: { readonly box: Box3; readonly partner: number };
}

/** The 2D views' settings the 3D views share (augment.weak / augment.strong). */
export type Weak3Config = Pick<
  WeakConfig,
  "rot90Probability" | "flipXProbability" | "flipYProbability" | "zoomProbability" | "zoom"
>;
export type Strong3Config = Omit<
  StrongConfig,
  "cutoutProbability" | "cutoutArea" | "cutoutAspect" | "cutoutFill" | "cutmixAspect"
>;

export function sampleWeak3(rng: Rng, dims: Dims, c: Weak3Config): Weak3 {
  let zoom: Weak3["zoom"];
  if (rng.bool(c.zoomProbability)) {
    const factor = rng.uniform(c.zoom[0], c.zoom[1]);
    const at = dims.map((n) => rng.uniform(0, n - n / factor)) as [number, number, number];
    zoom = { factor, at };
  }
  const [, h, w] = dims;
  const turns = rng.bool(c.rot90Probability) ? rng.int(0, 4) : 0;
  return {
    ...(zoom ? { zoom } : {}),
    rot90: h === w ? turns : (turns & 1 ? turns + 1 : turns) % 4,
    // z has no setting of its own: it flips as often as y.
    flip: [
      rng.bool(c.flipYProbability),
      rng.bool(c.flipYProbability),
      rng.bool(c.flipXProbability),
    ],
  };
}

/**
 * Writes the weak view of `src` into `out` (same dims); the same move for image and label (a
 * Uint8Array is a label: nearest-neighbour under zoom).
 */
export function applyWeak3<T extends Float32Array | Uint8Array>(
  p: Weak3,
  src: T,
  dims: Dims,
  out: T,
): void {
  const [d, h, w] = dims, nearest = src instanceof Uint8Array;
  const f = p.zoom?.factor ?? 1, [az, ay, ax] = p.zoom?.at ?? [0, 0, 0];
  // Source coordinate of zoomed-view voxel i along an axis: the centre of its 1/f-sized cell.
  const at = (a: number, i: number) => (f === 1 ? i : a + (i + 0.5) / f - 0.5);
  for (let z = 0, i = 0; z < d; z++) {
    const zr = p.flip[0] ? d - 1 - z : z;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        // Output (y, x) reads the view at the inverse quarter turn (square planes for odd turns).
        let yr = y, xr = x;
        if (p.rot90 === 1) [yr, xr] = [x, h - 1 - y];
        else if (p.rot90 === 2) [yr, xr] = [h - 1 - y, w - 1 - x];
        else if (p.rot90 === 3) [yr, xr] = [w - 1 - x, y];
        if (p.flip[1]) yr = h - 1 - yr;
        if (p.flip[2]) xr = w - 1 - xr;
        out[i] = f === 1
          ? src[(zr * h + yr) * w + xr]
          : sample(src, dims, at(az, zr), at(ay, yr), at(ax, xr), nearest);
      }
    }
  }
}

/** The volume at a continuous position: trilinear, or the nearest voxel; edges clamped. */
function sample(
  src: Float32Array | Uint8Array,
  [d, h, w]: Dims,
  z: number,
  y: number,
  x: number,
  nearest: boolean,
): number {
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  if (nearest) {
    return src[
      (clamp(Math.round(z), d) * h + clamp(Math.round(y), h)) * w + clamp(Math.round(x), w)
    ];
  }
  const [z0, y0, x0] = [Math.floor(z), Math.floor(y), Math.floor(x)];
  const [tz, ty, tx] = [z - z0, y - y0, x - x0];
  let v = 0;
  for (let k = 0; k < 8; k++) {
    const [dz, dy, dx] = [k >> 2, (k >> 1) & 1, k & 1];
    const weight = (dz ? tz : 1 - tz) * (dy ? ty : 1 - ty) * (dx ? tx : 1 - tx);
    if (weight === 0) continue;
    v += weight * src[(clamp(z0 + dz, d) * h + clamp(y0 + dy, h)) * w + clamp(x0 + dx, w)];
  }
  return v;
}

/** A box holding `fraction` of the patch, its sides in the patch's proportions, inside it. */
export function sampleBox3(rng: Rng, dims: Dims, fraction: readonly [number, number]): Box3 {
  const side = Math.cbrt(rng.uniform(fraction[0], fraction[1]));
  const size = dims.map((n) => Math.max(1, Math.min(n, Math.round(side * n)))) as unknown as Dims;
  const at = dims.map((n, i) => rng.int(0, n - size[i] + 1)) as unknown as Dims;
  return { at, size };
}

/** `partner` is the batch index of a CutMix partner, or undefined when none is available. */
export function sampleStrong3(
  rng: Rng,
  dims: Dims,
  c: Strong3Config,
  partner?: number,
): Strong3 {
  const cutmix = partner !== undefined && rng.bool(c.cutmixProbability)
    ? { box: sampleBox3(rng, dims, c.cutmixArea), partner }
    : undefined;
  return { ...(cutmix ? { cutmix } : {}), ...sampleIntensityChanges(rng, c) };
}

/** Sets `value` (or the partner's voxels) inside the box. */
export function fillBox3<T extends Float32Array | Uint8Array>(
  data: T,
  [, h, w]: Dims,
  { at, size }: Box3,
  from: T | number,
): void {
  for (let z = at[0]; z < at[0] + size[0]; z++) {
    for (let y = at[1]; y < at[1] + size[1]; y++) {
      const i = (z * h + y) * w + at[2];
      if (typeof from === "number") data.fill(from, i, i + size[2]);
      else data.set(from.subarray(i, i + size[2]), i);
    }
  }
}

/** Applies a strong view in place to the weak view `data`; `partner` fills the CutMix box. */
export function applyStrong3(p: Strong3, data: Float32Array, dims: Dims, partner?: Float32Array) {
  const [d, h, w] = dims;
  if (p.cutmix) {
    if (!partner) throw new RangeError("strong view asks for CutMix but no partner given");
    fillBox3(data, dims, p.cutmix.box, partner);
  }
  applyIntensityChanges(p, data, (sigma) => {
    for (let z = 0; z < d; z++) {
      gaussianBlur(data.subarray(z * h * w, (z + 1) * h * w), w, h, sigma);
    }
  });
}
