/**
 * Dataset discovery: a folder or a list file becomes a list of case specs (ID, image path,
 * label path when there is one, format). Nothing is decoded here except HDF5 dataset names.
 *
 * Folder layouts, tried in this order:
 * - nnU-Net: `imagesTr/<id>[_0000].nii.gz` + `labelsTr/<id>.nii.gz` (and `imagesTs/`, unlabelled);
 * - `images/` + `labels/` (or `masks/`, `segmentations/`) subfolders paired by case ID;
 * - files side by side: `<id>.nii.gz` with `<id>_label|_seg|_mask|_gt.nii.gz`, same for .png;
 * - SSL4MIS `.h5` files (the label is the `label` dataset of the same file, when present);
 * - DICOM: every subfolder holding DICOM files is a case (labels as NIfTI: `labels/<id>.nii.gz`
 *   or `<id>_label.nii.gz` beside the folder); a folder that is itself a series is one case.
 *
 * A list file has one case per line (blank lines and `#` comments skipped): a path (relative to
 * the list's folder) or an ID, looked up as `<dir>/<ID>.h5`, `<dir>/train/<ID>.h5`,
 * `<dir>/data/<ID>.h5`, `<dir>/<ID>/mri_norm2.h5`, `<dir>/imagesTr/<ID>.nii.gz`, ... (see
 * `candidatePaths`), where `<dir>` is the list's folder or `options.root`. A second,
 * tab-separated column names the case's label file (relative to the list's folder) instead of
 * the one found beside the image (`pipeline annotate` writes such lists).
 */
import { basename, dirname, join, resolve } from "node:path";
import { DataError, fileAccessError } from "./errors.ts";
import { listDicomFiles } from "./dicom.ts";
import { readDirFollowing } from "./dir.ts";
import { listHdf5Datasets } from "./hdf5.ts";

export type CaseFormat = "nifti" | "hdf5" | "png" | "dicom";

export interface CaseSpec {
  readonly id: string;
  readonly format: CaseFormat;
  /** A file, or a folder for DICOM series. */
  readonly imagePath: string;
  /** A label file (NIfTI/PNG), or the same .h5 file as the image (its `label` dataset). */
  readonly labelPath?: string;
}

export interface DiscoverOptions {
  /** Base folder for IDs in a list file (default: the list file's folder). */
  readonly root?: string;
  /** HDF5 dataset that holds the label (default "label"). */
  readonly hdf5LabelKey?: string;
}

const LABEL_SUFFIXES = ["_label", "_labels", "_seg", "_mask", "_gt"];
const LABEL_DIRS = ["labels", "masks", "segmentations", "labelsTr"];
const EXT = /\.(nii\.gz|nii|h5|hdf5|png)$/i;

export function formatOf(path: string): CaseFormat | undefined {
  const m = path.match(EXT)?.[1].toLowerCase();
  if (!m) return undefined;
  return m.startsWith("nii") ? "nifti" : m === "png" ? "png" : "hdf5";
}

/**
 * A dataset's display name: its folder's name, or `folder/list-file` for a list file (never
 * "." for the working directory).
 */
export function datasetName(source: string, root?: string | null): string {
  if (source === "phantoms") return source;
  const path = resolve(root ?? ".", source);
  const name = basename(path);
  return /\.[A-Za-z0-9]+$/.test(name) ? `${basename(dirname(path))}/${name}` : name;
}

/** Case ID from a file name: extension and nnU-Net's channel suffix `_0000` removed. */
export function idFromPath(path: string): string {
  const stem = basename(path).replace(EXT, "").replace(/_0000$/, "");
  // UA-MT's original LA layout: <ID>/mri_norm2.h5
  return stem === "mri_norm2" ? basename(dirname(resolve(path))) : stem;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
/** Whether `path` is a file (false when it is missing or unreadable). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
function listDir(path: string): Deno.DirEntry[] {
  return readDirFollowing(path).filter((e) => !e.name.startsWith("."))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Finds the cases of a folder or list file. Fails on empty sources and duplicate IDs. */
export async function discoverCases(
  source: string,
  options: DiscoverOptions = {},
): Promise<CaseSpec[]> {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(source);
  } catch (e) {
    throw fileAccessError(source, e);
  }
  const specs = st.isDirectory
    ? await discoverFolder(source, options)
    : await discoverList(source, options);
  if (specs.length === 0) {
    throw new DataError(
      source,
      st.isDirectory
        ? "no cases found (looked for .nii/.nii.gz, .h5, .png files and DICOM series folders)"
        : "list file names no cases",
      "point to the folder that holds the images, or fill the list",
    );
  }
  checkUniqueIds(source, specs);
  return specs;
}

function checkUniqueIds(source: string, specs: readonly CaseSpec[]): void {
  const seen = new Map<string, CaseSpec>();
  for (const s of specs) {
    const prev = seen.get(s.id);
    if (prev) {
      throw new DataError(
        source,
        `duplicate case ID "${s.id}" (${prev.imagePath} and ${s.imagePath})`,
        "give every case a unique file name / ID",
      );
    }
    seen.set(s.id, s);
  }
}

async function hdf5Spec(path: string, id: string, labelKey: string): Promise<CaseSpec> {
  const keys = await listHdf5Datasets(path);
  return keys.includes(labelKey)
    ? { id, format: "hdf5", imagePath: path, labelPath: path }
    : { id, format: "hdf5", imagePath: path };
}

/** Label file for an image: label folders next to the image folder, or a suffix beside it. */
function findLabel(imagePath: string, id: string): string | undefined {
  const dir = dirname(imagePath);
  const ext = imagePath.match(EXT)?.[0] ?? "";
  const exts = formatOf(imagePath) === "png" ? [".png"] : [".nii.gz", ".nii"];
  const parent = dirname(dir);
  const candidates: string[] = [];
  for (const ld of LABEL_DIRS) for (const e of exts) candidates.push(join(parent, ld, id + e));
  for (const sfx of LABEL_SUFFIXES) for (const e of exts) candidates.push(join(dir, id + sfx + e));
  if (ext) { for (const ld of LABEL_DIRS) candidates.push(join(parent, ld, basename(imagePath))); }
  return candidates.find((c) => c !== imagePath && isFile(c));
}

const isLabelName = (name: string) =>
  LABEL_SUFFIXES.some((s) => name.replace(EXT, "").toLowerCase().endsWith(s));

async function discoverFolder(folder: string, options: DiscoverOptions): Promise<CaseSpec[]> {
  const labelKey = options.hdf5LabelKey ?? "label";
  const sub = (name: string) => join(folder, name);
  // nnU-Net
  if (isDir(sub("imagesTr")) || isDir(sub("imagesTs"))) {
    const out: CaseSpec[] = [];
    for (const d of ["imagesTr", "imagesTs"]) {
      if (!isDir(sub(d))) continue;
      for (const e of listDir(sub(d))) {
        if (!e.isFile || formatOf(e.name) !== "nifti") continue;
        const id = idFromPath(e.name);
        const path = join(sub(d), e.name);
        const label = d === "imagesTr" ? findLabel(path, id) : undefined;
        out.push({ id, format: "nifti", imagePath: path, ...(label ? { labelPath: label } : {}) });
      }
    }
    return out;
  }
  // images/ + labels/
  if (isDir(sub("images"))) return filesIn(sub("images"), labelKey);
  // a DICOM series itself
  if (listDicomFiles(folder).length > 0) {
    return [dicomSpec(folder)];
  }
  const files = await filesIn(folder, labelKey);
  for (const e of listDir(folder)) {
    if (!e.isDirectory || LABEL_DIRS.includes(e.name)) continue;
    if (listDicomFiles(sub(e.name)).length > 0) files.push(dicomSpec(sub(e.name)));
  }
  return files;
}

function dicomSpec(dir: string): CaseSpec {
  const id = basename(resolve(dir));
  const parent = dirname(resolve(dir));
  const label = [
    ...LABEL_DIRS.flatMap((d) => [join(parent, d, `${id}.nii.gz`), join(parent, d, `${id}.nii`)]),
    ...LABEL_SUFFIXES.map((s) => join(parent, `${id}${s}.nii.gz`)),
  ].find(isFile);
  return { id, format: "dicom", imagePath: dir, ...(label ? { labelPath: label } : {}) };
}

async function filesIn(folder: string, labelKey: string): Promise<CaseSpec[]> {
  const out: CaseSpec[] = [];
  for (const e of listDir(folder)) {
    const format = formatOf(e.name);
    if (!e.isFile || !format || isLabelName(e.name)) continue;
    const path = join(folder, e.name);
    const id = idFromPath(e.name);
    if (format === "hdf5") out.push(await hdf5Spec(path, id, labelKey));
    else {
      const label = findLabel(path, id);
      out.push({ id, format, imagePath: path, ...(label ? { labelPath: label } : {}) });
    }
  }
  return out;
}

/** Where an ID from a list file may live, relative to the base folder, in lookup order. */
export function candidatePaths(base: string, id: string): string[] {
  const rel = [
    `${id}.h5`,
    `train/${id}.h5`,
    `data/${id}.h5`,
    `volumes/${id}.h5`,
    `data/slices/${id}.h5`,
    `slices/${id}.h5`,
    `${id}/mri_norm2.h5`,
    `2018LA_Seg_Training Set/${id}/mri_norm2.h5`,
    `${id}.nii.gz`,
    `${id}.nii`,
    `imagesTr/${id}.nii.gz`,
    `imagesTr/${id}_0000.nii.gz`,
    `imagesTs/${id}.nii.gz`,
    `imagesTs/${id}_0000.nii.gz`,
    `images/${id}.nii.gz`,
    `${id}.png`,
    `images/${id}.png`,
    id,
  ];
  return rel.map((r) => join(base, r));
}

async function discoverList(listFile: string, options: DiscoverOptions): Promise<CaseSpec[]> {
  let text: string;
  try {
    text = Deno.readTextFileSync(listFile);
  } catch (e) {
    throw fileAccessError(listFile, e);
  }
  if (text.includes("\0")) {
    throw new DataError(listFile, "is a binary file, not a list of case IDs or paths");
  }
  const base = options.root ?? dirname(listFile);
  const labelKey = options.hdf5LabelKey ?? "label";
  const out: CaseSpec[] = [];
  const lines = text.split(/\r?\n/);
  const lineOf = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const [line, labelColumn] = lines[i].split("\t").map((s) => s.trim());
    if (!line || line.startsWith("#")) continue;
    const label = labelColumn ? resolve(dirname(listFile), labelColumn) : undefined;
    if (label && !isFile(label)) {
      throw new DataError(listFile, `line ${i + 1}: label file ${label} not found`, "fix the path");
    }
    const asPath = resolve(dirname(listFile), line);
    const looksLikePath = line.includes("/") || EXT.test(line);
    const candidates = looksLikePath ? [asPath] : candidatePaths(base, line);
    const found = candidates.find((c) => isFile(c) || (isDir(c) && listDicomFiles(c).length > 0));
    if (!found) {
      throw new DataError(
        listFile,
        `line ${i + 1}: no image found for "${line}" (looked for ${
          candidates.slice(0, 4).join(", ")
        }, ...)`,
        looksLikePath ? "fix the path" : "set the dataset root folder or fix the ID",
      );
    }
    const id = looksLikePath ? idFromPath(found) : line;
    const prev = lineOf.get(id);
    if (prev !== undefined) {
      throw new DataError(listFile, `duplicate case ID "${id}" (lines ${prev} and ${i + 1})`);
    }
    lineOf.set(id, i + 1);
    let spec: CaseSpec;
    if (isDir(found)) spec = { ...dicomSpec(found), id };
    else if (formatOf(found) === "hdf5") spec = await hdf5Spec(found, id, labelKey);
    else {
      const paired = findLabel(found, idFromPath(found));
      spec = {
        id,
        format: formatOf(found)!,
        imagePath: found,
        ...(paired ? { labelPath: paired } : {}),
      };
    }
    out.push(label ? { ...spec, labelPath: label } : spec);
  }
  return out;
}
