/**
 * Surface voxels and surface distances with medpy's definitions (medpy.metric.binary):
 *
 *   surface(A) = A XOR binary_erosion(A, generate_binary_structure(ndim, 1), iterations=1)
 *   d(A→B)     = distance_transform_edt(~surface(B), sampling=spacing)[surface(A)]
 *
 * scipy's binary_erosion uses border_value=0: outside the array counts as background, so a mask
 * voxel on the array border is always a surface voxel (along the ndim axes only: a 2D image's
 * missing z axis has no border).
 */
import { squaredDistanceToFeatures } from "./distance.ts";
import { checkLength, toGrid } from "./grid.ts";

/**
 * Surface of a binary mask (`mask[i] !== 0`): mask voxels with at least one face neighbour
 * (connectivity-1 structure) outside the mask or outside the array. Returns a 0/1 mask.
 */
export function surfaceVoxels(mask: Uint8Array, shape: readonly number[]): Uint8Array {
  const grid = toGrid(shape);
  checkLength(mask, grid, "mask");
  const { nx, ny, nz, ndim } = grid;
  const sxy = nx * ny;
  const out = new Uint8Array(grid.size);
  // One flat loop with running coordinates (nested loops would be OSR-compiled per inner loop).
  let x = 0, y = 0, z = 0;
  for (let i = 0; i < grid.size; i++) {
    if (
      mask[i] !== 0 && (
        x === 0 || x === nx - 1 || y === 0 || y === ny - 1 ||
        mask[i - 1] === 0 || mask[i + 1] === 0 || mask[i - nx] === 0 || mask[i + nx] === 0 ||
        (ndim === 3 && (z === 0 || z === nz - 1 || mask[i - sxy] === 0 || mask[i + sxy] === 0))
      )
    ) out[i] = 1;
    if (++x === nx) {
      x = 0;
      if (++y === ny) {
        y = 0;
        z++;
      }
    }
  }
  return out;
}

/**
 * Distances from each surface voxel of `surfaceA` to the nearest surface voxel of `surfaceB`
 * (both 0/1 surface masks, see {@link surfaceVoxels}), in scan order. `surfaceB` must be non-empty.
 */
export function directedSurfaceDistances(
  surfaceA: Uint8Array,
  surfaceB: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): Float64Array {
  const sq = squaredDistanceToFeatures(surfaceB, shape, spacing);
  let n = 0;
  for (let i = 0; i < surfaceA.length; i++) if (surfaceA[i] !== 0) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < surfaceA.length; i++) {
    if (surfaceA[i] !== 0) out[k++] = Math.sqrt(sq[i]);
  }
  return out;
}
