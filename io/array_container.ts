/**
 * A small self-describing container for typed arrays, used for stage artifacts (cases, slices,
 * predictions): 4-byte magic "DUET", uint32 header length, JSON header naming each array's dtype,
 * shape and byte offset, then the raw little-endian bytes (8-byte aligned).
 */
export type TypedArray = Float32Array | Uint8Array | Int32Array;
type DType = "float32" | "uint8" | "int32";

interface Entry {
  dtype: DType;
  shape: number[];
  offset: number;
  length: number;
}

const dtypeOf = (a: TypedArray): DType =>
  a instanceof Float32Array ? "float32" : a instanceof Int32Array ? "int32" : "uint8";

const MAGIC = 0x54455544; // "DUET" little-endian

export function encodeArrays(
  meta: Record<string, unknown>,
  arrays: Record<string, { data: TypedArray; shape: number[] }>,
): Uint8Array {
  const entries: Record<string, Entry> = {};
  let offset = 0;
  for (const [name, { data, shape }] of Object.entries(arrays)) {
    entries[name] = { dtype: dtypeOf(data), shape, offset, length: data.length };
    offset += Math.ceil(data.byteLength / 8) * 8;
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta, arrays: entries }));
  const start = Math.ceil((8 + header.length) / 8) * 8;
  const out = new Uint8Array(start + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, header.length, true);
  out.set(header, 8);
  for (const [name, { data }] of Object.entries(arrays)) {
    out.set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      start + entries[name].offset,
    );
  }
  return out;
}

export interface Decoded {
  meta: Record<string, unknown>;
  arrays: Record<string, { data: TypedArray; shape: number[] }>;
}

export function decodeArrays(bytes: Uint8Array): Decoded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint32(0, true) !== MAGIC) {
    throw new Error("not a Duet array container");
  }
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const start = Math.ceil((8 + headerLength) / 8) * 8;
  const arrays: Decoded["arrays"] = {};
  for (const [name, e] of Object.entries(header.arrays as Record<string, Entry>)) {
    const at = start + e.offset;
    const copy = bytes.slice(at, at + e.length * (e.dtype === "uint8" ? 1 : 4));
    const data = e.dtype === "float32"
      ? new Float32Array(copy.buffer)
      : e.dtype === "int32"
      ? new Int32Array(copy.buffer)
      : copy;
    arrays[name] = { data, shape: e.shape };
  }
  return { meta: header.meta, arrays };
}
