/**
 * The guard against slices cut along the wrong axis: a case whose slices would be stretched by
 * more than `normalize.maxStretch` to fit `normalize.size` stops the run (exit 64) naming the
 * case, its shape and the field to set, instead of training on strips across the anatomy.
 */
import type { CaseRecord } from "../../schemas/outputs.ts";
import { type NormalizeRecipe, resampledGrid, sliceStretch } from "../../preprocess/normalize.ts";

type Vec3 = readonly [number, number, number];

/** One line per case whose in-plane grid (after crop and resampling) stretches too much. */
export function stretchProblem(
  record: Pick<CaseRecord, "id" | "source" | "shape">,
  inPlane: Vec3,
  size: readonly [number, number],
  maxStretch: number,
): string | undefined {
  const stretch = sliceStretch(inPlane, size);
  if (!(stretch > maxStretch)) return undefined;
  const fix = /\.(h5|hdf5)$/i.test(record.source)
    ? `if the .h5 file stores (Z, Y, X), set data.hdf5.axes to "zyx"`
    : "reorient the volume so that its slices lie along the third axis";
  return `normalize.maxStretch: case "${record.id}" (shape ${
    record.shape.join("x")
  }, x by y by z) has ${inPlane[0]}x${inPlane[1]} slices, stretched ${
    stretch.toFixed(1)
  }x to fit normalize.size ${size[0]}x${
    size[1]
  } (limit ${maxStretch}): its slices are probably cut along the wrong axis; ${fix} (if intended, raise normalize.maxStretch or set it to null)`;
}

/** Problems of every case from its recorded geometry (before any crop; listed at once). */
export function stretchProblems(
  records: readonly CaseRecord[],
  recipe: NormalizeRecipe,
  maxStretch: number | null,
): string[] {
  if (maxStretch === null || !recipe.size) return [];
  const out: string[] = [];
  for (const r of records) {
    const { shape } = resampledGrid(r.shape, r.spacing, recipe);
    const problem = stretchProblem(r, shape, recipe.size, maxStretch);
    if (problem) out.push(problem);
  }
  const shown = 5;
  return out.length > shown
    ? [...out.slice(0, shown), `normalize.maxStretch: ... and ${out.length - shown} more cases`]
    : out;
}
