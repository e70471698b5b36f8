/**
 * Resampling core for 2D planes: affine maps, displacement fields, and the single `warp` /
 * `warpAffine` that move an image (linear interpolation) and its label (nearest neighbour)
 * through the same pull-back map, plus exact rot90/flip. Random transforms live in
 * geometric.ts, which re-exports everything here.
 *
 * Coordinates: pixel centres at integers, x = column, y = row. All mappings are pull-backs:
 * output pixel (x, y) reads the input at (xs, ys).
 */
import { type Image2D, image2d, type Label2D, label2d, minMax } from "./image2d.ts";

/** Pull-back affine map: xs = a*x + b*y + c, ys = d*x + e*y + f. */
export type Affine2D = readonly [number, number, number, number, number, number];

/** Dense pull-back displacement: output (x, y) reads the input at (x + dx, y + dy). */
export interface DisplacementField {
  readonly dx: Float32Array;
  readonly dy: Float32Array;
  readonly width: number;
  readonly height: number;
}

export interface WarpOptions {
  /** Image value outside the input (default: the input's minimum). Labels outside are 0. */
  readonly fill?: number;
  /** Output size for affine warps (default: the input size). */
  readonly width?: number;
  readonly height?: number;
  /** Caller-owned output buffers (reused to avoid allocations). */
  readonly outImage?: Float32Array;
  readonly outLabel?: Uint8Array;
}

export interface Warped<L extends Label2D | undefined> {
  readonly image: Image2D;
  readonly label: L;
}

export const IDENTITY: Affine2D = [1, 0, 0, 0, 1, 0];

/** compose(A, B) maps p to A(B(p)): apply B's pull-back first, then A's. */
export function compose(A: Affine2D, B: Affine2D): Affine2D {
  const [a, b, c, d, e, f] = A;
  const [p, q, r, s, t, u] = B;
  return [
    a * p + b * s,
    a * q + b * t,
    a * r + b * u + c,
    d * p + e * s,
    d * q + e * t,
    d * r + e * u + f,
  ];
}

/** Inverse of an affine map (throws when singular). */
export function invert(m: Affine2D): Affine2D {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (Math.abs(det) < 1e-12) throw new RangeError("singular affine map");
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** Bilinear sample; neighbours outside the plane read `fill`. Exact at integer coordinates. */
function sampleLinear(
  d: Float32Array,
  w: number,
  h: number,
  xs: number,
  ys: number,
  fill: number,
): number {
  const x0 = Math.floor(xs);
  const y0 = Math.floor(ys);
  const fx = xs - x0;
  const fy = ys - y0;
  if (x0 >= 0 && y0 >= 0 && x0 < w - 1 && y0 < h - 1) {
    const i = x0 + w * y0;
    const a = d[i], b = d[i + 1], c = d[i + w], e = d[i + w + 1];
    const top = a + (b - a) * fx;
    const bot = c + (e - c) * fx;
    return top + (bot - top) * fy;
  }
  if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) return fill;
  const inX0 = x0 >= 0, inX1 = x0 + 1 < w, inY0 = y0 >= 0, inY1 = y0 + 1 < h;
  const i = x0 + w * y0;
  const a = inX0 && inY0 ? d[i] : fill;
  const b = inX1 && inY0 ? d[i + 1] : fill;
  const c = inX0 && inY1 ? d[i + w] : fill;
  const e = inX1 && inY1 ? d[i + w + 1] : fill;
  const top = a + (b - a) * fx;
  const bot = c + (e - c) * fx;
  return top + (bot - top) * fy;
}

function sampleNearest(l: Uint8Array, w: number, h: number, xs: number, ys: number): number {
  const x = Math.round(xs);
  const y = Math.round(ys);
  return x >= 0 && y >= 0 && x < w && y < h ? l[x + w * y] : 0;
}

function outputs<L extends Label2D | undefined>(
  label: L,
  w: number,
  h: number,
  opts: WarpOptions,
): { img: Float32Array; lab: Uint8Array | undefined } {
  const img = opts.outImage ?? new Float32Array(w * h);
  if (img.length !== w * h) throw new RangeError("outImage has the wrong size");
  let lab: Uint8Array | undefined;
  if (label) {
    lab = opts.outLabel ?? new Uint8Array(w * h);
    if (lab.length !== w * h) throw new RangeError("outLabel has the wrong size");
  }
  return { img, lab };
}

function checkPair(image: Image2D, label: Label2D | undefined): void {
  if (label && (label.width !== image.width || label.height !== image.height)) {
    throw new RangeError(
      `label ${label.width}x${label.height} does not match image ${image.width}x${image.height}`,
    );
  }
}

/** Resample image (linear) and label (nearest) through one pull-back affine map. */
export function warpAffine<L extends Label2D | undefined>(
  image: Image2D,
  label: L,
  m: Affine2D,
  opts: WarpOptions = {},
): Warped<L> {
  checkPair(image, label);
  const { width: sw, height: sh, data: src } = image;
  const w = opts.width ?? sw;
  const h = opts.height ?? sh;
  const fill = opts.fill ?? minMax(src)[0];
  const { img, lab } = outputs(label, w, h, opts);
  const [a, b, c, d, e, f] = m;
  const ld = label?.data;
  for (let y = 0; y < h; y++) {
    let xs = b * y + c;
    let ys = e * y + f;
    const o = y * w;
    for (let x = 0; x < w; x++) {
      img[o + x] = sampleLinear(src, sw, sh, xs, ys, fill);
      if (lab) lab[o + x] = sampleNearest(ld!, sw, sh, xs, ys);
      xs += a;
      ys += d;
    }
  }
  return {
    image: image2d(w, h, img),
    label: (lab ? label2d(w, h, lab) : undefined) as L,
  };
}

/** Resample image (linear) and label (nearest) through a dense displacement field. */
export function warp<L extends Label2D | undefined>(
  image: Image2D,
  label: L,
  field: DisplacementField,
  opts: WarpOptions = {},
): Warped<L> {
  checkPair(image, label);
  const { width: sw, height: sh, data: src } = image;
  const { width: w, height: h, dx, dy } = field;
  const fill = opts.fill ?? minMax(src)[0];
  const { img, lab } = outputs(label, w, h, opts);
  const ld = label?.data;
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const xs = x + dx[o + x];
      const ys = y + dy[o + x];
      img[o + x] = sampleLinear(src, sw, sh, xs, ys, fill);
      if (lab) lab[o + x] = sampleNearest(ld!, sw, sh, xs, ys);
    }
  }
  return {
    image: image2d(w, h, img),
    label: (lab ? label2d(w, h, lab) : undefined) as L,
  };
}

/** The displacement field of an affine pull-back on a w x h output grid. */
export function affineToField(m: Affine2D, w: number, h: number): DisplacementField {
  const dx = new Float32Array(w * h);
  const dy = new Float32Array(w * h);
  const [a, b, c, d, e, f] = m;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      dx[x + w * y] = a * x + b * y + c - x;
      dy[x + w * y] = d * x + e * y + f - y;
    }
  }
  return { dx, dy, width: w, height: h };
}

/** Sum of two displacement fields of the same size (a new field). */
export function addFields(p: DisplacementField, q: DisplacementField): DisplacementField {
  if (p.width !== q.width || p.height !== q.height) throw new RangeError("field sizes differ");
  const dx = new Float32Array(p.dx.length);
  const dy = new Float32Array(p.dy.length);
  for (let i = 0; i < dx.length; i++) {
    dx[i] = p.dx[i] + q.dx[i];
    dy[i] = p.dy[i] + q.dy[i];
  }
  return { dx, dy, width: p.width, height: p.height };
}

// ---------------------------------------------------------------------------------------------
// Exact index permutations (no interpolation): rot90 and flips.

/** Pull-back map of k counter-clockwise quarter turns (numpy rot90 on an HxW array). */
export function rot90Matrix(k: number, w: number, h: number): Affine2D {
  switch (((k % 4) + 4) % 4) {
    case 0:
      return IDENTITY;
    case 1: // output is h wide, w high
      return [0, -1, w - 1, 1, 0, 0];
    case 2:
      return [-1, 0, w - 1, 0, -1, h - 1];
    default:
      return [0, 1, 0, -1, 0, h - 1];
  }
}

export function flipMatrix(flipX: boolean, flipY: boolean, w: number, h: number): Affine2D {
  return [flipX ? -1 : 1, 0, flipX ? w - 1 : 0, 0, flipY ? -1 : 1, flipY ? h - 1 : 0];
}

/** Rotate image and label by k quarter turns (odd k swaps width and height). Exact. */
export function rot90<L extends Label2D | undefined>(
  image: Image2D,
  label: L,
  k: number,
): Warped<L> {
  const odd = (((k % 4) + 4) % 4) % 2 === 1;
  const w = odd ? image.height : image.width;
  const h = odd ? image.width : image.height;
  return warpAffine(image, label, rot90Matrix(k, image.width, image.height), {
    width: w,
    height: h,
    fill: 0,
  });
}

/** Flip image and label along x (columns reversed) and/or y (rows reversed). Exact. */
export function flip<L extends Label2D | undefined>(
  image: Image2D,
  label: L,
  flipX: boolean,
  flipY: boolean,
): Warped<L> {
  return warpAffine(image, label, flipMatrix(flipX, flipY, image.width, image.height), { fill: 0 });
}

/**
 * Chain an affine pull-back A (output -> intermediate) with a field F defined on the
 * intermediate grid (intermediate -> input): output p reads the input at q + F(q), q = A p.
 * F is sampled bilinearly with edge clamping. Output size defaults to F's size.
 */
export function chainAffineField(
  A: Affine2D,
  F: DisplacementField,
  width = F.width,
  height = F.height,
): DisplacementField {
  const dx = new Float32Array(width * height);
  const dy = new Float32Array(width * height);
  const [a, b, c, d, e, f] = A;
  const fw = F.width, fh = F.height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const qx = a * x + b * y + c;
      const qy = d * x + e * y + f;
      const cx = qx < 0 ? 0 : qx > fw - 1 ? fw - 1 : qx;
      const cy = qy < 0 ? 0 : qy > fh - 1 ? fh - 1 : qy;
      const i = x + width * y;
      dx[i] = qx - x + sampleLinear(F.dx, fw, fh, cx, cy, 0);
      dy[i] = qy - y + sampleLinear(F.dy, fw, fh, cx, cy, 0);
    }
  }
  return { dx, dy, width, height };
}
