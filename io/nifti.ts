/**
 * NIfTI-1 / NIfTI-2 reader (.nii, .nii.gz) and NIfTI-1 .nii.gz writer.
 *
 * Orientation follows the NIfTI standard and nibabel's precedence: the sform when sform_code > 0,
 * else the qform when qform_code > 0, else diag(pixdim) ("method 1"; nibabel instead falls back to
 * an Analyze-style centred affine for files with neither). nifti-reader-js parses the header, but
 * the affine is computed here: the library prefers the qform whenever qform_code > sform_code,
 * which contradicts the standard. Voxels are returned as float32 with scl_slope/scl_inter applied.
 */
import * as nifti from "nifti-reader-js";
import { gunzipSync, gzipSync } from "node:zlib";
import { DataError, readFileBytes } from "./errors.ts";
import type { Volume } from "./volume.ts";

export interface NiftiReadOptions {
  /** For 4D files: which volume (t index) to read. Without it a 4D file with t > 1 is an error. */
  readonly volumeIndex?: number;
}

/** NIfTI datatype codes this reader understands: [name, bytes per voxel]. */
const DATATYPES: Record<number, readonly [string, number]> = {
  2: ["uint8", 1],
  4: ["int16", 2],
  8: ["int32", 4],
  16: ["float32", 4],
  64: ["float64", 8],
  256: ["int8", 1],
  512: ["uint16", 2],
  768: ["uint32", 4],
  1024: ["int64", 8],
  1280: ["uint64", 8],
};
const UNSUPPORTED: Record<number, string> = {
  1: "binary (1 bit)",
  32: "complex64",
  128: "rgb24",
  1536: "float128",
  1792: "complex128",
  2048: "complex256",
  2304: "rgba32",
};

/** Reads a .nii or .nii.gz file from disk. */
export function readNifti(path: string, options: NiftiReadOptions = {}): Volume {
  return decodeNifti(readFileBytes(path), path, options);
}

/** Gunzips when the bytes start with the gzip magic; gzip errors become a DataError. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return new Uint8Array(gunzipSync(bytes));
    } catch (e) {
      throw new DataError(
        file,
        `gzip error (${(e as Error).message}): the file is corrupt or truncated`,
        "re-export or re-download it; `gzip -t FILE` shows the damage",
      );
    }
  }
  return bytes;
}

/** Decodes NIfTI bytes (gzipped or not); `file` is only used in error messages. */
export function decodeNifti(raw: Uint8Array, file: string, options: NiftiReadOptions = {}): Volume {
  const bytes = maybeGunzip(raw, file);
  if (bytes.length < 348) {
    throw new DataError(file, `truncated NIfTI header (${bytes.length} bytes, need at least 348)`);
  }
  const buf = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  ) as ArrayBuffer;
  const dv = new DataView(buf);
  const sizeLE = dv.getInt32(0, true), sizeBE = dv.getInt32(0, false);
  const version = sizeLE === 348 || sizeBE === 348 ? 1 : sizeLE === 540 || sizeBE === 540 ? 2 : 0;
  if (version === 0) {
    throw new DataError(file, "not a NIfTI file (sizeof_hdr is neither 348 nor 540)");
  }
  if (version === 2 && bytes.length < 540) {
    throw new DataError(file, `truncated NIfTI-2 header (${bytes.length} bytes, need 540)`);
  }
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(buf, true) as nifti.NIFTI1 | nifti.NIFTI2;
  } catch (e) {
    throw new DataError(file, `unreadable NIfTI header (${(e as Error).message})`);
  }
  const magic = version === 1 ? bytes[345] : bytes[5]; // 'i' in "ni1"/"ni2", '+' in "n+1"/"n+2"
  if (magic === 0x69) {
    throw new DataError(
      file,
      "a .hdr/.img pair header, not a single-file NIfTI",
      "convert it to .nii.gz (e.g. nibabel.save(nibabel.load(f), 'x.nii.gz'))",
    );
  }
  const le = header.littleEndian;
  const code = header.datatypeCode;
  const dtype = DATATYPES[code];
  if (!dtype) {
    const known = UNSUPPORTED[code];
    throw new DataError(
      file,
      known
        ? `unsupported NIfTI datatype ${known} (code ${code})`
        : `unknown NIfTI datatype code ${code}`,
      "save the image as a scalar integer or float type (e.g. float32)",
    );
  }
  const ndim = header.dims[0];
  if (!(ndim >= 1 && ndim <= 7)) throw new DataError(file, `invalid NIfTI dim[0] = ${ndim}`);
  const dim = (k: number) => (k <= ndim ? Math.max(1, header.dims[k]) : 1);
  for (let k = 1; k <= ndim; k++) {
    if (!(header.dims[k] >= 1)) throw new DataError(file, `NIfTI dim[${k}] = ${header.dims[k]}`);
  }
  const [nx, ny, nz] = [dim(1), dim(2), dim(3)];
  let extra = 1;
  for (let k = 4; k <= 7; k++) extra *= dim(k);
  const t = options.volumeIndex ?? 0;
  if (extra > 1 && options.volumeIndex === undefined) {
    throw new DataError(
      file,
      `image has ${extra} volumes (dims ${
        header.dims.slice(1, ndim + 1).join("x")
      }); Duet reads one`,
      "give volumeIndex or split the 4D file into 3D files",
    );
  }
  if (!(t >= 0 && t < extra && Number.isInteger(t))) {
    throw new DataError(file, `volumeIndex ${t} out of range 0..${extra - 1}`);
  }
  const [name, size] = dtype;
  const n = nx * ny * nz;
  const start = Number(header.vox_offset) + t * n * size;
  const end = start + n * size;
  if (end > bytes.length) {
    throw new DataError(
      file,
      `truncated file: voxel data needs ${
        Number(header.vox_offset) + extra * n * size
      } bytes, file has ${bytes.length}`,
      "re-export or re-download it",
    );
  }
  const data = decodeVoxels(dv, start, n, name, le);
  let slope = header.scl_slope, inter = header.scl_inter;
  if (!Number.isFinite(slope) || slope === 0) slope = 1;
  if (!Number.isFinite(inter)) inter = 0;
  if (slope !== 1 || inter !== 0) {
    for (let i = 0; i < n; i++) data[i] = data[i] * slope + inter;
  }
  const pix = header.pixDims;
  const spacing = [1, 2, 3].map((k) => (pix[k] > 0 && Number.isFinite(pix[k]) ? pix[k] : 1)) as [
    number,
    number,
    number,
  ];
  const affine = niftiAffine(header, dv, version, le, spacing);
  return { data, shape: [nx, ny, nz], spacing, affine };
}

function decodeVoxels(dv: DataView, start: number, n: number, type: string, le: boolean) {
  const out = new Float32Array(n);
  const nativeLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const buf = dv.buffer;
  const typed = (bytes: number) => le === nativeLE && (dv.byteOffset + start) % bytes === 0;
  switch (type) {
    case "uint8":
      out.set(new Uint8Array(buf, dv.byteOffset + start, n));
      break;
    case "int8":
      out.set(new Int8Array(buf, dv.byteOffset + start, n));
      break;
    case "int16":
      if (typed(2)) out.set(new Int16Array(buf, dv.byteOffset + start, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getInt16(start + 2 * i, le);
      break;
    case "uint16":
      if (typed(2)) out.set(new Uint16Array(buf, dv.byteOffset + start, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getUint16(start + 2 * i, le);
      break;
    case "int32":
      if (typed(4)) out.set(new Int32Array(buf, dv.byteOffset + start, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getInt32(start + 4 * i, le);
      break;
    case "uint32":
      if (typed(4)) out.set(new Uint32Array(buf, dv.byteOffset + start, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getUint32(start + 4 * i, le);
      break;
    case "float32":
      if (typed(4)) out.set(new Float32Array(buf, dv.byteOffset + start, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(start + 4 * i, le);
      break;
    case "float64":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(start + 8 * i, le);
      break;
    case "int64":
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(start + 8 * i, le));
      break;
    case "uint64":
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(start + 8 * i, le));
      break;
  }
  return out;
}

function niftiAffine(
  h: nifti.NIFTI1 | nifti.NIFTI2,
  dv: DataView,
  version: 1 | 2,
  le: boolean,
  spacing: readonly [number, number, number],
): number[] {
  if (h.sform_code > 0) {
    const a: number[] = [];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 4; c++) {
        a.push(
          version === 1
            ? dv.getFloat32(280 + (r * 4 + c) * 4, le)
            : dv.getFloat64(400 + (r * 4 + c) * 8, le),
        );
      }
    }
    return [...a, 0, 0, 0, 1];
  }
  if (h.qform_code > 0) {
    return qformAffine(
      [h.quatern_b, h.quatern_c, h.quatern_d],
      [h.qoffset_x, h.qoffset_y, h.qoffset_z],
      spacing,
      h.pixDims[0] < 0 ? -1 : 1,
    );
  }
  return [
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
}

/** nibabel's qform: quaternion (b,c,d) with a >= 0, normalised rotation, zooms, qfac. */
export function qformAffine(
  bcd: readonly number[],
  offset: readonly number[],
  zooms: readonly number[],
  qfac: number,
): number[] {
  const [b, c, d] = bcd;
  const w2 = 1 - (b * b + c * c + d * d);
  const a = w2 < 0 ? 0 : Math.sqrt(w2);
  const nq = a * a + b * b + c * c + d * d;
  const s = nq < 1e-12 ? 0 : 2 / nq;
  const R = nq < 1e-12 ? [1, 0, 0, 0, 1, 0, 0, 0, 1] : [
    1 - s * (c * c + d * d),
    s * (b * c - a * d),
    s * (b * d + a * c),
    s * (b * c + a * d),
    1 - s * (b * b + d * d),
    s * (c * d - a * b),
    s * (b * d - a * c),
    s * (c * d + a * b),
    1 - s * (b * b + c * c),
  ];
  const z = [zooms[0], zooms[1], zooms[2] * qfac];
  const out: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) out.push(R[r * 3 + col] * z[col]);
    out.push(offset[r]);
  }
  return [...out, 0, 0, 0, 1];
}

/** Quaternion parameters (b, c, d with a >= 0), zooms and qfac for an (orthogonal) affine. */
export function affineToQform(affine: readonly number[]) {
  const col = (j: number) => [affine[j], affine[4 + j], affine[8 + j]];
  const zooms = [0, 1, 2].map((j) => Math.hypot(...col(j)) || 1);
  const R = [0, 1, 2].map((r) => [0, 1, 2].map((j) => affine[r * 4 + j] / zooms[j]));
  const det = R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) -
    R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
    R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) { for (let r = 0; r < 3; r++) R[r][2] = -R[r][2]; }
  // Shepperd's method, numerically stable for all rotations.
  const tr = R[0][0] + R[1][1] + R[2][2];
  let a: number, b: number, c: number, d: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    a = 0.25 * s;
    b = (R[2][1] - R[1][2]) / s;
    c = (R[0][2] - R[2][0]) / s;
    d = (R[1][0] - R[0][1]) / s;
  } else if (R[0][0] > R[1][1] && R[0][0] > R[2][2]) {
    const s = Math.sqrt(1 + R[0][0] - R[1][1] - R[2][2]) * 2;
    a = (R[2][1] - R[1][2]) / s;
    b = 0.25 * s;
    c = (R[0][1] + R[1][0]) / s;
    d = (R[0][2] + R[2][0]) / s;
  } else if (R[1][1] > R[2][2]) {
    const s = Math.sqrt(1 + R[1][1] - R[0][0] - R[2][2]) * 2;
    a = (R[0][2] - R[2][0]) / s;
    b = (R[0][1] + R[1][0]) / s;
    c = 0.25 * s;
    d = (R[1][2] + R[2][1]) / s;
  } else {
    const s = Math.sqrt(1 + R[2][2] - R[0][0] - R[1][1]) * 2;
    a = (R[1][0] - R[0][1]) / s;
    b = (R[0][2] + R[2][0]) / s;
    c = (R[1][2] + R[2][1]) / s;
    d = 0.25 * s;
  }
  if (a < 0) [b, c, d] = [-b, -c, -d];
  return { bcd: [b, c, d], offset: [affine[3], affine[7], affine[11]], zooms, qfac };
}

export interface NiftiWriteOptions {
  /** Voxel type on disk; default float32 for Float32Array data, uint8 for Uint8Array data. */
  readonly datatype?: "float32" | "uint8";
  /** gzip level 1-9 (default 6). */
  readonly level?: number;
}

/** Encodes a volume as NIfTI-1 .nii.gz bytes with the affine stored as sform and qform (code 1). */
export function encodeNifti(
  volume: Volume<Float32Array | Uint8Array>,
  options: NiftiWriteOptions = {},
) {
  const datatype = options.datatype ?? (volume.data instanceof Uint8Array ? "uint8" : "float32");
  const bytesPer = datatype === "uint8" ? 1 : 4;
  const [nx, ny, nz] = volume.shape;
  const n = nx * ny * nz;
  if (volume.data.length !== n) throw new Error(`data length ${volume.data.length} != ${n}`);
  const out = new Uint8Array(352 + n * bytesPer);
  const dv = new DataView(out.buffer);
  const le = true;
  dv.setInt32(0, 348, le);
  const dims = [3, nx, ny, nz, 1, 1, 1, 1];
  dims.forEach((v, k) => dv.setInt16(40 + 2 * k, v, le));
  dv.setInt16(70, datatype === "uint8" ? 2 : 16, le);
  dv.setInt16(72, bytesPer * 8, le);
  const q = affineToQform(volume.affine);
  const pixdim = [q.qfac, q.zooms[0], q.zooms[1], q.zooms[2], 1, 1, 1, 1];
  pixdim.forEach((v, k) => dv.setFloat32(76 + 4 * k, v, le));
  dv.setFloat32(108, 352, le); // vox_offset
  dv.setFloat32(112, 1, le); // scl_slope
  dv.setFloat32(116, 0, le); // scl_inter
  out[123] = 2; // xyzt_units: mm
  new TextEncoder().encodeInto("Duet", out.subarray(148, 228));
  dv.setInt16(252, 1, le); // qform_code: scanner
  dv.setInt16(254, 1, le); // sform_code: scanner
  dv.setFloat32(256, q.bcd[0], le);
  dv.setFloat32(260, q.bcd[1], le);
  dv.setFloat32(264, q.bcd[2], le);
  dv.setFloat32(268, q.offset[0], le);
  dv.setFloat32(272, q.offset[1], le);
  dv.setFloat32(276, q.offset[2], le);
  for (let i = 0; i < 12; i++) dv.setFloat32(280 + 4 * i, volume.affine[i], le);
  out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  if (datatype === "uint8") {
    const src = volume.data;
    for (let i = 0; i < n; i++) out[352 + i] = src[i];
  } else {
    const f = new Float32Array(out.buffer, 352, n);
    f.set(volume.data);
  }
  return new Uint8Array(gzipSync(out, { level: options.level ?? 6 }));
}

/** Writes a volume as NIfTI-1 .nii.gz (the path should end in .nii.gz). */
export function writeNifti(
  path: string,
  volume: Volume<Float32Array | Uint8Array>,
  options: NiftiWriteOptions = {},
): void {
  Deno.writeFileSync(path, encodeNifti(volume, options));
}
