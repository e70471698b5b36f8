/**
 * A DICOM series folder (one file per slice, uncompressed pixel data) as one Volume.
 *
 * Slices are sorted by ImagePositionPatient projected on the slice normal (row × column
 * direction of ImageOrientationPatient); in-plane spacing is PixelSpacing, slice spacing is the
 * distance between consecutive positions (which must be uniform: a gap means a missing file).
 * Voxels get RescaleSlope/RescaleIntercept. DICOM's patient space is LPS; the affine is
 * converted to RAS+ like NIfTI's (x, y negated), with x = column, y = row, z = sorted slice.
 */
import dicomParser from "dicom-parser";
import { join } from "node:path";
import { DataError, fileAccessError, readFileBytes } from "./errors.ts";
import { readDirFollowing } from "./dir.ts";
import type { Volume } from "./volume.ts";

const UNCOMPRESSED: Record<string, string> = {
  "1.2.840.10008.1.2": "implicit VR little endian",
  "1.2.840.10008.1.2.1": "explicit VR little endian",
  "1.2.840.10008.1.2.2": "explicit VR big endian",
};

const TAG = {
  transferSyntax: "x00020010",
  seriesUid: "x0020000e",
  instanceNumber: "x00200013",
  position: "x00200032",
  orientation: "x00200037",
  samplesPerPixel: "x00280002",
  frames: "x00280008",
  rows: "x00280010",
  columns: "x00280011",
  pixelSpacing: "x00280030",
  bitsAllocated: "x00280100",
  pixelRepresentation: "x00280103",
  intercept: "x00281052",
  slope: "x00281053",
  sliceThickness: "x00180050",
  spacingBetweenSlices: "x00180088",
  pixelData: "x7fe00010",
};

interface Slice {
  file: string;
  rows: number;
  columns: number;
  position?: number[];
  orientation: number[];
  pixelSpacing: [number, number];
  instance: number;
  series: string;
  pixels: Float32Array;
  thickness?: number;
}

/** True when the bytes carry the DICOM Part 10 preamble ("DICM" at offset 128). */
export function hasDicomPreamble(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 &&
    bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** Files of a folder that look like DICOM (by preamble), sorted by name. */
export function listDicomFiles(folder: string): string[] {
  const entries = readDirFollowing(folder);
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isFile || e.name.startsWith(".") || e.name.toUpperCase() === "DICOMDIR") continue;
    const path = join(folder, e.name);
    const head = new Uint8Array(132);
    let n = 0;
    try {
      const f = Deno.openSync(path);
      try {
        n = f.readSync(head) ?? 0;
      } finally {
        f.close();
      }
    } catch (err) {
      throw fileAccessError(path, err);
    }
    if (n === 132 && hasDicomPreamble(head)) out.push(path);
  }
  return out.sort();
}

function numbers(ds: dicomParser.DataSet, tag: string): number[] | undefined {
  const s = ds.string(tag);
  if (s === undefined || s.trim() === "") return undefined;
  const v = s.split("\\").map(Number);
  return v.every(Number.isFinite) ? v : undefined;
}

function parseSlice(file: string): Slice {
  const bytes = readFileBytes(file);
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (e) {
    const msg = typeof e === "string" ? e : (e as Error)?.message ?? String(e);
    throw new DataError(file, `unreadable DICOM file (${msg}): corrupt or truncated`);
  }
  const ts = ds.string(TAG.transferSyntax) ?? "1.2.840.10008.1.2";
  if (!UNCOMPRESSED[ts]) {
    throw new DataError(
      file,
      `compressed DICOM transfer syntax ${ts}; Duet reads uncompressed pixel data`,
      "decompress the series first, e.g. `gdcmconv --raw` or `dcmdjpeg`",
    );
  }
  const rows = ds.uint16(TAG.rows), columns = ds.uint16(TAG.columns);
  const bits = ds.uint16(TAG.bitsAllocated);
  const pixel = ds.elements[TAG.pixelData];
  if (!rows || !columns || !bits || !pixel) {
    throw new DataError(file, "DICOM file without image pixel data (Rows/Columns/PixelData)");
  }
  if ((ds.uint16(TAG.samplesPerPixel) ?? 1) !== 1) {
    throw new DataError(file, "colour DICOM (SamplesPerPixel > 1); Duet reads grey images");
  }
  if ((ds.intString(TAG.frames) ?? 1) > 1) {
    throw new DataError(file, "multi-frame DICOM; Duet reads one file per slice", "split it");
  }
  const n = rows * columns;
  const bytesPer = bits / 8;
  if (![1, 2, 4].includes(bytesPer)) {
    throw new DataError(file, `unsupported BitsAllocated ${bits} (need 8, 16 or 32)`);
  }
  if (pixel.dataOffset + n * bytesPer > bytes.length || pixel.length < n * bytesPer) {
    throw new DataError(
      file,
      `truncated DICOM pixel data (${Math.min(pixel.length, bytes.length - pixel.dataOffset)} of ${
        n * bytesPer
      } bytes)`,
      "re-export or re-copy the series",
    );
  }
  const signed = ds.uint16(TAG.pixelRepresentation) === 1;
  const le = ts !== "1.2.840.10008.1.2.2";
  const dv = new DataView(bytes.buffer, bytes.byteOffset + pixel.dataOffset, n * bytesPer);
  const slope = ds.floatString(TAG.slope) ?? 1, inter = ds.floatString(TAG.intercept) ?? 0;
  const px = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    if (bytesPer === 1) v = signed ? dv.getInt8(i) : dv.getUint8(i);
    else if (bytesPer === 2) v = signed ? dv.getInt16(2 * i, le) : dv.getUint16(2 * i, le);
    else v = signed ? dv.getInt32(4 * i, le) : dv.getUint32(4 * i, le);
    px[i] = v * slope + inter;
  }
  const ps = numbers(ds, TAG.pixelSpacing);
  return {
    file,
    rows,
    columns,
    position: numbers(ds, TAG.position),
    orientation: numbers(ds, TAG.orientation) ?? [1, 0, 0, 0, 1, 0],
    // PixelSpacing is (row spacing = between rows, column spacing = between columns).
    pixelSpacing: ps && ps.length >= 2 ? [ps[0], ps[1]] : [1, 1],
    instance: ds.intString(TAG.instanceNumber) ?? 0,
    series: ds.string(TAG.seriesUid) ?? "",
    pixels: px,
    thickness: ds.floatString(TAG.spacingBetweenSlices) ?? ds.floatString(TAG.sliceThickness),
  };
}

const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** Reads every DICOM file of `folder` as one series volume. */
export function readDicomSeries(folder: string): Volume {
  const files = listDicomFiles(folder);
  if (files.length === 0) {
    throw new DataError(
      folder,
      "no DICOM files (none has the 'DICM' preamble)",
      "point to a folder holding one DICOM series",
    );
  }
  const slices = files.map(parseSlice);
  const series = new Set(slices.map((s) => s.series));
  if (series.size > 1) {
    throw new DataError(
      folder,
      `folder holds ${series.size} DICOM series (${[...series].join(", ")})`,
      "put each series in its own folder",
    );
  }
  const first = slices[0];
  for (const s of slices) {
    if (s.rows !== first.rows || s.columns !== first.columns) {
      throw new DataError(
        s.file,
        `slice is ${s.columns}x${s.rows}, the series is ${first.columns}x${first.rows}`,
      );
    }
    if (s.orientation.some((v, i) => Math.abs(v - first.orientation[i]) > 1e-4)) {
      throw new DataError(s.file, "slice orientation differs from the rest of the series");
    }
  }
  const rowDir = first.orientation.slice(0, 3), colDir = first.orientation.slice(3, 6);
  const normal = [
    rowDir[1] * colDir[2] - rowDir[2] * colDir[1],
    rowDir[2] * colDir[0] - rowDir[0] * colDir[2],
    rowDir[0] * colDir[1] - rowDir[1] * colDir[0],
  ];
  const havePositions = slices.every((s) => s.position && s.position.length === 3);
  const key = (s: Slice) => (havePositions ? dot(s.position!, normal) : s.instance);
  slices.sort((a, b) => key(a) - key(b));
  let dz = first.thickness && first.thickness > 0 ? first.thickness : 1;
  let step = normal.map((v) => v * dz);
  if (havePositions && slices.length > 1) {
    const gaps = slices.slice(1).map((s, i) => key(s) - key(slices[i]));
    const dup = gaps.findIndex((g) => Math.abs(g) < 1e-4);
    if (dup >= 0) {
      throw new DataError(
        folder,
        `two slices at the same position (${slices[dup].file} and ${slices[dup + 1].file})`,
        "remove duplicates or split the series",
      );
    }
    const mean = (key(slices[slices.length - 1]) - key(slices[0])) / (slices.length - 1);
    const worst = Math.max(...gaps.map((g) => Math.abs(g - mean)));
    if (worst > Math.max(0.01, 0.05 * mean)) {
      throw new DataError(
        folder,
        `non-uniform slice spacing (gaps ${Math.min(...gaps).toFixed(3)} to ${
          Math.max(...gaps).toFixed(3)
        } mm): a slice is missing or the series mixes acquisitions`,
        "add the missing files or resample the series",
      );
    }
    dz = mean;
    const p0 = slices[0].position!, pn = slices[slices.length - 1].position!;
    step = [0, 1, 2].map((i) => (pn[i] - p0[i]) / (slices.length - 1));
  }
  const [nx, ny, nz] = [first.columns, first.rows, slices.length];
  const data = new Float32Array(nx * ny * nz);
  slices.forEach((s, z) => data.set(s.pixels, z * nx * ny));
  const [rowSpacing, colSpacing] = first.pixelSpacing;
  const origin = havePositions ? slices[0].position! : [0, 0, 0];
  // LPS voxel->world, then LPS->RAS flips the first two world axes.
  const lps = [0, 1, 2].map((r) => [
    rowDir[r] * colSpacing,
    colDir[r] * rowSpacing,
    step[r],
    origin[r],
  ]);
  const affine = [
    ...lps[0].map((v) => -v),
    ...lps[1].map((v) => -v),
    ...lps[2],
    0,
    0,
    0,
    1,
  ].map((v) => (Object.is(v, -0) ? 0 : v));
  return { data, shape: [nx, ny, nz], spacing: [colSpacing, rowSpacing, Math.abs(dz)], affine };
}
