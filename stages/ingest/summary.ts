/**
 * The one line ingest prints per dataset: cases, shape range, slices, and the class voxel
 * fractions of the labels each role stored. A misread dataset (wrong axis order, wrong class
 * list, a label on the wrong structure) shows up here before any training.
 */
import type { Role } from "../../schemas/outputs.ts";

export interface CaseStats {
  readonly role: Role;
  readonly shape: readonly [number, number, number];
  /** Voxels per label value over the stored label slices; absent when no label was read. */
  readonly classVoxels?: readonly number[];
}

/** Voxel count of each label value 0..classes-1. */
export function countClasses(label: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < label.length; i++) counts[label[i]]++;
  return counts;
}

const ROLES: readonly Role[] = ["exemplar", "labelled", "unlabelled", "validation", "test"];

const range = (values: readonly number[]) => {
  const lo = Math.min(...values), hi = Math.max(...values);
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
};

const percent = (part: number, whole: number) => {
  const p = (100 * part) / whole;
  return `${p < 0.1 && p > 0 ? p.toFixed(2) : p.toFixed(1)}%`;
};

/** e.g. `70 cases, x 154-276, y 154-384, z 6-18 (840 slices); labelled 14 (RV 1.2%, ...); ...` */
export function datasetLine(
  name: string,
  cases: readonly CaseStats[],
  classNames: readonly string[],
): string {
  if (cases.length === 0) return `${name}: no cases`;
  const axis = (a: number) => range(cases.map((c) => c.shape[a]));
  const slices = cases.reduce((n, c) => n + c.shape[2], 0);
  const roles = ROLES.flatMap((role) => {
    const mine = cases.filter((c) => c.role === role);
    if (mine.length === 0) return [];
    const labelled = mine.filter((c) => c.classVoxels);
    if (labelled.length === 0) return [`${role} ${mine.length} (no labels read)`];
    const totals = classNames.map((_, k) =>
      labelled.reduce((n, c) => n + (c.classVoxels![k] ?? 0), 0)
    );
    const all = totals.reduce((a, b) => a + b, 0);
    const fractions = classNames.slice(1).map((cls, i) => `${cls} ${percent(totals[i + 1], all)}`);
    return [`${role} ${mine.length} (${fractions.join(", ")})`];
  });
  return `${name}: ${cases.length} case${cases.length === 1 ? "" : "s"}, x ${axis(0)}, y ${
    axis(1)
  }, z ${axis(2)} (${slices} slices); class voxels of stored labels: ${roles.join("; ")}`;
}
