/**
 * Geometric steps of normalisation and their inverses: crop to a box, resample to a target
 * spacing (trilinear for images, nearest for labels), resize each z-slice to a target 2D size
 * (bilinear / nearest, half-pixel centres like OpenCV and torch's align_corners=False).
 */
import type { Volume } from "../io/volume.ts";

export type Vec3 = [number, number, number];

export interface Box {
  readonly start: readonly [number, number, number];
  readonly size: readonly [number, number, number];
}

/** Bounding box of voxels where `inside(i)` holds, grown by `margin` and clipped; null if none. */
export function boundingBox(
  shape: readonly [number, number, number],
  inside: (i: number) => boolean,
  margin: readonly [number, number, number],
): Box | null {
  const [nx, ny, nz] = shape;
  const lo = [nx, ny, nz], hi = [-1, -1, -1];
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        if (!inside(i)) continue;
        if (x < lo[0]) lo[0] = x;
        if (x > hi[0]) hi[0] = x;
        if (y < lo[1]) lo[1] = y;
        if (y > hi[1]) hi[1] = y;
        if (z < lo[2]) lo[2] = z;
        if (z > hi[2]) hi[2] = z;
      }
    }
  }
  if (hi[0] < 0) return null;
  const start = [0, 1, 2].map((a) => Math.max(0, lo[a] - margin[a])) as Vec3;
  const end = [0, 1, 2].map((a) => Math.min(shape[a], hi[a] + 1 + margin[a])) as Vec3;
  return { start, size: [end[0] - start[0], end[1] - start[1], end[2] - start[2]] };
}

export function cropData<T extends Float32Array | Uint8Array>(
  data: T,
  shape: readonly [number, number, number],
  box: Box,
): T {
  const [nx, ny] = shape;
  const [sx, sy, sz] = box.start, [cx, cy, cz] = box.size;
  const out = new (data.constructor as { new (n: number): T })(cx * cy * cz);
  for (let z = 0; z < cz; z++) {
    for (let y = 0; y < cy; y++) {
      const src = sx + nx * (sy + y + ny * (sz + z));
      out.set(data.subarray(src, src + cx) as never, cx * (y + cy * z));
    }
  }
  return out;
}

/** Affine after cropping (origin moves to the box start) or scaling voxel axes. */
export function shiftAffine(affine: readonly number[], start: readonly number[]): number[] {
  const a = [...affine];
  for (let r = 0; r < 3; r++) {
    a[r * 4 + 3] += affine[r * 4] * start[0] + affine[r * 4 + 1] * start[1] +
      affine[r * 4 + 2] * start[2];
  }
  return a;
}
export function scaleAffine(affine: readonly number[], factors: readonly number[]): number[] {
  const a = [...affine];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) a[r * 4 + c] *= factors[c];
  return a;
}

/** Output shape for resampling n voxels of size `from` to size `to` (origin voxel kept). */
export const resampledLength = (n: number, from: number, to: number) =>
  Math.max(1, Math.round((n * from) / to));

/** Linear interpolation table along one axis: out i samples input at i * step. */
function linearAxis(nIn: number, nOut: number, step: number) {
  const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), w = new Float32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    const p = Math.min(nIn - 1, i * step);
    const f = Math.floor(p);
    i0[i] = f;
    i1[i] = Math.min(nIn - 1, f + 1);
    w[i] = p - f;
  }
  return { i0, i1, w };
}

/**
 * Resamples to new voxel sizes: output voxel i lies at input voxel i * to/from (voxel 0 keeps its
 * world position). Trilinear for images, nearest for labels.
 */
export function resampleData<T extends Float32Array | Uint8Array>(
  data: T,
  shape: readonly [number, number, number],
  from: readonly number[],
  to: readonly number[],
  mode: "linear" | "nearest",
): { data: T; shape: Vec3 } {
  const out3 = [0, 1, 2].map((a) => resampledLength(shape[a], from[a], to[a])) as Vec3;
  const [nx, ny] = shape;
  const [ox, oy, oz] = out3;
  const out = new (data.constructor as { new (n: number): T })(ox * oy * oz);
  const step = [0, 1, 2].map((a) => to[a] / from[a]);
  if (mode === "nearest") {
    const idx = [0, 1, 2].map((a) =>
      Int32Array.from(
        { length: out3[a] },
        (_, i) => Math.min(shape[a] - 1, Math.round(i * step[a])),
      )
    );
    let o = 0;
    for (let z = 0; z < oz; z++) {
      for (let y = 0; y < oy; y++) {
        const row = nx * (idx[1][y] + ny * idx[2][z]);
        for (let x = 0; x < ox; x++) out[o++] = data[row + idx[0][x]];
      }
    }
    return { data: out, shape: out3 };
  }
  const [ax, ay, az] = [0, 1, 2].map((a) => linearAxis(shape[a], out3[a], step[a]));
  let o = 0;
  for (let z = 0; z < oz; z++) {
    const z0 = az.i0[z] * nx * ny, z1 = az.i1[z] * nx * ny, wz = az.w[z];
    for (let y = 0; y < oy; y++) {
      const y0 = ay.i0[y] * nx, y1 = ay.i1[y] * nx, wy = ay.w[y];
      const r00 = z0 + y0, r01 = z0 + y1, r10 = z1 + y0, r11 = z1 + y1;
      for (let x = 0; x < ox; x++) {
        const x0 = ax.i0[x], x1 = ax.i1[x], wx = ax.w[x];
        const c00 = data[r00 + x0] + (data[r00 + x1] - data[r00 + x0]) * wx;
        const c01 = data[r01 + x0] + (data[r01 + x1] - data[r01 + x0]) * wx;
        const c10 = data[r10 + x0] + (data[r10 + x1] - data[r10 + x0]) * wx;
        const c11 = data[r11 + x0] + (data[r11 + x1] - data[r11 + x0]) * wx;
        const c0 = c00 + (c01 - c00) * wy, c1 = c10 + (c11 - c10) * wy;
        out[o++] = c0 + (c1 - c0) * wz;
      }
    }
  }
  return { data: out, shape: out3 };
}

/** Half-pixel-centre bilinear table: output i samples input at (i + 0.5) * nIn/nOut - 0.5. */
function bilinearAxis(nIn: number, nOut: number) {
  const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), w = new Float32Array(nOut);
  const s = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    const p = Math.min(nIn - 1, Math.max(0, (i + 0.5) * s - 0.5));
    const f = Math.floor(p);
    i0[i] = f;
    i1[i] = Math.min(nIn - 1, f + 1);
    w[i] = p - f;
  }
  return { i0, i1, w };
}

/** Nearest source index for output i (half-pixel centres). */
export const nearestSource = (i: number, nIn: number, nOut: number) =>
  Math.min(nIn - 1, Math.floor(((i + 0.5) * nIn) / nOut));
/** Nearest output index for source j, the inverse used to map predictions back. */
export const nearestTarget = (j: number, nIn: number, nOut: number) =>
  Math.min(nOut - 1, Math.max(0, Math.round(((j + 0.5) * nOut) / nIn - 0.5)));

/** Resizes one w x h slice (x fastest) to W x H. */
export function resizeSlice<T extends Float32Array | Uint8Array>(
  src: T,
  w: number,
  h: number,
  W: number,
  H: number,
  mode: "linear" | "nearest",
  out: T = new (src.constructor as { new (n: number): T })(W * H),
): T {
  if (mode === "nearest") {
    const xs = Int32Array.from({ length: W }, (_, i) => nearestSource(i, w, W));
    for (let y = 0; y < H; y++) {
      const row = w * nearestSource(y, h, H);
      for (let x = 0; x < W; x++) out[x + W * y] = src[row + xs[x]];
    }
    return out;
  }
  const ax = bilinearAxis(w, W), ay = bilinearAxis(h, H);
  for (let y = 0; y < H; y++) {
    const r0 = ay.i0[y] * w, r1 = ay.i1[y] * w, wy = ay.w[y];
    for (let x = 0; x < W; x++) {
      const x0 = ax.i0[x], x1 = ax.i1[x], wx = ax.w[x];
      const a = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * wx;
      const b = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * wx;
      out[x + W * y] = a + (b - a) * wy;
    }
  }
  return out;
}

export const volumeOf = <T extends Float32Array | Uint8Array>(
  data: T,
  shape: Vec3,
  spacing: readonly number[],
  affine: readonly number[],
): Volume<T> => ({ data, shape, spacing: [spacing[0], spacing[1], spacing[2]], affine });
