/**
 * Saving the exemplar painted in the browser so that the next `pipeline run --config FILE` trains
 * from it with no further editing:
 *
 * - `<out>/<ID>_label.nii.gz`: the painted slice on the image's grid (shape, spacing, affine),
 *   every other slice 0 (ingest reads only the chosen slice of an exemplar);
 * - `<out>/cases.txt`: a list file of every case (ingest's list format, io/dataset.ts), the
 *   exemplar's line naming that label in a second, tab-separated column. A list, not a file
 *   beside the images, because the data folder may be read-only, may hold its own label for the
 *   case (never overwritten) or be `.h5` files (whose label is a dataset inside the file);
 * - the config (`--config FILE`, or `<out>/config.json`): the user's JSON with `data.source` set
 *   to the list (absolute path), `data.root` null and `data.roles.exemplar` = {case, slice}.
 *
 * Everything is checked before anything is written (label values within the classes, the config
 * still valid, the roles consistent), each file is written via a rename, and the list is read
 * back with ingest's discovery to prove ingest will find the label.
 */
import { basename, dirname, join, relative } from "node:path";
import { toLabelData } from "../io/cases.ts";
import { type CaseSpec, discoverCases, type DiscoverOptions } from "../io/dataset.ts";
import { DataError } from "../io/errors.ts";
import { encodeNifti } from "../io/nifti.ts";
import { assignRoles, bindRoles, RolesConfigError } from "../io/roles.ts";
import type { Volume } from "../io/volume.ts";
import { decodeConfig, deepMerge } from "../pipeline/config.ts";
import { writeAtomic } from "../pipeline/commands/predict.ts";
import { defaults } from "../schemas/defaults.ts";
import type { Config } from "../schemas/config.ts";
import { Effect, Result } from "effect";
import { HttpError } from "./http.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const LIST_NAME = "cases.txt";
export const labelName = (id: string) => `${id}_label.nii.gz`;

export interface SaveRequest {
  /** Folder for the label and the list (created beforehand). */
  readonly out: string;
  readonly configPath: string;
  /** Every case, in discovery order. */
  readonly specs: readonly CaseSpec[];
  readonly caseId: string;
  /** The case's image (its grid is the label's). */
  readonly image: Volume;
  readonly slice: number;
  /** nx*ny label values of the slice, x fastest. */
  readonly labels: Uint8Array;
  /** The class names the page painted with. */
  readonly classes: readonly string[];
  readonly discover: DiscoverOptions;
}

export interface Saved {
  readonly label: string;
  readonly list: string;
  readonly config: string;
  readonly exemplar: { readonly case: string; readonly slice: number };
}

/** The user's config file as JSON (an empty object when it does not exist yet). */
export function readRawConfig(path: string): JsonObject {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new HttpError(500, `cannot read the config ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new HttpError(409, `the config ${path} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(409, `the config ${path} is not a JSON object`);
  }
  return parsed as JsonObject;
}

const objectAt = (o: JsonObject, key: string): JsonObject => {
  const v = o[key];
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v : {};
};

/**
 * `raw` with the data source and the exemplar set; other fields untouched, except that roles the
 * user never set get values for this dataset instead of the defaults' phantom IDs: validation =
 * the first cases with a label (not the exemplar), at most a fifth of all cases so that a fully
 * labelled dataset keeps most cases for training (as unlabelled), test = none.
 */
export function withExemplar(
  raw: JsonObject,
  list: string,
  exemplar: { case: string; slice: number },
  specs: readonly CaseSpec[],
): JsonObject {
  const data = objectAt(raw, "data");
  const roles = objectAt(data, "roles");
  const validation = specs.filter((s) => s.labelPath && s.id !== exemplar.case).map((s) => s.id)
    .slice(0, Math.max(1, Math.floor(specs.length / 5)));
  return {
    ...raw,
    data: {
      ...data,
      source: list,
      root: null,
      roles: { validation, test: [], ...roles, exemplar },
    },
  };
}

/** The full config `raw` decodes to (defaults merged in), or a 409 listing the problems. */
export function decodeRaw(raw: JsonObject, path: string): Config {
  const merged = deepMerge(defaults as unknown as Json, raw);
  const result = Effect.runSync(Effect.result(decodeConfig(merged)));
  if (Result.isFailure(result)) {
    throw new HttpError(
      409,
      `the config ${path} is invalid: ${result.failure.problems.join("; ")}`,
    );
  }
  return result.success;
}

/** The list file's text: one image per line relative to `out`, the exemplar's with its label. */
export function caseList(
  out: string,
  specs: readonly CaseSpec[],
  exemplar: { id: string; label: string },
): string {
  const lines = specs.map((s) => {
    const rel = relative(out, s.imagePath);
    // A line without "/" or an image extension would be read as a case ID.
    const path = rel.includes("/") ? rel : `./${rel}`;
    return s.id === exemplar.id ? `${path}\t${basename(exemplar.label)}` : path;
  });
  return [
    "# Written by `deno task pipeline annotate` (run it again after adding cases): one image",
    "# per line, relative to this file; after a tab, the label file the exemplar was painted in.",
    ...lines,
    "",
  ].join("\n");
}

/** Checks, writes label + list + config, and reads the list back as ingest will. */
export async function saveExemplar(req: SaveRequest): Promise<Saved> {
  const spec = req.specs.find((s) => s.id === req.caseId);
  if (!spec) throw new HttpError(404, `unknown case "${req.caseId}"`);
  const [nx, ny, nz] = req.image.shape;
  if (!(Number.isInteger(req.slice) && req.slice >= 0 && req.slice < nz)) {
    throw new HttpError(400, `slice ${req.slice} outside 0..${nz - 1}`);
  }
  if (req.labels.length !== nx * ny) {
    throw new HttpError(400, `the label has ${req.labels.length} values; the slice ${nx}x${ny}`);
  }
  const classValues = req.classes.map((_, k) => k);
  try {
    toLabelData("the painted slice", Float32Array.from(req.labels), classValues);
  } catch (e) {
    if (e instanceof DataError) throw new HttpError(422, e.message);
    throw e;
  }
  if (!req.labels.some((v) => v !== 0)) {
    throw new HttpError(422, "the slice has nothing painted: paint at least one class");
  }

  const labelPath = join(req.out, labelName(spec.id));
  const listPath = join(req.out, LIST_NAME);
  const exemplar = { case: spec.id, slice: req.slice };
  const raw = withExemplar(readRawConfig(req.configPath), listPath, exemplar, req.specs);
  const config = decodeRaw(raw, req.configPath);
  if (config.data.classes.join("\n") !== req.classes.join("\n")) {
    throw new HttpError(
      409,
      `data.classes of ${req.configPath} changed to [${
        config.data.classes.join(", ")
      }] since annotate started: restart it`,
    );
  }
  const specs = req.specs.map((s) => (s.id === spec.id ? { ...s, labelPath } : s));
  try {
    const ids = specs.map((s) => s.id);
    bindRoles(specs, assignRoles(ids, { ...config.data.roles, exemplar }));
  } catch (e) {
    if (e instanceof RolesConfigError || e instanceof DataError) {
      throw new HttpError(409, `data.roles of ${req.configPath}: ${e.message}`);
    }
    throw e;
  }

  const volume = new Uint8Array(nx * ny * nz);
  volume.set(req.labels, req.slice * nx * ny);
  const label = { ...req.image, data: volume };
  writeAtomic(req.out, labelName(spec.id), encodeNifti(label, { level: 6 }));
  const encoder = new TextEncoder();
  const list = caseList(req.out, req.specs, { id: spec.id, label: labelPath });
  writeAtomic(req.out, LIST_NAME, encoder.encode(list));
  const configText = JSON.stringify(raw, null, 2) + "\n";
  writeAtomic(dirname(req.configPath), basename(req.configPath), encoder.encode(configText));

  // Ingest's discovery must see the same cases and this label for the exemplar.
  const found = await discoverCases(listPath, req.discover);
  const same = found.length === req.specs.length && found.every((s, i) => s.id === req.specs[i].id);
  const mine = found.find((s) => s.id === spec.id);
  if (!same || mine?.labelPath !== labelPath) {
    throw new HttpError(
      500,
      `${listPath} does not read back as written (cases ${
        found.map((s) => s.id).join(", ")
      }; exemplar label ${mine?.labelPath})`,
    );
  }
  return { label: labelPath, list: listPath, config: req.configPath, exemplar };
}
