/**
 * Geometric transforms for 2D planes. Every transform moves the image (linear interpolation)
 * and its label (nearest neighbour) together with the same parameters, so they can never drift
 * apart. Each random transform is a small object: `sample(rng, w, h)` draws an explicit
 * parameter record (tests and logs can see what was applied), `apply(params, image, label)`
 * is deterministic given the record.
 *
 * Coordinates: pixel centres at integers, x = column, y = row. All mappings are pull-backs:
 * output pixel (x, y) reads the input at (xs, ys).
 */
import type { Rng } from "../random/rng.ts";
import { type Image2D, image2d, type Label2D, label2d, minMax } from "./image2d.ts";
import { upsampleGrid } from "./smooth.ts";

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

// ---------------------------------------------------------------------------------------------
// Weak view (SSL4MIS random_rot_flip + CMEMS scale-crop).

export interface WeakConfig {
  /** Probability of drawing k uniformly in 0..3 (else k = 0). Default 1, as SSL4MIS. */
  readonly rot90Probability: number;
  /** Probability of flipping along x, and independently along y. Default 0.5 / 0. */
  readonly flipXProbability: number;
  readonly flipYProbability: number;
  /** Probability of a zoom-in scale-crop, and its zoom range (>= 1). Default 0.5, [1, 1.25]. */
  readonly zoomProbability: number;
  readonly zoom: readonly [number, number];
}

export const defaultWeakConfig: WeakConfig = {
  rot90Probability: 1,
  flipXProbability: 0.5,
  flipYProbability: 0,
  zoomProbability: 0.5,
  zoom: [1, 1.25],
};

export interface WeakParams {
  /** Counter-clockwise quarter turns (0..3; only 0 or 2 for non-square images). */
  readonly k: number;
  readonly flipX: boolean;
  readonly flipY: boolean;
  /** Zoom factor >= 1; the crop is width/zoom x height/zoom starting at (cropX, cropY). */
  readonly zoom: number;
  readonly cropX: number;
  readonly cropY: number;
}

/** Random rot90 + flip + zoom-in crop, same output size as the input. */
export class RandomWeak {
  readonly config: WeakConfig;
  constructor(config: Partial<WeakConfig> = {}) {
    this.config = { ...defaultWeakConfig, ...config };
    const [z0, z1] = this.config.zoom;
    if (!(z0 >= 1 && z1 >= z0)) throw new RangeError("weak zoom range must satisfy 1 <= lo <= hi");
  }

  sample(rng: Rng, width: number, height: number): WeakParams {
    const c = this.config;
    let k = 0;
    if (rng.bool(c.rot90Probability)) k = width === height ? rng.int(0, 4) : 2 * rng.int(0, 2);
    const flipX = rng.bool(c.flipXProbability);
    const flipY = rng.bool(c.flipYProbability);
    let zoom = 1, cropX = 0, cropY = 0;
    if (rng.bool(c.zoomProbability)) {
      zoom = rng.uniform(c.zoom[0], c.zoom[1]);
      cropX = rng.uniform(0, width - width / zoom);
      cropY = rng.uniform(0, height - height / zoom);
    }
    return { k, flipX, flipY, zoom, cropX, cropY };
  }

  /** Pull-back map: output -> crop -> un-flip -> un-rotate -> input. */
  static matrix(p: WeakParams, width: number, height: number): Affine2D {
    const s = 1 / p.zoom;
    const crop: Affine2D = [s, 0, p.cropX + 0.5 * s - 0.5, 0, s, p.cropY + 0.5 * s - 0.5];
    return compose(
      rot90Matrix(p.k, width, height),
      compose(flipMatrix(p.flipX, p.flipY, width, height), crop),
    );
  }

  apply<L extends Label2D | undefined>(
    p: WeakParams,
    image: Image2D,
    label: L,
    opts: WarpOptions = {},
  ): Warped<L> {
    if (p.k % 2 === 1 && image.width !== image.height) {
      throw new RangeError("odd rot90 in a same-size weak view needs a square image");
    }
    return warpAffine(image, label, RandomWeak.matrix(p, image.width, image.height), opts);
  }
}

// ---------------------------------------------------------------------------------------------
// Random affine (scale, rotation, translation about the image centre).

export interface AffineConfig {
  readonly probability: number;
  /** Isotropic scale range (forward: > 1 enlarges). Default [0.8, 1.2]. */
  readonly scale: readonly [number, number];
  /** Rotation range in degrees, uniform in [-r, r]. Default 15. */
  readonly rotationDeg: number;
  /** Translation range as a fraction of width/height, uniform in [-t, t]. Default 0.1. */
  readonly translate: number;
}

export const defaultAffineConfig: AffineConfig = {
  probability: 1,
  scale: [0.8, 1.2],
  rotationDeg: 15,
  translate: 0.1,
};

export interface AffineParams {
  readonly scale: number;
  readonly rotationDeg: number;
  /** Translation in pixels. */
  readonly tx: number;
  readonly ty: number;
}

export class RandomAffine {
  readonly config: AffineConfig;
  constructor(config: Partial<AffineConfig> = {}) {
    this.config = { ...defaultAffineConfig, ...config };
  }

  sample(rng: Rng, width: number, height: number): AffineParams {
    const c = this.config;
    if (!rng.bool(c.probability)) return { scale: 1, rotationDeg: 0, tx: 0, ty: 0 };
    return {
      scale: rng.uniform(c.scale[0], c.scale[1]),
      rotationDeg: rng.uniform(-c.rotationDeg, c.rotationDeg),
      tx: rng.uniform(-c.translate, c.translate) * width,
      ty: rng.uniform(-c.translate, c.translate) * height,
    };
  }

  /**
   * Pull-back of the forward map p_out = c + t + s R (p_in - c), about centre c; the forward
   * map is exposed by `RandomAffine.forward` for placing things.
   */
  static matrix(p: AffineParams, width: number, height: number, cx?: number, cy?: number) {
    return invert(RandomAffine.forward(p, width, height, cx, cy));
  }

  static forward(
    p: AffineParams,
    width: number,
    height: number,
    cx?: number,
    cy?: number,
  ): Affine2D {
    const ox = cx ?? (width - 1) / 2;
    const oy = cy ?? (height - 1) / 2;
    const th = (p.rotationDeg * Math.PI) / 180;
    const a = p.scale * Math.cos(th);
    const b = -p.scale * Math.sin(th);
    const d = p.scale * Math.sin(th);
    const e = p.scale * Math.cos(th);
    return [a, b, ox + p.tx - (a * ox + b * oy), d, e, oy + p.ty - (d * ox + e * oy)];
  }

  apply<L extends Label2D | undefined>(
    p: AffineParams,
    image: Image2D,
    label: L,
    opts: WarpOptions = {},
  ): Warped<L> {
    return warpAffine(image, label, RandomAffine.matrix(p, image.width, image.height), opts);
  }
}

// ---------------------------------------------------------------------------------------------
// Elastic deformation: Gaussian offsets on a coarse control grid, Catmull-Rom upsampled.

export interface ElasticConfig {
  readonly probability: number;
  /** Std of the control-point offsets, as a fraction of min(width, height). Default [0.01, 0.03]. */
  readonly alpha: readonly [number, number];
  /** Control-point spacing (smoothness), fraction of min(width, height). Default [0.125, 0.25]. */
  readonly sigma: readonly [number, number];
}

export const defaultElasticConfig: ElasticConfig = {
  probability: 1,
  alpha: [0.01, 0.03],
  sigma: [0.125, 0.25],
};

export interface ElasticParams {
  /** Offset std in pixels and control spacing in pixels actually used. */
  readonly alphaPx: number;
  readonly spacingPx: number;
  /** Control grid size and its offsets: x offsets then y offsets, each gridW*gridH. */
  readonly gridW: number;
  readonly gridH: number;
  readonly offsets: Float32Array;
}

export class RandomElastic {
  readonly config: ElasticConfig;
  constructor(config: Partial<ElasticConfig> = {}) {
    this.config = { ...defaultElasticConfig, ...config };
  }

  sample(rng: Rng, width: number, height: number): ElasticParams {
    const c = this.config;
    const side = Math.min(width, height);
    const on = rng.bool(c.probability);
    const alphaPx = on ? rng.uniform(c.alpha[0], c.alpha[1]) * side : 0;
    const spacingPx = Math.max(2, rng.uniform(c.sigma[0], c.sigma[1]) * side);
    const gridW = Math.max(2, Math.round((width - 1) / spacingPx) + 1);
    const gridH = Math.max(2, Math.round((height - 1) / spacingPx) + 1);
    const offsets = new Float32Array(2 * gridW * gridH);
    if (alphaPx > 0) {
      for (let i = 0; i < offsets.length; i++) {
        offsets[i] = rng.normal(0, alphaPx);
      }
    }
    return { alphaPx, spacingPx, gridW, gridH, offsets };
  }

  static field(p: ElasticParams, width: number, height: number): DisplacementField {
    const n = p.gridW * p.gridH;
    const g: [number, number, number] = [p.gridW, p.gridH, 1];
    const o: [number, number, number] = [width, height, 1];
    return {
      dx: upsampleGrid(p.offsets.subarray(0, n), g, o),
      dy: upsampleGrid(p.offsets.subarray(n, 2 * n), g, o),
      width,
      height,
    };
  }

  apply<L extends Label2D | undefined>(
    p: ElasticParams,
    image: Image2D,
    label: L,
    opts: WarpOptions = {},
  ): Warped<L> {
    return warp(image, label, RandomElastic.field(p, image.width, image.height), opts);
  }
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
