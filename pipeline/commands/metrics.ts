/**
 * `deno task pipeline metrics --pred P --label L [--spacing[=sx,sy,sz]] [--json]`: medpy-exact
 * Dice, Jaccard, HD95, ASD and ASSD per class of a predicted label map against a reference
 * (metrics/medpy.ts, its empty-mask convention included: never NaN).
 *
 * Files: NIfTI (.nii, .nii.gz), PNG (2D), or SSL4MIS .h5. For an .h5 label the `label` dataset is
 * read; for an .h5 prediction the `pred` dataset when the file has one, else `label` (so a
 * prediction written in the SSL4MIS layout works too). Values are class indices 0..255. Two
 * NIfTI files must share their geometry as ingest requires (affine and spacing within 1e-3 mm),
 * or the maps are not of the same place and the command exits 65; .h5 and PNG carry none.
 *
 * Units: voxels without `--spacing` (the papers' setting). A bare `--spacing` takes the label
 * file's voxel size (NIfTI pixdim; .h5 and PNG carry none, so 1); `--spacing=sx,sy,sz` (or
 * `--spacing sx,sy,sz`) gives it explicitly (mm).
 *
 * Output: a table per class on stdout, or with `--json` exactly one object
 * `{"classes": {"1": {"dice", "jaccard", "hd95", "asd", "assd"}, ...}}`; a class where the
 * empty-mask convention applied (its zeros and ones are not measurements) also has
 * `"empty": true` and `"emptyIn": "pred" | "label" | "both"`, as the table notes it. Classes:
 * every non-zero value present in either map, or `--classes 1,2,...`.
 */
import { Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import { DataError, fileAccessError } from "../../io/errors.ts";
import { formatOf } from "../../io/dataset.ts";
import { listHdf5Datasets, readHdf5Dataset } from "../../io/hdf5.ts";
import { readNifti } from "../../io/nifti.ts";
import { readPng } from "../../io/png.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { checkGeometry, toLabelData } from "../../io/cases.ts";
import { type CaseMetrics, computeMetrics } from "../../metrics/medpy.ts";
import { METRIC_NAMES } from "../../metrics/aggregate.ts";
import { ConfigError } from "../errors.ts";

const ALL_VALUES = Array.from({ length: 256 }, (_, i) => i);
/** As ingest's default: voxel grids further apart than this are not the same place. */
const GEOMETRY_TOLERANCE_MM = 1e-3;

/** A label map read from a file, with where it came from (file, and dataset for .h5). */
export interface LabelMapFile {
  readonly volume: LabelVolume;
  /** "path" or "path [dataset]", for messages. */
  readonly where: string;
}

/**
 * Reads a label map (class indices) from NIfTI, PNG or .h5. `role` picks the .h5 dataset:
 * "label" -> `label`; "pred" -> `pred` if present, else `label`.
 */
export async function readLabelMap(path: string, role: "pred" | "label"): Promise<LabelMapFile> {
  const format = formatOf(path);
  let raw: Volume;
  let where = path;
  switch (format) {
    case "nifti":
      raw = readNifti(path);
      break;
    case "png":
      raw = readPng(path);
      break;
    case "hdf5": {
      const names = await listHdf5Datasets(path);
      const key = role === "pred" && names.includes("pred") ? "pred" : "label";
      if (!names.includes(key)) {
        throw new DataError(
          path,
          `no "${key}" dataset (the file has: ${names.join(", ") || "nothing"})`,
          role === "pred"
            ? 'store the prediction as a "pred" or "label" dataset'
            : 'the label must be the "label" dataset',
        );
      }
      raw = await readHdf5Dataset(path, key);
      where = `${path} [${key}]`;
      break;
    }
    default:
      try {
        if (Deno.statSync(path).isDirectory) {
          throw new DataError(path, "is a folder, expected a label file");
        }
      } catch (e) {
        throw fileAccessError(path, e);
      }
      throw new DataError(
        path,
        "unknown label file type",
        "give a .nii, .nii.gz, .png or .h5 file",
      );
  }
  return { volume: { ...raw, data: toLabelData(where, raw.data, ALL_VALUES) }, where };
}

/** Parses "sx,sy,sz" (or "sx,sy" for 2D) into positive finite numbers. */
export function parseSpacing(text: string): number[] {
  const parts = text.split(/[,x ]+/).filter((p) => p !== "");
  const values = parts.map(Number);
  if (
    (values.length !== 2 && values.length !== 3) ||
    values.some((v) => !(v > 0) || !Number.isFinite(v))
  ) {
    throw new ConfigError({
      problems: [`--spacing: expected sx,sy,sz (positive numbers in mm), got "${text}"`],
    });
  }
  return values;
}

/** Parses "1,2,3" into class values. */
export function parseClasses(text: string): number[] {
  const values = text.split(/[, ]+/).filter((p) => p !== "").map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1 || v > 255)) {
    throw new ConfigError({
      problems: [`--classes: expected class values 1..255 like 1,2,3, got "${text}"`],
    });
  }
  return values;
}

export interface MetricsRequest {
  readonly pred: string;
  readonly label: string;
  /** undefined: voxel units; "file": the label file's voxel size; numbers: given spacing. */
  readonly spacing?: "file" | readonly number[];
  readonly classes?: readonly number[];
}

export interface MetricsResult {
  readonly metrics: CaseMetrics;
  readonly pred: LabelMapFile;
  readonly label: LabelMapFile;
  /** The spacing used (undefined for voxel units). */
  readonly spacing?: readonly number[];
}

/** Reads both files, checks they share a grid, and computes the per-class metrics. */
export async function evaluateFiles(req: MetricsRequest): Promise<MetricsResult> {
  const pred = await readLabelMap(req.pred, "pred");
  const label = await readLabelMap(req.label, "label");
  const ps = pred.volume.shape, ls = label.volume.shape;
  if (ps.some((s, i) => s !== ls[i])) {
    throw new DataError(
      pred.where,
      `prediction shape ${ps.join("x")} differs from label shape ${ls.join("x")} (${label.where})`,
      "both must be on the same voxel grid",
    );
  }
  // Only NIfTI carries geometry (the others read as identity), so only two NIfTI are compared.
  if (formatOf(req.pred) === "nifti" && formatOf(req.label) === "nifti") {
    checkGeometry(pred.where, label.where, label.volume, pred.volume, GEOMETRY_TOLERANCE_MM, {
      checked: "prediction",
      reference: "label",
    });
  }
  const spacing = req.spacing === "file"
    ? (ls[2] === 1 ? label.volume.spacing.slice(0, 2) : [...label.volume.spacing])
    : req.spacing;
  if (spacing !== undefined && spacing.length === 2 && ls[2] !== 1) {
    throw new ConfigError({
      problems: [`--spacing: ${label.where} is 3D (${ls.join("x")}); give sx,sy,sz`],
    });
  }
  const metrics = computeMetrics(pred.volume, label.volume, {
    ...(req.classes ? { classes: req.classes } : {}),
    ...(spacing ? { spacing } : {}),
  });
  return { metrics, pred, label, spacing };
}

/** The `--json` object: `{"classes": {...}}`, each class flagged where a map was empty. */
export const metricsJson = (m: CaseMetrics) => ({
  classes: Object.fromEntries(
    Object.entries(m.classes).map(([k, scores]) => [
      k,
      m.empty[k] ? { ...scores, empty: true, emptyIn: m.empty[k] } : scores,
    ]),
  ),
});

const EMPTY_NOTE = {
  pred: "prediction empty: all metrics 0 (CAML convention)",
  label: "label empty: all metrics 0",
  both: "both empty: dice = jaccard = 1, distances 0",
};

/** Human-readable table. */
export function formatMetricsTable(r: MetricsResult): string {
  const unit = r.spacing
    ? `distances in mm (spacing ${r.spacing.join(" x ")})`
    : "distances in voxels";
  const lines = [`pred  ${r.pred.where}`, `label ${r.label.where}`, unit, ""];
  const keys = Object.keys(r.metrics.classes);
  if (keys.length === 0) {
    lines.push("no foreground class in either map");
    return lines.join("\n");
  }
  lines.push(
    ["class", ...METRIC_NAMES].map((h, i) => i === 0 ? h.padEnd(6) : h.padStart(10)).join(""),
  );
  for (const k of keys) {
    const m = r.metrics.classes[k];
    const row = k.padEnd(6) + METRIC_NAMES.map((n) => m[n].toFixed(4).padStart(10)).join("");
    const empty = r.metrics.empty[k];
    lines.push(empty ? `${row}  (${EMPTY_NOTE[empty]})` : row);
  }
  return lines.join("\n");
}

const asInputError = (e: unknown) =>
  e instanceof DataError || e instanceof ConfigError
    ? e
    : new DataError("metrics", e instanceof Error ? e.message : String(e));

export const metricsCommand = Command.make("metrics", {
  pred: Flag.String("pred").pipe(
    Flag.withDescription("predicted label map: .nii/.nii.gz, .png, or .h5 (pred or label dataset)"),
  ),
  label: Flag.String("label").pipe(
    Flag.withDescription("reference label map: .nii/.nii.gz, .png, or .h5 (label dataset)"),
  ),
  spacing: Flag.String("spacing").pipe(
    Flag.withDescription(
      "distances in mm: bare = the label file's voxel size, or =sx,sy,sz (default: voxels)",
    ),
    Flag.withOptionalValue("file"),
    Flag.optional,
  ),
  classes: Flag.String("classes").pipe(
    Flag.withDescription("class values to score, e.g. 1,2,3 (default: all present)"),
    Flag.optional,
  ),
  json: Flag.Boolean("json").pipe(
    Flag.withDescription('one JSON object {"classes": ...}'),
    Flag.withDefault(false),
  ),
  // `--spacing 0.6,0.6,1` (space-separated) leaves the value as a positional argument.
  rest: Argument.String("spacing-value").pipe(
    Argument.withDescription("value of --spacing when given without '='"),
    Argument.optional,
  ),
}, (flags) =>
  Effect.gen(function* () {
    const spacingFlag = Option.getOrUndefined(flags.spacing);
    const rest = Option.getOrUndefined(flags.rest);
    if (rest !== undefined && spacingFlag !== "file") {
      return yield* Effect.fail(
        new ConfigError({ problems: [`metrics: unexpected argument "${rest}"`] }),
      );
    }
    const spacing = yield* Effect.try({
      try: () =>
        spacingFlag === undefined
          ? undefined
          : rest !== undefined
          ? parseSpacing(rest)
          : spacingFlag === "file"
          ? "file" as const
          : parseSpacing(spacingFlag),
      catch: (e) => e as ConfigError,
    });
    const classes = yield* Effect.try({
      try: () => Option.getOrUndefined(Option.map(flags.classes, parseClasses)),
      catch: (e) => e as ConfigError,
    });
    const result = yield* Effect.tryPromise({
      try: () => evaluateFiles({ pred: flags.pred, label: flags.label, spacing, classes }),
      catch: asInputError,
    });
    console.log(
      flags.json ? JSON.stringify(metricsJson(result.metrics)) : formatMetricsTable(result),
    );
  })).pipe(
    Command.withDescription("per-class Dice, Jaccard, HD95, ASD, ASSD of a prediction (medpy)"),
  );
