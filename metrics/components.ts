/**
 * Connected-component labelling (2D 4/8, 3D 6/18/26 connectivity) and the papers'
 * largest-connected-component post-processing.
 *
 * Labels are numbered 1..count in order of each component's first voxel in scan order (x
 * fastest), which is scipy.ndimage.label's numbering for the C-order array of shape (nz, ny, nx).
 * Two-pass union-find: provisional labels in scan order, union keeps the smaller (earlier) root.
 */
import { checkLength, type Grid, toGrid } from "./grid.ts";

/** 4/8 for 2D, 6/18/26 for 3D (face / face+edge / face+edge+corner neighbours). */
export type Connectivity = 4 | 8 | 6 | 18 | 26;

export interface Components {
  /** Component index per voxel, 0 for background. */
  labels: Int32Array;
  count: number;
  /** sizes[k] = voxel count of component k (k = 1..count); sizes[0] = 0. */
  sizes: Float64Array;
  /** values[k] = the input value of component k (1 for binary labelling); values[0] = 0. */
  values: Uint8Array;
}

/** Already-visited neighbour offsets [dx, dy, dz] for a connectivity. */
function backwardOffsets(grid: Grid, connectivity: Connectivity): number[][] {
  if (![4, 8, 6, 18, 26].includes(connectivity)) {
    throw new RangeError(`connectivity must be 4, 8, 6, 18 or 26, got ${connectivity}`);
  }
  if (grid.ndim === 3 && (connectivity === 4 || connectivity === 8)) {
    throw new RangeError(`connectivity ${connectivity} is for 2D images; use 6, 18 or 26 in 3D`);
  }
  // In 2D the z neighbours do not exist: 6 -> 4, 18/26 -> 8.
  const maxNorm = connectivity === 4 || connectivity === 6
    ? 1
    : connectivity === 18 || (grid.ndim === 2 && connectivity === 8)
    ? 2
    : 3;
  const out: number[][] = [];
  const zs = grid.ndim === 3 ? [-1, 0] : [0];
  for (const dz of zs) {
    for (const dy of [-1, 0, 1]) {
      for (const dx of [-1, 0, 1]) {
        const earlier = dz < 0 || (dz === 0 && (dy < 0 || (dy === 0 && dx < 0)));
        if (!earlier) continue;
        if (Math.abs(dx) + Math.abs(dy) + Math.abs(dz) > maxNorm) continue;
        out.push([dx, dy, dz]);
      }
    }
  }
  return out;
}

function find(parent: Int32Array, i: number): number {
  while (parent[i] !== i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

/**
 * @param sameValue when true, neighbours are connected only if they hold the same non-zero value
 *   (components per class of a label map); when false, every non-zero voxel is foreground.
 */
function label(
  data: Uint8Array,
  grid: Grid,
  connectivity: Connectivity,
  sameValue: boolean,
): Components {
  const { nx, ny, nz } = grid;
  const offs = backwardOffsets(grid, connectivity);
  const nOff = offs.length;
  const odx = offs.map((o) => o[0]), ody = offs.map((o) => o[1]), odz = offs.map((o) => o[2]);
  const olin = offs.map(([dx, dy, dz]) => dx + nx * (dy + ny * dz));
  const labels = new Int32Array(grid.size);
  // parent[0] unused; provisional labels start at 1.
  let parent = new Int32Array(1024);
  let next = 1;
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        const v = data[i];
        if (v === 0) continue;
        let root = 0;
        for (let k = 0; k < nOff; k++) {
          const xx = x + odx[k], yy = y + ody[k], zz = z + odz[k];
          if (xx < 0 || xx >= nx || yy < 0 || yy >= ny || zz < 0) continue;
          const j = i + olin[k];
          const w = data[j];
          if (w === 0 || (sameValue && w !== v)) continue;
          const r = find(parent, labels[j]);
          if (root === 0) root = r;
          else if (r !== root) {
            if (r < root) {
              parent[root] = r;
              root = r;
            } else parent[r] = root;
          }
        }
        if (root === 0) {
          if (next === parent.length) {
            const grown = new Int32Array(parent.length * 2);
            grown.set(parent);
            parent = grown;
          }
          parent[next] = next;
          root = next++;
        }
        labels[i] = root;
      }
    }
  }
  // Final numbering in order of first appearance (= order of the roots, which are minimal).
  const final = new Int32Array(next);
  let count = 0;
  for (let p = 1; p < next; p++) {
    const r = find(parent, p);
    final[p] = r === p ? ++count : final[r];
  }
  const sizes = new Float64Array(count + 1);
  const values = new Uint8Array(count + 1);
  for (let j = 0; j < labels.length; j++) {
    const p = labels[j];
    if (p === 0) continue;
    const f = final[p];
    labels[j] = f;
    sizes[f]++;
    values[f] = sameValue ? data[j] : 1;
  }
  return { labels, count, sizes, values };
}

/**
 * Connected components of the non-zero voxels of `mask` (scipy.ndimage.label with
 * generate_binary_structure(ndim, 1 | 2 | 3) for connectivity 4/6, 8/18, 8/26).
 */
export function labelComponents(
  mask: Uint8Array,
  shape: readonly number[],
  connectivity: Connectivity,
): Components {
  const grid = toGrid(shape);
  checkLength(mask, grid, "mask");
  return label(mask, grid, connectivity, false);
}

/**
 * Connected components of each class of a label map: neighbours are connected only when they
 * hold the same non-zero value; `values[k]` is component k's class.
 */
export function labelClassComponents(
  labelMap: Uint8Array,
  shape: readonly number[],
  connectivity: Connectivity,
): Components {
  const grid = toGrid(shape);
  checkLength(labelMap, grid, "label map");
  return label(labelMap, grid, connectivity, true);
}

export interface LargestComponentOptions {
  /** Classes to clean; others are copied unchanged. Default: every non-zero class present. */
  classes?: readonly number[];
  /**
   * Default: full connectivity (8 in 2D, 26 in 3D), skimage.measure.label's default, which the
   * papers' getLargestCC uses.
   */
  connectivity?: Connectivity;
}

/**
 * Largest connected component per class: for each class, keep only its biggest component and
 * set the others to 0 (ties: the component that comes first in scan order, as numpy.argmax
 * over bincount picks the lower label). A class with no voxel stays absent. For a binary mask
 * this is the papers' `getLargestCC` post-processing (`--nms 1`). Returns a new array.
 */
export function keepLargestComponent(
  labelMap: Uint8Array,
  shape: readonly number[],
  options: LargestComponentOptions = {},
): Uint8Array {
  const grid = toGrid(shape);
  checkLength(labelMap, grid, "label map");
  const connectivity = options.connectivity ?? (grid.ndim === 3 ? 26 : 8);
  const { labels, count, sizes, values } = label(labelMap, grid, connectivity, true);
  const clean = new Uint8Array(256);
  if (options.classes === undefined) clean.fill(1);
  else for (const c of options.classes) clean[c] = 1;
  clean[0] = 0;
  // Best component per class: biggest, first one on ties.
  const best = new Int32Array(256);
  for (let k = 1; k <= count; k++) {
    const c = values[k];
    if (best[c] === 0 || sizes[k] > sizes[best[c]]) best[c] = k;
  }
  const out = new Uint8Array(labelMap.length);
  for (let i = 0; i < out.length; i++) {
    const c = labelMap[i];
    if (c === 0) continue;
    if (clean[c] === 0 || labels[i] === best[c]) out[i] = c;
  }
  return out;
}
