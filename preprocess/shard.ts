/**
 * Slice shards: many normalised 2D slices in one byte string, readable slice by slice.
 *
 * Layout (all little endian):
 *   0   8 bytes  magic "DUETSLC1"
 *   8   u32      header length L
 *   12  L bytes  JSON header {version, count, meta, payloadBytes, entries: [{caseId, z, width,
 *                height, image: offset, label?: offset}]} (offsets from the start of the shard)
 *   ... zero padding to a multiple of 8, then per slice: float32 image (width*height), and the
 *       uint8 label (width*height) when there is one, each padded to a multiple of 4 bytes.
 * A reader fetches the first 12 bytes, then the header, then any slice by its byte range, so the
 * train stage streams slices from the object store without loading a whole shard.
 */
import { DataError } from "../io/errors.ts";
import type { Slice2D } from "./normalize.ts";

const MAGIC = "DUETSLC1";
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ShardEntry {
  readonly caseId: string;
  readonly z: number;
  readonly width: number;
  readonly height: number;
  readonly image: number;
  readonly label?: number;
}

export interface ShardIndex {
  readonly version: 1;
  readonly count: number;
  readonly meta: unknown;
  readonly payloadBytes: number;
  readonly entries: readonly ShardEntry[];
}

const pad = (n: number, to: number) => (n + to - 1) - ((n + to - 1) % to);

export function encodeShard(slices: readonly Slice2D[], meta: unknown = null): Uint8Array {
  // Offsets depend on the header length, which depends on the offsets' digits: iterate to a
  // fixed point (the header only grows, so this ends in a step or two).
  let dataStart = 0;
  let header: Uint8Array;
  let entries: ShardEntry[];
  let payload = 0;
  for (;;) {
    entries = [];
    let o = dataStart;
    for (const s of slices) {
      const n = s.width * s.height;
      if (s.image.length !== n || (s.label && s.label.length !== n)) {
        throw new Error(
          `slice ${s.caseId}/${s.z}: data length does not match ${s.width}x${s.height}`,
        );
      }
      const e: ShardEntry = {
        caseId: s.caseId,
        z: s.z,
        width: s.width,
        height: s.height,
        image: o,
      };
      o += n * 4;
      if (s.label) {
        entries.push({ ...e, label: o });
        o += pad(n, 4);
      } else entries.push(e);
    }
    payload = o - dataStart;
    const index: ShardIndex = {
      version: 1,
      count: slices.length,
      meta,
      payloadBytes: payload,
      entries,
    };
    header = new TextEncoder().encode(JSON.stringify(index));
    const need = pad(12 + header.length, 8);
    if (need === dataStart) break;
    dataStart = need;
  }
  const out = new Uint8Array(dataStart + payload);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  const dv = new DataView(out.buffer);
  slices.forEach((s, i) => {
    const e = entries[i];
    if (LITTLE) {
      out.set(new Uint8Array(s.image.buffer, s.image.byteOffset, s.image.byteLength), e.image);
    } else s.image.forEach((v, k) => dv.setFloat32(e.image + 4 * k, v, true));
    if (s.label && e.label !== undefined) out.set(s.label, e.label);
  });
  return out;
}

/** Header length from the first 12 bytes. */
export function shardHeaderLength(first12: Uint8Array, name = "shard"): number {
  if (first12.length < 12 || new TextDecoder().decode(first12.subarray(0, 8)) !== MAGIC) {
    throw new DataError(name, "not a Duet slice shard (bad magic)");
  }
  return new DataView(first12.buffer, first12.byteOffset, 12).getUint32(8, true);
}

export function parseShardIndex(headerBytes: Uint8Array, name = "shard"): ShardIndex {
  try {
    const index = JSON.parse(new TextDecoder().decode(headerBytes)) as ShardIndex;
    if (index.version !== 1 || index.entries.length !== index.count) throw new Error("bad header");
    return index;
  } catch (e) {
    throw new DataError(name, `corrupt shard header (${(e as Error).message})`);
  }
}

function sliceFrom(e: ShardEntry, imageBytes: Uint8Array, labelBytes?: Uint8Array): Slice2D {
  const n = e.width * e.height;
  let image: Float32Array;
  if (LITTLE) image = new Float32Array(imageBytes.slice(0, n * 4).buffer);
  else {
    const dv = new DataView(imageBytes.buffer, imageBytes.byteOffset, n * 4);
    image = Float32Array.from({ length: n }, (_, k) => dv.getFloat32(4 * k, true));
  }
  return {
    caseId: e.caseId,
    z: e.z,
    width: e.width,
    height: e.height,
    image,
    ...(labelBytes ? { label: labelBytes.slice(0, n) } : {}),
  };
}

/** Reads ranges of a shard on demand (an object-store range GET, a file read, a byte array). */
export type ReadRange = (offset: number, length: number) => Promise<Uint8Array>;

export class ShardReader {
  private constructor(
    private readonly read: ReadRange,
    readonly index: ShardIndex,
    private readonly name: string,
  ) {}

  static async open(read: ReadRange, name = "shard"): Promise<ShardReader> {
    const len = shardHeaderLength(await read(0, 12), name);
    const header = await read(12, len);
    if (header.length !== len) throw new DataError(name, "truncated shard header");
    return new ShardReader(read, parseShardIndex(header, name), name);
  }

  static fromBytes(bytes: Uint8Array, name = "shard"): Promise<ShardReader> {
    return ShardReader.open((o, l) => Promise.resolve(bytes.subarray(o, o + l)), name);
  }

  get count(): number {
    return this.index.count;
  }

  /** Reads slice i (one range read: image and label are adjacent). */
  async slice(i: number): Promise<Slice2D> {
    const e = this.index.entries[i];
    if (!e) throw new RangeError(`slice ${i} not in 0..${this.count - 1}`);
    const n = e.width * e.height;
    const length = n * 4 + (e.label !== undefined ? n : 0);
    const bytes = await this.read(e.image, length);
    if (bytes.length !== length) throw new DataError(this.name, `truncated shard (slice ${i})`);
    return sliceFrom(
      e,
      bytes.subarray(0, n * 4),
      e.label !== undefined ? bytes.subarray(n * 4) : undefined,
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Slice2D> {
    for (let i = 0; i < this.count; i++) yield await this.slice(i);
  }
}

/** Decodes a whole in-memory shard. */
export function decodeShard(
  bytes: Uint8Array,
  name = "shard",
): { index: ShardIndex; slices: Slice2D[] } {
  const len = shardHeaderLength(bytes.subarray(0, 12), name);
  const index = parseShardIndex(bytes.subarray(12, 12 + len), name);
  const end = index.entries.reduce(
    (m, e) => Math.max(m, e.image + e.width * e.height * (e.label !== undefined ? 5 : 4)),
    0,
  );
  if (bytes.length < end) {
    throw new DataError(name, `truncated shard (${bytes.length} of ${end} bytes)`);
  }
  const slices = index.entries.map((e) => {
    const n = e.width * e.height;
    return sliceFrom(
      e,
      bytes.subarray(e.image, e.image + n * 4),
      e.label !== undefined ? bytes.subarray(e.label, e.label + n) : undefined,
    );
  });
  return { index, slices };
}

/** A ReadRange over a local file (for tests and the filesystem store). */
export function fileRangeReader(path: string): ReadRange {
  return async (offset, length) => {
    const f = await Deno.open(path);
    try {
      await f.seek(offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      f.close();
    }
  };
}
