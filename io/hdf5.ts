/**
 * SSL4MIS-style HDF5 cases: one file with an `image` and (usually) a `label` dataset, gzip /
 * shuffle / LZF compressed, as written by h5py.
 *
 * h5wasm's node build reads the host file system directly (Emscripten NODERAWFS), so only the
 * chunks of the dataset asked for are read: an unlabelled case's `label` is never touched. LZF
 * comes from h5wasm-plugins. HDF5's own error stack is turned into one-line DataErrors.
 *
 * Axis order: numpy arrays are C order. SSL4MIS's LA / Pancreas files store (X, Y, Z) (the
 * default, `axisOrder: "xyz"`), ACDC-style files store (Z, Y, X) (`"zyx"`, also (Y, X) for 2D).
 * Either way the result is a Volume with x fastest. The files carry no spacing: it is 1 mm unless
 * `spacing` is given.
 */
import * as h5 from "h5wasm/node";
import { install_local_plugins } from "h5wasm-plugins";
import { resolve } from "node:path";
import { DataError, fileAccessError } from "./errors.ts";
import { identityAffine, type Volume } from "./volume.ts";

export type Hdf5AxisOrder = "xyz" | "zyx";

export interface Hdf5ReadOptions {
  /** Array axis order in the file (default "xyz", SSL4MIS LA). */
  readonly axisOrder?: Hdf5AxisOrder;
  /** Voxel spacing in mm (the files carry none; default [1, 1, 1]). */
  readonly spacing?: readonly [number, number, number];
}

type H5Module = Awaited<typeof h5.ready>;
let modulePromise: Promise<H5Module> | undefined;

/** Loads the HDF5 wasm module once, with the LZF plugin and the throwing error handler. */
export function hdf5Module(): Promise<H5Module> {
  modulePromise ??= h5.ready.then((m) => {
    install_local_plugins(m);
    m.activate_throwing_error_handler();
    return m;
  });
  return modulePromise;
}

/** The useful line of an HDF5 error stack: the innermost "function(): message". */
function hdf5Problem(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const lines = text.split("\n").filter((l) => /#\d+:/.test(l));
  const last = lines.at(-1);
  if (!last) return text.split("\n")[0];
  const m = last.match(/\(\): (.*)$/);
  return m ? m[1] : last.trim();
}

function openFile(path: string): h5.File {
  const abs = resolve(path);
  let size: number;
  try {
    const st = Deno.statSync(abs);
    if (st.isDirectory) throw new DataError(path, "is a folder, expected an .h5 file");
    size = st.size;
  } catch (e) {
    throw fileAccessError(path, e);
  }
  if (size < 8) throw new DataError(path, `not an HDF5 file (${size} bytes)`);
  try {
    return new h5.File(abs, "r");
  } catch (e) {
    const problem = hdf5Problem(e);
    throw new DataError(
      path,
      /truncated/i.test(problem)
        ? `truncated HDF5 file (${problem})`
        : `unreadable HDF5 file (${problem})`,
      /signature/i.test(problem) ? "is it really an .h5 file?" : "re-export or re-download it",
    );
  }
}

/** Names of the datasets at the top level of the file. */
export async function listHdf5Datasets(path: string): Promise<string[]> {
  await hdf5Module();
  const f = openFile(path);
  try {
    return f.keys().filter((k) => f.get(k) instanceof h5.Dataset);
  } finally {
    f.close();
  }
}

/** Reads one dataset as a float32 Volume (x fastest). */
export async function readHdf5Dataset(
  path: string,
  key: string,
  options: Hdf5ReadOptions = {},
): Promise<Volume> {
  await hdf5Module();
  const f = openFile(path);
  try {
    const ds = f.get(key);
    if (!(ds instanceof h5.Dataset)) {
      const has = f.keys().join(", ") || "nothing";
      throw new DataError(
        path,
        `no dataset "${key}" (the file has: ${has})`,
        "name the file's datasets in data.hdf5.image / data.hdf5.label",
      );
    }
    const shape = ds.shape ?? [];
    if (shape.length < 2 || shape.length > 3) {
      throw new DataError(
        path,
        `dataset "${key}" has shape (${shape.join(", ")}); expected 2D or 3D`,
      );
    }
    let raw: unknown;
    try {
      raw = ds.value;
    } catch (e) {
      throw new DataError(path, `cannot read dataset "${key}" (${hdf5Problem(e)})`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (!ArrayBuffer.isView(raw) || (raw as unknown as ArrayLike<number>).length !== count) {
      throw new DataError(
        path,
        `dataset "${key}" has an unsupported type (${ds.dtype}); expected numbers`,
        "store it as float32 / uint8 / int16",
      );
    }
    return toVolume(raw as unknown as ArrayLike<number | bigint>, shape, options);
  } finally {
    f.close();
  }
}

/** Reorders a C-order array into a Volume with x fastest. */
function toVolume(
  src: ArrayLike<number | bigint>,
  shape: readonly number[],
  options: Hdf5ReadOptions,
): Volume {
  const order = options.axisOrder ?? "xyz";
  const s3 = shape.length === 3 ? shape : [...shape, 1];
  // C order (a, b, c): index = c + C*(b + B*a)
  const [nx, ny, nz] = order === "xyz"
    ? [s3[0], s3[1], s3[2]]
    : shape.length === 3
    ? [s3[2], s3[1], s3[0]]
    : [s3[1], s3[0], 1];
  const n = nx * ny * nz;
  const out = new Float32Array(n);
  const big = typeof src[0] === "bigint";
  if (order === "zyx") {
    if (big) { for (let i = 0; i < n; i++) out[i] = Number(src[i]); }
    else out.set(src as ArrayLike<number>);
  } else {
    const s = src as ArrayLike<number>;
    const nxy = nx * ny;
    let i = 0;
    for (let x = 0; x < nx; x++) {
      for (let y = 0; y < ny; y++) {
        let o = x + nx * y;
        if (big) {
          for (let z = 0; z < nz; z++, o += nxy) out[o] = Number(src[i++]);
        } else {
          for (let z = 0; z < nz; z++, o += nxy) out[o] = s[i++];
        }
      }
    }
  }
  const spacing = options.spacing ?? [1, 1, 1];
  return { data: out, shape: [nx, ny, nz], spacing, affine: identityAffine(spacing) };
}

export interface Hdf5DatasetToWrite {
  readonly name: string;
  readonly volume: Volume<Float32Array | Uint8Array>;
  /** Default: "<f" (float32) for Float32Array, "<B" (uint8) for Uint8Array. */
  readonly dtype?: "<f" | "<B";
  readonly compression?: "gzip" | "lzf" | "none";
  readonly chunks?: readonly number[];
}

/**
 * Writes datasets in SSL4MIS layout (C order, `axisOrder` like the reader). Meant for tests and
 * small exports: h5wasm applies LZF as a mandatory filter, so LZF fails on incompressible chunks
 * (h5py would store them raw); use gzip for noisy data.
 */
export async function writeHdf5(
  path: string,
  datasets: readonly Hdf5DatasetToWrite[],
  axisOrder: Hdf5AxisOrder = "xyz",
): Promise<void> {
  await hdf5Module();
  const f = new h5.File(resolve(path), "w");
  try {
    for (const d of datasets) {
      const [nx, ny, nz] = d.volume.shape;
      const shape = axisOrder === "xyz" ? [nx, ny, nz] : [nz, ny, nx];
      const isU8 = d.volume.data instanceof Uint8Array;
      const dtype = d.dtype ?? (isU8 ? "<B" : "<f");
      const data = dtype === "<B" ? new Uint8Array(nx * ny * nz) : new Float32Array(nx * ny * nz);
      if (axisOrder === "zyx") data.set(d.volume.data);
      else {
        const v = d.volume.data;
        let i = 0;
        for (let x = 0; x < nx; x++) {
          for (let y = 0; y < ny; y++) {
            for (let z = 0; z < nz; z++) data[i++] = v[x + nx * (y + ny * z)];
          }
        }
      }
      const compression = d.compression ?? "gzip";
      const chunks = compression === "none"
        ? null
        : [...(d.chunks ?? shape.map((s) => Math.min(s, 32)))];
      f.create_dataset({
        name: d.name,
        data,
        shape,
        dtype,
        chunks,
        ...(compression === "gzip" ? { compression: "gzip" as const, compression_opts: 4 } : {}),
        ...(compression === "lzf" ? { compression: 32000, compression_opts: [] } : {}),
      });
    }
  } finally {
    f.close();
  }
}
