/**
 * Random geometric transforms for 2D planes. Every transform moves the image (linear
 * interpolation) and its label (nearest neighbour) together with the same parameters, so they
 * can never drift apart. Each random transform is a small object: `sample(rng, w, h)` draws an
 * explicit parameter record (tests and logs can see what was applied), `apply(params, image,
 * label)` is deterministic given the record. The resampling core is in warp.ts (re-exported).
 */
import type { Rng } from "../random/rng.ts";
import type { Image2D, Label2D } from "./image2d.ts";
import { upsampleGrid } from "./smooth.ts";
import {
  type Affine2D,
  compose,
  type DisplacementField,
  flipMatrix,
  invert,
  rot90Matrix,
  warp,
  warpAffine,
  type Warped,
  type WarpOptions,
} from "./warp.ts";

export * from "./warp.ts";

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
