/**
 * Reading a case (image + label) with every check ingest promises: finite voxels, integer label
 * values within the declared classes, label with the same shape and geometry as the image.
 */
import { checkFinite, DataError } from "./errors.ts";
import type { CaseSpec } from "./dataset.ts";
import { formatOf } from "./dataset.ts";
import { readDicomSeries } from "./dicom.ts";
import { type Hdf5ReadOptions, readHdf5Dataset } from "./hdf5.ts";
import { readNifti } from "./nifti.ts";
import { readPng } from "./png.ts";
import type { LabelVolume, Volume } from "./volume.ts";

export interface ReadCaseOptions {
  /** Declared label values (e.g. [0, 1]) or a class count K meaning 0..K-1. */
  readonly classes: number | readonly number[];
  readonly hdf5?: Hdf5ReadOptions & { readonly imageKey?: string; readonly labelKey?: string };
  /** Absolute tolerance (mm) for comparing the label's affine with the image's. Default 1e-3. */
  readonly geometryTolerance?: number;
}

export interface LoadedCase {
  readonly id: string;
  readonly image: Volume;
  readonly label?: LabelVolume;
}

export const classValues = (classes: number | readonly number[]): number[] =>
  typeof classes === "number" ? Array.from({ length: classes }, (_, i) => i) : [...classes];

async function readVolume(
  path: string,
  format: CaseSpec["format"],
  key: string,
  options: ReadCaseOptions,
): Promise<Volume> {
  switch (format) {
    case "nifti":
      return readNifti(path);
    case "png":
      return readPng(path);
    case "dicom":
      return readDicomSeries(path);
    case "hdf5":
      return await readHdf5Dataset(path, key, options.hdf5);
  }
}

/** Reads only the image of a case (the label file is never opened) and checks it is finite. */
export async function readCaseImage(spec: CaseSpec, options: ReadCaseOptions): Promise<Volume> {
  const image = await readVolume(
    spec.imagePath,
    spec.format,
    options.hdf5?.imageKey ?? "image",
    options,
  );
  checkFinite(spec.imagePath, image.data, "image");
  return image;
}

/** Reads image and label (when the spec has one) and runs all checks. */
export async function readCase(spec: CaseSpec, options: ReadCaseOptions): Promise<LoadedCase> {
  const image = await readCaseImage(spec, options);
  if (!spec.labelPath) return { id: spec.id, image };
  const label = await readCaseLabel(spec, image, options);
  return { id: spec.id, image, label };
}

/** Reads the label of a case and checks it against the image and the class list. */
export async function readCaseLabel(
  spec: CaseSpec,
  image: Volume,
  options: ReadCaseOptions,
): Promise<LabelVolume> {
  const { raw, where } = await readLabelOnGrid(spec, image, options);
  return { ...raw, data: toLabelData(where, raw.data, classValues(options.classes)) };
}

/**
 * Reads the label of a case and checks its grid (shape, geometry) against the image, not its
 * values: the caller checks the part it uses (the exemplar's one slice of a partly annotated
 * map). `where` names the file (and dataset) in errors.
 */
export async function readLabelOnGrid(
  spec: CaseSpec,
  image: Volume,
  options: ReadCaseOptions,
): Promise<{ raw: Volume; where: string }> {
  const path = spec.labelPath;
  if (!path) throw new DataError(spec.imagePath, `case "${spec.id}" has no label file`);
  // By the label's own extension: an .h5 case may name a NIfTI label (a list file's column).
  const format = formatOf(path) ?? spec.format;
  const raw = await readVolume(path, format, options.hdf5?.labelKey ?? "label", options);
  const where = format === "hdf5" ? `${path} [${options.hdf5?.labelKey ?? "label"}]` : path;
  if (raw.shape.some((s, i) => s !== image.shape[i])) {
    throw new DataError(
      where,
      `label shape ${raw.shape.join("x")} differs from image shape ${
        image.shape.join("x")
      } (${spec.imagePath})`,
      "the label must be on the image's voxel grid",
    );
  }
  checkGeometry(where, spec.imagePath, image, raw, options.geometryTolerance ?? 1e-3);
  return { raw, where };
}

/**
 * Fails with a DataError naming `labelPath` when `label`'s affine or spacing differs from
 * `image`'s by more than `tol` (mm). `names` words the message (metrics: prediction vs label).
 */
export function checkGeometry(
  labelPath: string,
  imagePath: string,
  image: Pick<Volume, "affine" | "spacing">,
  label: Pick<Volume, "affine" | "spacing">,
  tol: number,
  names: { readonly checked: string; readonly reference: string } = {
    checked: "label",
    reference: "image",
  },
): void {
  const { checked, reference } = names;
  let worst = 0, at = -1;
  for (let i = 0; i < 12; i++) {
    const d = Math.abs(image.affine[i] - label.affine[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  const spacingOff = image.spacing.some((s, i) => Math.abs(s - label.spacing[i]) > tol);
  if (worst > tol || spacingOff) {
    throw new DataError(
      labelPath,
      spacingOff
        ? `${checked} spacing ${label.spacing.join("x")} differs from ${reference} spacing ${
          image.spacing.join("x")
        } (${imagePath})`
        : `${checked} geometry differs from the ${reference} (${imagePath}): affine[${at >> 2}][${
          at & 3
        }] is ${label.affine[at]} vs ${image.affine[at]}`,
      `resample the ${checked} onto the ${reference} grid or fix its header`,
    );
  }
}

/** Checks integer, finite, declared values and converts to uint8. */
export function toLabelData(
  file: string,
  data: Float32Array,
  classes: readonly number[],
): Uint8Array {
  const allowed = new Uint8Array(256);
  for (const c of classes) {
    if (!(Number.isInteger(c) && c >= 0 && c <= 255)) {
      throw new DataError(file, `class value ${c} is not an integer in 0..255`);
    }
    allowed[c] = 1;
  }
  const out = new Uint8Array(data.length);
  let bad = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v >= 0 && v <= 255 && v === Math.floor(v) && allowed[v]) out[i] = v;
    else if (bad < 0) bad = i;
  }
  if (bad >= 0) {
    const v = data[bad];
    let count = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] === v || (v !== v && data[i] !== data[i])) count++;
    }
    const what = !Number.isFinite(v)
      ? `non-finite value ${v}`
      : v !== Math.floor(v)
      ? `non-integer value ${v}`
      : `value ${v}`;
    throw new DataError(
      file,
      `label has ${what} (${count} voxels, first at flat index ${bad}) outside the declared classes [${
        classes.join(", ")
      }]`,
      "fix the label map or declare the class in the config",
    );
  }
  return out;
}
