/**
 * Overlay images for the report: a grey image slice with the ground-truth contour and the
 * predicted contour drawn in two colours (and a third where they coincide), as an RGB PNG.
 *
 * Slices are row-major `data[x + width * y]` (a z-slice of a Volume is exactly that).
 */
import { encode } from "fast-png";
import { Buffer } from "node:buffer";

export type Rgb = readonly [number, number, number];

/** Colours used for the contours; the report's legend uses the same values. */
export const OVERLAY_COLORS = {
  label: [0, 214, 110] as Rgb, // ground truth: green
  pred: [255, 56, 196] as Rgb, // prediction: magenta
  both: [255, 214, 0] as Rgb, // both contours on the same pixel: yellow
} as const;

export const rgbCss = (c: Rgb): string => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

export interface OverlayOptions {
  /** Integer up-scaling (nearest neighbour). Default: the smallest making the long side ≥ 320. */
  scale?: number;
  /** Contour thickness in output pixels. Default: max(1, round(scale / 2)). */
  thickness?: number;
  /** Intensity window [lo, hi]; default: the 1st and 99th percentiles of the slice. */
  window?: readonly [number, number];
}

export interface OverlayImage {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, row-major. */
  rgb: Uint8Array;
}

/** 1st/99th percentile window of the finite values (full range for tiny or flat slices). */
function autoWindow(image: Float32Array): [number, number] {
  const finite = image.filter((v) => Number.isFinite(v)).sort();
  if (finite.length === 0) return [0, 1];
  const lo = finite[Math.floor(0.01 * (finite.length - 1))];
  const hi = finite[Math.ceil(0.99 * (finite.length - 1))];
  if (hi > lo) return [lo, hi];
  const min = finite[0], max = finite[finite.length - 1];
  return max > min ? [min, max] : [min - 0.5, min + 0.5];
}

/**
 * Contour of each class of `mask` at the up-scaled resolution: pixels inside the class with a
 * pixel of another value (or the image edge) within `t` pixels along x or y.
 */
function contourMask(
  mask: Uint8Array,
  width: number,
  height: number,
  scale: number,
  t: number,
): Uint8Array {
  const W = width * scale, H = height * scale;
  const at = (X: number, Y: number) => mask[Math.floor(X / scale) + width * Math.floor(Y / scale)];
  const out = new Uint8Array(W * H);
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      const v = at(X, Y);
      if (v === 0 || v === 255) continue; // 255: unknown (a synthetic sample's own background)
      let edge = false;
      for (let d = 1; d <= t && !edge; d++) {
        edge = X - d < 0 || X + d >= W || Y - d < 0 || Y + d >= H ||
          at(X - d, Y) !== v || at(X + d, Y) !== v || at(X, Y - d) !== v || at(X, Y + d) !== v;
      }
      if (edge) out[X + W * Y] = 1;
    }
  }
  return out;
}

/** The overlay as raw RGB (see {@link overlayPng} for the PNG). */
export function renderOverlay(
  image: Float32Array,
  label: Uint8Array,
  pred: Uint8Array,
  width: number,
  height: number,
  options: OverlayOptions = {},
): OverlayImage {
  const n = width * height;
  if (image.length !== n || label.length !== n || pred.length !== n) {
    throw new RangeError(
      `overlay slices must have ${width}x${height} = ${n} pixels ` +
        `(image ${image.length}, label ${label.length}, pred ${pred.length})`,
    );
  }
  const scale = options.scale ?? Math.max(1, Math.ceil(320 / Math.max(width, height)));
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`bad scale ${scale}`);
  const t = options.thickness ?? Math.max(1, Math.round(scale / 2));
  const [lo, hi] = options.window ?? autoWindow(image);
  const W = width * scale, H = height * scale;
  const rgb = new Uint8Array(W * H * 3);
  const gt = contourMask(label, width, height, scale, t);
  const pr = contourMask(pred, width, height, scale, t);
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      const o = X + W * Y;
      let color: Rgb;
      if (gt[o] && pr[o]) color = OVERLAY_COLORS.both;
      else if (gt[o]) color = OVERLAY_COLORS.label;
      else if (pr[o]) color = OVERLAY_COLORS.pred;
      else {
        const v = image[Math.floor(X / scale) + width * Math.floor(Y / scale)];
        const g = Number.isFinite(v)
          ? Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))))
          : 0;
        color = [g, g, g];
      }
      rgb[3 * o] = color[0];
      rgb[3 * o + 1] = color[1];
      rgb[3 * o + 2] = color[2];
    }
  }
  return { width: W, height: H, rgb };
}

/** PNG bytes (8-bit RGB) of the overlay of one slice. */
export function overlayPng(
  image: Float32Array,
  label: Uint8Array,
  pred: Uint8Array,
  width: number,
  height: number,
  options: OverlayOptions = {},
): Uint8Array {
  const o = renderOverlay(image, label, pred, width, height, options);
  return encode({ width: o.width, height: o.height, data: o.rgb, channels: 3, depth: 8 });
}

/** `data:image/png;base64,...` for embedding PNG bytes in the HTML report. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
}

/**
 * The z index of the slice to show for a case: the one with the most label ∪ prediction
 * foreground (ties: the lower z; 0 for empty volumes). Layout `data[x + nx * (y + ny * z)]`.
 */
export function pickSlice(
  label: Uint8Array,
  pred: Uint8Array,
  shape: readonly [number, number, number],
): number {
  const [nx, ny, nz] = shape;
  const plane = nx * ny;
  let best = 0, bestCount = -1;
  for (let z = 0; z < nz; z++) {
    let count = 0;
    for (let i = z * plane; i < (z + 1) * plane; i++) if (label[i] !== 0 || pred[i] !== 0) count++;
    if (count > bestCount) {
      bestCount = count;
      best = z;
    }
  }
  return best;
}

/** Slice z of a volume as its own array (a view: no copy). */
export function zSlice<T extends Float32Array | Uint8Array>(
  data: T,
  shape: readonly [number, number, number],
  z: number,
): T {
  const plane = shape[0] * shape[1];
  return data.subarray(z * plane, (z + 1) * plane) as T;
}

/**
 * PNG of rendered images tiled in rows (a row may be shorter), `gap` white pixels between
 * them; every image is placed at its own size in a cell as large as the largest.
 */
export function tilePng(rows: readonly (readonly OverlayImage[])[], gap = 4): Uint8Array {
  const cellW = Math.max(...rows.flat().map((o) => o.width));
  const cellH = Math.max(...rows.flat().map((o) => o.height));
  const cols = Math.max(...rows.map((r) => r.length));
  const W = cols * cellW + (cols - 1) * gap, H = rows.length * cellH + (rows.length - 1) * gap;
  const rgb = new Uint8Array(W * H * 3).fill(255);
  rows.forEach((row, r) =>
    row.forEach((o, c) => {
      const x0 = c * (cellW + gap), y0 = r * (cellH + gap);
      for (let y = 0; y < o.height; y++) {
        rgb.set(o.rgb.subarray(3 * y * o.width, 3 * (y + 1) * o.width), 3 * ((y0 + y) * W + x0));
      }
    })
  );
  return encode({ width: W, height: H, data: rgb, channels: 3, depth: 8 });
}
