/**
 * Exact Euclidean distance transform, linear time, 2D and 3D, anisotropic spacing.
 *
 * Separable algorithm of Felzenszwalb & Huttenlocher ("Distance Transforms of Sampled
 * Functions", 2012): a 1D scan along x gives the squared distance to the nearest feature in the
 * same row; then, along y and along z, each line's squared distances are replaced by the lower
 * envelope of the parabolas `(x - q·s)² + f(q)`, which is the exact minimum over all features.
 * Everything is Float64; values are squared physical distances until the final square root.
 */
import { checkLength, type Grid, toGrid, toSpacing } from "./grid.ts";

/** Work buffers for one 1D lower-envelope pass over lines of at most `n` samples. */
interface LineBuffers {
  f: Float64Array;
  out: Float64Array;
  v: Int32Array;
  z: Float64Array;
}

const lineBuffers = (n: number): LineBuffers => ({
  f: new Float64Array(n),
  out: new Float64Array(n),
  v: new Int32Array(n),
  z: new Float64Array(n + 1),
});

/**
 * 1D squared distance transform of the sampled function `b.f[0..n)` on a grid of step `s`:
 * `out[q] = min_p ((q - p)·s)² + f[p]`. Infinite samples (no feature in that line so far) are
 * not sites; a line with no finite sample stays infinite.
 */
function envelope1d(b: LineBuffers, n: number, s: number): void {
  const { f, out, v, z } = b;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q];
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    const qs = q * s;
    const fqq = fq + qs * qs;
    let p = v[k];
    let ps = p * s;
    // Abscissa (physical units) where the parabola of q overtakes that of p.
    let cross = (fqq - (f[p] + ps * ps)) / (2 * s * (q - p));
    while (cross <= z[k]) {
      k--;
      p = v[k];
      ps = p * s;
      cross = (fqq - (f[p] + ps * ps)) / (2 * s * (q - p));
    }
    k++;
    v[k] = q;
    z[k] = cross;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    out.fill(Infinity, 0, n);
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    const x = q * s;
    while (z[j + 1] < x) j++;
    const p = v[j];
    const d = (q - p) * s;
    out[q] = d * d + f[p];
  }
}

/** Row pass along x: squared distance to the nearest feature in the same row. */
function rowPass(
  input: Uint8Array,
  featureIsNonzero: boolean,
  grid: Grid,
  sx: number,
  dist: Float64Array,
): void {
  const { nx } = grid;
  const rows = grid.ny * grid.nz;
  const sx2 = sx * sx;
  for (let r = 0; r < rows; r++) {
    const base = r * nx;
    // Forward: index distance to the previous feature (Infinity before the first one).
    let last = -1;
    for (let x = 0; x < nx; x++) {
      if ((input[base + x] !== 0) === featureIsNonzero) last = x;
      dist[base + x] = last < 0 ? Infinity : x - last;
    }
    if (last < 0) continue; // no feature: the whole row stays Infinity
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
}

/** Lower-envelope pass along the axis with `n` samples at `stride`, for every line. */
function axisPass(
  dist: Float64Array,
  n: number,
  stride: number,
  lineStarts: (visit: (start: number) => void) => void,
  s: number,
  b: LineBuffers,
): void {
  if (n === 1) return;
  lineStarts((start) => {
    const f = b.f;
    let allInf = true;
    for (let q = 0, i = start; q < n; q++, i += stride) {
      const value = dist[i];
      f[q] = value;
      if (value !== Infinity) allInf = false;
    }
    if (allInf) return;
    envelope1d(b, n, s);
    const out = b.out;
    for (let q = 0, i = start; q < n; q++, i += stride) dist[i] = out[q];
  });
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
  rowPass(input, featureIsNonzero, grid, sx, dist);
  const b = lineBuffers(Math.max(ny, nz));
  // Along y: lines start at x + nx*ny*z.
  axisPass(
    dist,
    ny,
    nx,
    (visit) => {
      for (let z = 0; z < nz; z++) {
        for (let x = 0; x < nx; x++) visit(x + nx * ny * z);
      }
    },
    sy,
    b,
  );
  // Along z: lines start at x + nx*y.
  axisPass(
    dist,
    nz,
    nx * ny,
    (visit) => {
      for (let i = 0; i < nx * ny; i++) visit(i);
    },
    sz,
    b,
  );
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
