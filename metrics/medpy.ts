/**
 * Segmentation metrics with medpy's exact semantics (medpy.metric.binary dc, jc, hd95, asd,
 * assd), per class of a label map. `result` = prediction (A), `reference` = label (B):
 *
 *   dice    = 2|A∩B| / (|A| + |B|)
 *   jaccard = |A∩B| / |A∪B|
 *   hd95    = numpy.percentile(concat(d(A→B), d(B→A)), 95)   (linear interpolation)
 *   asd     = mean(d(A→B))                                  (one-directional, as medpy.asd)
 *   assd    = mean(concat(d(A→B), d(B→A)))                   (current medpy; old releases
 *                                                             averaged the two directed means)
 *
 * with d as in surface.ts. Distances are in voxel units unless a spacing is given (then in the
 * spacing's unit, normally mm), as medpy with `voxelspacing=None` / `voxelspacing=spacing`.
 *
 * Empty masks (medpy raises for the distances; the papers special-case them). Duet's convention,
 * never NaN:
 *   - prediction empty, label not:  dice = jaccard = hd95 = asd = assd = 0 (CAML's
 *     calculate_metric_percase; SSL4MIS/UG-MCL use dice = hd95 = 0 too).
 *   - label empty, prediction not:  the same zeros (dice is 0 by definition; there is no surface
 *     to measure to, and 0 keeps the papers' "no distance, no penalty" reading).
 *   - both empty:                   dice = jaccard = 1, hd95 = asd = assd = 0 (perfect
 *     agreement; medpy's dc would give 0 and jc would raise).
 * Which classes hit one of these cases is reported in `CaseMetrics.empty`, so that callers (the
 * report, aggregation) can show or exclude them.
 *
 * Exactness: only the bounding box of A ∪ B is processed. Outside it both masks are 0, which is
 * what scipy's erosion assumes outside the array (border_value=0), and every surface voxel of
 * both masks lies inside it, so surfaces and nearest-surface distances are unchanged.
 */
import { squaredDistanceToFeatures } from "./distance.ts";
import { checkLength, type Grid, toGrid, toSpacing } from "./grid.ts";
import { surfaceVoxels } from "./surface.ts";

export interface ClassMetrics {
  dice: number;
  jaccard: number;
  hd95: number;
  asd: number;
  assd: number;
}

/** Which side was empty for a class: "pred" (prediction only), "label" (label only), "both". */
export type EmptyCase = "pred" | "label" | "both";

export interface CaseMetrics {
  /** Keyed by class value as a string ("1", "2", ...). */
  classes: Record<string, ClassMetrics>;
  /** Only the classes where the empty-mask convention was applied. */
  empty: Record<string, EmptyCase>;
  /** "mm" when a spacing was given, else "voxel". */
  unit: "voxel" | "mm";
}

/** A label map and its shape (a LabelVolume from io/volume.ts fits). */
export interface LabelGrid {
  readonly data: Uint8Array;
  readonly shape: readonly number[];
}

export interface MetricOptions {
  /** Class values to evaluate; default: every non-zero value present in pred or label. */
  classes?: readonly number[];
  /** Voxel spacing [sx, sy(, sz)]; omitted = voxel units (the papers' setting). */
  spacing?: readonly number[];
}

const EMPTY_ONE: ClassMetrics = { dice: 0, jaccard: 0, hd95: 0, asd: 0, assd: 0 };
const EMPTY_BOTH: ClassMetrics = { dice: 1, jaccard: 1, hd95: 0, asd: 0, assd: 0 };

/** numpy.percentile(sorted, q) with the default "linear" method, incl. numpy's _lerp form. */
export function percentileLinear(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError("percentile of an empty array");
  const virtual = (q / 100) * (n - 1);
  const lo = Math.floor(virtual);
  const hi = Math.min(lo + 1, n - 1);
  const t = virtual - lo;
  const a = sorted[lo], b = sorted[hi];
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/** Sum with Neumaier compensation (numpy's pairwise sum is within rounding of this). */
function accurateSum(values: ArrayLike<number>): number {
  let sum = 0, c = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const t = sum + v;
    c += Math.abs(sum) >= Math.abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  return sum + c;
}

/**
 * Surface distances d(A→B) and d(B→A) for two non-empty binary masks (non-zero = inside) on the
 * same grid, as medpy's `__surface_distances(A, B)` and `__surface_distances(B, A)`.
 */
export function surfaceDistances(
  a: Uint8Array,
  b: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): { aToB: Float64Array; bToA: Float64Array } {
  const sa = surfaceVoxels(a, shape);
  const sb = surfaceVoxels(b, shape);
  const toB = squaredDistanceToFeatures(sb, shape, spacing);
  const toA = squaredDistanceToFeatures(sa, shape, spacing);
  let na = 0, nb = 0;
  for (let i = 0; i < sa.length; i++) {
    na += sa[i];
    nb += sb[i];
  }
  if (na === 0 || nb === 0) throw new RangeError("surface distances need two non-empty masks");
  const aToB = new Float64Array(na), bToA = new Float64Array(nb);
  let ka = 0, kb = 0;
  for (let i = 0; i < sa.length; i++) {
    if (sa[i] !== 0) aToB[ka++] = Math.sqrt(toB[i]);
    if (sb[i] !== 0) bToA[kb++] = Math.sqrt(toA[i]);
  }
  return { aToB, bToA };
}

/** hd95 / asd / assd from the two directed distance lists (both non-empty). */
export function distanceMetrics(
  aToB: Float64Array,
  bToA: Float64Array,
): Pick<ClassMetrics, "hd95" | "asd" | "assd"> {
  const all = new Float64Array(aToB.length + bToA.length);
  all.set(aToB, 0);
  all.set(bToA, aToB.length);
  const sumAB = accurateSum(aToB);
  const assd = accurateSum(all) / all.length;
  all.sort();
  return { hd95: percentileLinear(all, 95), asd: sumAB / aToB.length, assd };
}

/**
 * All five metrics for one binary pair (non-zero = inside). Applies the empty-mask convention
 * documented at the top of this module; `empty` tells which case applied.
 */
export function binaryMetrics(
  pred: Uint8Array,
  label: Uint8Array,
  shape: readonly number[],
  spacing?: readonly number[],
): ClassMetrics & { empty?: EmptyCase } {
  const grid = toGrid(shape);
  checkLength(pred, grid, "pred");
  checkLength(label, grid, "label");
  const a = new Uint8Array(grid.size), b = new Uint8Array(grid.size);
  for (let i = 0; i < grid.size; i++) {
    a[i] = pred[i] !== 0 ? 1 : 0;
    b[i] = label[i] !== 0 ? 1 : 0;
  }
  const result = computeMetrics(
    { data: a, shape },
    { data: b, shape },
    { classes: [1], spacing },
  );
  const empty = result.empty["1"];
  return empty === undefined ? result.classes["1"] : { ...result.classes["1"], empty };
}

interface ClassStats {
  nPred: Float64Array;
  nLabel: Float64Array;
  nBoth: Float64Array;
  /** Per class: x0, x1, y0, y1, z0, z1 of pred ∪ label (inclusive). */
  box: Int32Array;
}

/** One pass over both maps: per-value counts, overlaps and union bounding boxes. */
function classStats(pred: Uint8Array, label: Uint8Array, grid: Grid): ClassStats {
  const nPred = new Float64Array(256),
    nLabel = new Float64Array(256),
    nBoth = new Float64Array(256);
  const box = new Int32Array(256 * 6);
  for (let c = 0; c < 256; c++) {
    box[6 * c] = box[6 * c + 2] = box[6 * c + 4] = 2147483647;
    box[6 * c + 1] = box[6 * c + 3] = box[6 * c + 5] = -1;
  }
  const { nx, ny } = grid;
  let x = 0, y = 0, z = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i], l = label[i];
    if (p !== 0 || l !== 0) {
      if (p !== 0) nPred[p]++;
      if (l !== 0) nLabel[l]++;
      if (p === l) nBoth[p]++;
      // Grow the bounding box of p, and of l when it differs.
      for (let side = 0; side < 2; side++) {
        const c = side === 0 ? p : l;
        if (c === 0 || (side === 1 && l === p)) continue;
        const o = 6 * c;
        if (x < box[o]) box[o] = x;
        if (x > box[o + 1]) box[o + 1] = x;
        if (y < box[o + 2]) box[o + 2] = y;
        if (y > box[o + 3]) box[o + 3] = y;
        if (z < box[o + 4]) box[o + 4] = z;
        if (z > box[o + 5]) box[o + 5] = z;
      }
    }
    if (++x === nx) {
      x = 0;
      if (++y === ny) {
        y = 0;
        z++;
      }
    }
  }
  return { nPred, nLabel, nBoth, box };
}

function cropRow(
  pred: Uint8Array,
  label: Uint8Array,
  c: number,
  from: number,
  n: number,
  a: Uint8Array,
  b: Uint8Array,
  to: number,
): void {
  for (let x = 0; x < n; x++) {
    a[to + x] = pred[from + x] === c ? 1 : 0;
    b[to + x] = label[from + x] === c ? 1 : 0;
  }
}

/** Masks `pred == c` and `label == c` cropped to the class's union bounding box. */
function cropClass(
  pred: Uint8Array,
  label: Uint8Array,
  grid: Grid,
  box: Int32Array,
  c: number,
): { a: Uint8Array; b: Uint8Array; shape: number[] } {
  const o = 6 * c;
  const x0 = box[o], y0 = box[o + 2], z0 = box[o + 4];
  const cx = box[o + 1] - x0 + 1, cy = box[o + 3] - y0 + 1, cz = box[o + 5] - z0 + 1;
  const a = new Uint8Array(cx * cy * cz), b = new Uint8Array(cx * cy * cz);
  for (let z = 0; z < cz; z++) {
    for (let y = 0; y < cy; y++) {
      cropRow(
        pred,
        label,
        c,
        x0 + grid.nx * (y0 + y + grid.ny * (z0 + z)),
        cx,
        a,
        b,
        cx * (y + cy * z),
      );
    }
  }
  return { a, b, shape: [cx, cy, cz] };
}

/**
 * Per-class medpy metrics of a predicted label map against a reference label map (same shape).
 * `computeMetrics(pred, label, {classes, spacing}) -> {classes: {"1": {dice, jaccard, hd95, asd,
 * assd}}, empty, unit}`.
 */
export function computeMetrics(
  pred: LabelGrid,
  label: LabelGrid,
  options: MetricOptions = {},
): CaseMetrics {
  const grid = toGrid(pred.shape);
  const lgrid = toGrid(label.shape);
  if (grid.nx !== lgrid.nx || grid.ny !== lgrid.ny || grid.nz !== lgrid.nz) {
    throw new RangeError(
      `pred shape [${pred.shape.join(", ")}] differs from label shape [${label.shape.join(", ")}]`,
    );
  }
  checkLength(pred.data, grid, "pred");
  checkLength(label.data, grid, "label");
  const spacing = toSpacing(grid, options.spacing);
  const stats = classStats(pred.data, label.data, grid);
  let classes = options.classes;
  if (classes === undefined) {
    const present: number[] = [];
    for (let c = 1; c < 256; c++) if (stats.nPred[c] + stats.nLabel[c] > 0) present.push(c);
    classes = present;
  }
  const out: CaseMetrics = {
    classes: {},
    empty: {},
    unit: options.spacing === undefined ? "voxel" : "mm",
  };
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c > 255) throw new RangeError(`bad class value ${c}`);
    const key = String(c);
    const np = stats.nPred[c], nl = stats.nLabel[c], nb = stats.nBoth[c];
    if (np === 0 || nl === 0) {
      const kind: EmptyCase = np === 0 && nl === 0 ? "both" : np === 0 ? "pred" : "label";
      out.empty[key] = kind;
      out.classes[key] = { ...(kind === "both" ? EMPTY_BOTH : EMPTY_ONE) };
      continue;
    }
    const crop = cropClass(pred.data, label.data, grid, stats.box, c);
    // A crop one slice thick would be read as 2D by toGrid; a 3D grid keeps 3D semantics.
    const { aToB, bToA } = grid.ndim === 3 && crop.shape[2] === 1
      ? surfaceDistances3dSlab(crop.a, crop.b, crop.shape, spacing)
      : surfaceDistances(crop.a, crop.b, crop.shape, spacing);
    out.classes[key] = {
      dice: (2 * nb) / (np + nl),
      jaccard: nb / (np + nl - nb),
      ...distanceMetrics(aToB, bToA),
    };
  }
  return out;
}

/**
 * A 3D crop that is one slice thick: embed it between two empty slices so that it is read as
 * 3D (every voxel then touches background along z, as in the full volume).
 */
function surfaceDistances3dSlab(
  a: Uint8Array,
  b: Uint8Array,
  shape: number[],
  spacing: readonly [number, number, number],
): { aToB: Float64Array; bToA: Float64Array } {
  const plane = shape[0] * shape[1];
  const pa = new Uint8Array(plane * 3), pb = new Uint8Array(plane * 3);
  pa.set(a, plane);
  pb.set(b, plane);
  return surfaceDistances(pa, pb, [shape[0], shape[1], 3], spacing);
}
