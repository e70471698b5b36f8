/**
 * 2D image and label planes used by the transforms. A plane is one z-slice of a `Volume`:
 * row-major, `data[x + width * y]`, so `sliceOf(volume, z)` is a zero-copy view.
 */
import type { Volume } from "../io/volume.ts";

export interface Image2D {
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

export interface Label2D {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Axis-aligned box in pixels: columns [x, x+w), rows [y, y+h). */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Zero-copy view of slice z of a volume (works for image and label volumes). */
export function sliceOf(volume: Volume, z?: number): Image2D;
export function sliceOf(volume: Volume<Uint8Array>, z?: number): Label2D;
export function sliceOf(
  volume: Volume<Float32Array> | Volume<Uint8Array>,
  z = 0,
): Image2D | Label2D {
  const [nx, ny, nz] = volume.shape;
  if (z < 0 || z >= nz) throw new RangeError(`slice ${z} outside 0..${nz - 1}`);
  const n = nx * ny;
  return { data: volume.data.subarray(n * z, n * (z + 1)), width: nx, height: ny } as
    | Image2D
    | Label2D;
}

export const image2d = (width: number, height: number, data?: Float32Array): Image2D => {
  if (data && data.length !== width * height) {
    throw new RangeError(`image buffer has ${data.length} values, expected ${width * height}`);
  }
  return { data: data ?? new Float32Array(width * height), width, height };
};

export const label2d = (width: number, height: number, data?: Uint8Array): Label2D => {
  if (data && data.length !== width * height) {
    throw new RangeError(`label buffer has ${data.length} values, expected ${width * height}`);
  }
  return { data: data ?? new Uint8Array(width * height), width, height };
};

export function assertSameShape(
  a: { width: number; height: number },
  b: { width: number; height: number },
  what: string,
): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`${what}: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

/** Minimum and maximum of the finite values (0,0 for an empty or all-NaN buffer). */
export function minMax(data: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

export function mean(data: Float32Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i];
  return data.length ? s / data.length : 0;
}

/** Clamp a box to the image and round it to whole pixels. */
export function clampBox(box: Box, width: number, height: number): Box {
  const x0 = Math.max(0, Math.min(width, Math.round(box.x)));
  const y0 = Math.max(0, Math.min(height, Math.round(box.y)));
  const x1 = Math.max(x0, Math.min(width, Math.round(box.x + box.w)));
  const y1 = Math.max(y0, Math.min(height, Math.round(box.y + box.h)));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
