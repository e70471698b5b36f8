/**
 * The one in-memory image type every reader returns and every writer takes.
 *
 * Layout: `data[x + nx * (y + ny * z)]` — x varies fastest, as in a NIfTI file — so a z-slice is
 * one contiguous run of nx*ny values (row y, column x). 2D images have nz = 1.
 */
export interface Volume<T extends Float32Array | Uint8Array = Float32Array> {
  readonly data: T;
  /** [nx, ny, nz] */
  readonly shape: readonly [number, number, number];
  /** Voxel size in mm along x, y, z (1 when the file carries none). */
  readonly spacing: readonly [number, number, number];
  /** 4x4 voxel-to-world (RAS+, mm) matrix, row-major, as NIfTI's sform/qform gives it. */
  readonly affine: readonly number[];
}

export type LabelVolume = Volume<Uint8Array>;

export const identityAffine = (spacing: readonly [number, number, number]): number[] => [
  spacing[0],
  0,
  0,
  0,
  0,
  spacing[1],
  0,
  0,
  0,
  0,
  spacing[2],
  0,
  0,
  0,
  0,
  1,
];

export const voxelCount = (v: { shape: readonly [number, number, number] }): number =>
  v.shape[0] * v.shape[1] * v.shape[2];
