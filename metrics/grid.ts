/**
 * Shape and spacing normalisation shared by the metric modules.
 *
 * Layout is the one of io/volume.ts: `data[x + nx * (y + ny * z)]`, x fastest. A shape is either
 * `[nx, ny]` (2D) or `[nx, ny, nz]`; a 3-element shape with nz = 1 is treated as a 2D image, so
 * that a 2D slice stored as a Volume gets 2D semantics (medpy on a 2D numpy array), not those of
 * a one-slice 3D volume (where every voxel would touch the z border and be "surface").
 */

export type GridShape = readonly [number, number] | readonly [number, number, number];

export interface Grid {
  readonly nx: number;
  readonly ny: number;
  readonly nz: number;
  /** 2 when nz = 1 (or the shape had two elements), else 3. */
  readonly ndim: 2 | 3;
  readonly size: number;
}

export function toGrid(shape: readonly number[]): Grid {
  if (shape.length !== 2 && shape.length !== 3) {
    throw new RangeError(`shape must have 2 or 3 elements, got [${shape.join(", ")}]`);
  }
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`shape entries must be positive integers, got [${shape.join(", ")}]`);
    }
  }
  const nx = shape[0], ny = shape[1], nz = shape.length === 3 ? shape[2] : 1;
  return { nx, ny, nz, ndim: nz === 1 ? 2 : 3, size: nx * ny * nz };
}

/**
 * Spacing as [sx, sy, sz]; omitted means voxel units (all 1). A 2-element spacing is allowed for
 * 2D grids; for a 2D grid the z spacing is irrelevant.
 */
export function toSpacing(
  grid: Grid,
  spacing?: readonly number[],
): readonly [number, number, number] {
  if (spacing === undefined) return [1, 1, 1];
  if (spacing.length !== 2 && spacing.length !== 3) {
    throw new RangeError(`spacing must have 2 or 3 elements, got [${spacing.join(", ")}]`);
  }
  if (spacing.length === 2 && grid.ndim === 3) {
    throw new RangeError("a 3D grid needs a 3-element spacing");
  }
  for (const s of spacing) {
    if (!(s > 0) || !Number.isFinite(s)) {
      throw new RangeError(
        `spacing entries must be positive and finite, got [${spacing.join(", ")}]`,
      );
    }
  }
  return [spacing[0], spacing[1], spacing.length === 3 ? spacing[2] : 1];
}

export function checkLength(data: ArrayLike<number>, grid: Grid, what: string): void {
  if (data.length !== grid.size) {
    throw new RangeError(
      `${what} has ${data.length} elements, shape [${grid.nx}, ${grid.ny}, ${grid.nz}] needs ${grid.size}`,
    );
  }
}
