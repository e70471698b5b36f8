/**
 * Exact Euclidean distance transform, linear time, 2D and 3D, anisotropic spacing.
 *
 * Separable algorithm of Felzenszwalb & Huttenlocher ("Distance Transforms of Sampled
 * Functions", 2012): a 1D scan along x gives the squared distance to the nearest feature in the
 * same row; then, along y and along z, each line's squared distances are replaced by the lower
 * envelope of the parabolas `(x - q·s)² + f(q)`, which is the exact minimum over all features.
 * Everything is Float64; values are squared physical distances until the final square root.
 */
import { checkLength, toGrid, toSpacing } from "./grid.ts";

/** Work buffers for the lower envelope of one line of at most `n` samples. */
interface Envelope {
  /** Sample index of each envelope parabola. */
  v: Int32Array;
  /** f at that sample. */
  fv: Float64Array;
  /** f + (v·s)², the parabola's constant term in the intersection formula. */
  gv: Float64Array;
  /** z[k]..z[k+1]: where parabola k is the lowest (physical units). */
  z: Float64Array;
}

const envelopeBuffers = (n: number): Envelope => ({
  v: new Int32Array(n),
  fv: new Float64Array(n),
  gv: new Float64Array(n),
  z: new Float64Array(n + 1),
});

/**
 * In-place 1D squared distance transform of the line `a[off + q·stride]`, q < n, on a grid of
 * step `s`: `a[q] ← min_p ((q - p)·s)² + a[p]`. Infinite samples (no feature in that line yet)
 * are not sites; a line with no finite sample stays infinite. The envelope keeps its own copy of
 * the site values, so the line can be overwritten while it is read out.
 */
function envelope1d(
  a: Float64Array,
  off: number,
  stride: number,
  n: number,
  s: number,
  e: Envelope,
): void {
  const { v, fv, gv, z } = e;
  const twoS = 2 * s;
  let k = -1;
  for (let q = 0, i = off; q < n; q++, i += stride) {
    const fq = a[i];
    if (fq === Infinity) continue;
    const qs = q * s;
    const gq = fq + qs * qs;
    if (k < 0) {
      k = 0;
      v[0] = q;
      fv[0] = fq;
      gv[0] = gq;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    // Abscissa where the parabola of q overtakes the envelope's last one.
    let cross = (gq - gv[k]) / (twoS * (q - v[k]));
    while (cross <= z[k]) {
      k--;
      cross = (gq - gv[k]) / (twoS * (q - v[k]));
    }
    k++;
    v[k] = q;
    fv[k] = fq;
    gv[k] = gq;
    z[k] = cross;
    z[k + 1] = Infinity;
  }
  if (k < 0) return; // all infinite: unchanged
  let j = 0;
  for (let q = 0, i = off; q < n; q++, i += stride) {
    const x = q * s;
    while (z[j + 1] < x) j++;
    const d = (q - v[j]) * s;
    a[i] = d * d + fv[j];
  }
}

/**
 * One row along x: squared distance to the nearest feature in the row. (Hot loops live in small
 * functions called many times: V8 optimises those well, unlike inner loops entered by OSR.)
 */
function row1d(
  input: Uint8Array,
  featureIsNonzero: boolean,
  dist: Float64Array,
  base: number,
  nx: number,
  sx2: number,
): void {
  // Forward: index distance to the previous feature (Infinity before the first one).
  let last = -1;
  for (let x = 0; x < nx; x++) {
    if ((input[base + x] !== 0) === featureIsNonzero) last = x;
    dist[base + x] = last < 0 ? Infinity : x - last;
  }
  if (last < 0) return; // no feature: the whole row stays Infinity
  // Backward: take the next feature if closer, then square in physical units.
  let next = Infinity;
  for (let x = nx - 1; x >= 0; x--) {
    if ((input[base + x] !== 0) === featureIsNonzero) next = x;
    const back = next - x;
    const fwd = dist[base + x];
    const d = back < fwd ? back : fwd;
    dist[base + x] = d * d * sx2;
  }
}

function squaredTransform(
  input: Uint8Array,
  featureIsNonzero: boolean,
  shape: readonly number[],
  spacing: readonly number[] | undefined,
): Float64Array {
  const grid = toGrid(shape);
  checkLength(input, grid, "input");
  const [sx, sy, sz] = toSpacing(grid, spacing);
  const { nx, ny, nz } = grid;
  const dist = new Float64Array(grid.size);
  const rows = ny * nz;
  for (let r = 0; r < rows; r++) row1d(input, featureIsNonzero, dist, r * nx, nx, sx * sx);
  const e = envelopeBuffers(Math.max(ny, nz));
  const plane = nx * ny;
  // Along y: lines of ny samples at stride nx inside each z-plane (one plane stays in cache).
  if (ny > 1) {
    for (let zp = 0; zp < nz; zp++) {
      for (let x = 0; x < nx; x++) envelope1d(dist, x + plane * zp, nx, ny, sy, e);
    }
  }
  // Along z: for each y, gather the nz rows into a small block so the lines are cache-local.
  if (nz > 1) {
    const block = new Float64Array(nz * nx);
    for (let y = 0; y < ny; y++) {
      for (let zp = 0; zp < nz; zp++) {
        const from = nx * (y + ny * zp);
        block.set(dist.subarray(from, from + nx), zp * nx);
      }
      for (let x = 0; x < nx; x++) envelope1d(block, x, nx, nz, sz, e);
      for (let zp = 0; zp < nz; zp++) {
        dist.set(block.subarray(zp * nx, zp * nx + nx), nx * (y + ny * zp));
      }
    }
  }
  return dist;
}

/**
 * Squared Euclidean distance (physical units when `spacing` is given, else voxels) from every
 * voxel to the nearest feature voxel (`features[i] !== 0`); 0 on features, Infinity everywhere
 * when there is no feature.
 */
export function squaredDistanceToFeatures(
  features: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): Float64Array {
  return squaredTransform(features, true, shape, spacing);
}

/** `sqrt` of {@link squaredDistanceToFeatures}. */
export function distanceToFeatures(
  features: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): Float64Array {
  const d = squaredTransform(features, true, shape, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
  return d;
}

/**
 * `scipy.ndimage.distance_transform_edt(input, sampling=spacing)`: for every non-zero voxel the
 * distance to the nearest zero voxel; zero voxels get 0. (With no zero voxel at all scipy returns
 * an ill-defined result; this returns Infinity.)
 */
export function distanceTransformEdt(
  input: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): Float64Array {
  const d = squaredTransform(input, false, shape, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
  return d;
}
