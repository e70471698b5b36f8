/**
 * Checkpoints as one self-describing safetensors file: 8-byte little-endian header length,
 * a JSON header (dtype, shape, data_offsets per tensor, plus "__metadata__"), then raw data.
 * Model weights keep their PyTorch names ("<model>/<name>"), so the file also loads in
 * safetensors-aware tools. Restoring weights, optimizer state, step and RNG state makes a
 * resumed run bit-identical to an uninterrupted one (with the same thread count).
 */
import type { ParamStore } from "./params.ts";
import type { TrainStep } from "./train.ts";
import { Rng } from "../random/rng.ts";

export type StDType = "F32" | "U32" | "I32" | "I64" | "U8";
type StArray = Float32Array | Uint32Array | Int32Array | BigInt64Array | Uint8Array;

export interface StTensor {
  dtype: StDType;
  shape: number[];
  data: StArray;
}

const CTORS = {
  F32: Float32Array,
  U32: Uint32Array,
  I32: Int32Array,
  I64: BigInt64Array,
  U8: Uint8Array,
};

/** Encodes tensors and string metadata as safetensors bytes (header padded to 8 bytes). */
export function encodeSafetensors(
  tensors: Record<string, StTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new Error(`safetensors: ${name} has ${t.data.length} values for [${t.shape}]`);
    }
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Record<string, StTensor>;
  metadata: Record<string, string>;
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) throw new Error("safetensors: header length exceeds file size");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const base = 8 + n;
  const tensors: Record<string, StTensor> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets } = h as {
      dtype: StDType;
      shape: number[];
      data_offsets: [number, number];
    };
    const ctor = CTORS[dtype];
    if (!ctor) throw new Error(`safetensors: unsupported dtype ${dtype}`);
    // Copy into an aligned buffer (offsets need not be aligned to the element size).
    const raw = bytes.slice(base + data_offsets[0], base + data_offsets[1]);
    tensors[name] = { dtype, shape, data: new ctor(raw.buffer) };
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}

function storeTensors(prefix: string, store: ParamStore, out: Record<string, StTensor>): void {
  for (const p of store.params.list()) {
    out[`${prefix}${p.name}`] = {
      dtype: "F32",
      shape: [...p.shape],
      data: store.params.view(p.name),
    };
  }
  for (const b of store.buffers.list()) {
    out[`${prefix}${b.name}`] = {
      dtype: "F32",
      shape: [...b.shape],
      data: store.buffers.view(b.name),
    };
  }
}

function loadStore(prefix: string, store: ParamStore, tensors: Record<string, StTensor>): void {
  for (
    const [list, flat] of [[store.params.list(), store.params], [
      store.buffers.list(),
      store.buffers,
    ]] as const
  ) {
    for (const p of list) {
      const t = tensors[`${prefix}${p.name}`];
      if (!t) throw new Error(`checkpoint has no tensor ${prefix}${p.name}`);
      if (t.data.length !== p.size) {
        throw new Error(`checkpoint: ${prefix}${p.name} has the wrong size`);
      }
      flat.view(p.name).set(t.data as Float32Array);
    }
  }
}

/** Weights (and buffers) of one model, e.g. the final or EMA model. */
export function saveModel(store: ParamStore, metadata: Record<string, unknown> = {}): Uint8Array {
  const tensors: Record<string, StTensor> = {};
  storeTensors("", store, tensors);
  return encodeSafetensors(tensors, { duet: JSON.stringify(metadata) });
}

export function loadModel(store: ParamStore, bytes: Uint8Array): Record<string, unknown> {
  const { tensors, metadata } = decodeSafetensors(bytes);
  loadStore("", store, tensors);
  return metadata.duet ? JSON.parse(metadata.duet) : {};
}

/** Everything needed to resume a training step: weights, optimizer state, step, RNG state. */
export function saveCheckpoint(
  step: TrainStep,
  metadata: Record<string, unknown> = {},
): Uint8Array {
  const tensors: Record<string, StTensor> = {};
  for (const name of step.modelNames()) storeTensors(`${name}/`, step.model(name).store, tensors);
  for (const [name, states] of step.optimizerState()) {
    states.forEach((s, i) => {
      tensors[`${name}/__optimizer/${i}`] = { dtype: "F32", shape: [s.length], data: s };
    });
  }
  tensors["__rng"] = { dtype: "U32", shape: [4], data: step.rng.state() };
  const info = {
    step: step.step,
    optimizer: step.spec.optimizer,
    models: Object.fromEntries(step.modelNames().map((n) => [n, step.model(n).config()])),
    metadata,
  };
  return encodeSafetensors(tensors, { duet: JSON.stringify(info), format: "duet-checkpoint-1" });
}

/** Restores a checkpoint into a step built with the same models; returns the user metadata. */
export function loadCheckpoint(step: TrainStep, bytes: Uint8Array): Record<string, unknown> {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== "duet-checkpoint-1") throw new Error("not a Duet training checkpoint");
  const info = JSON.parse(metadata.duet);
  for (const name of step.modelNames()) loadStore(`${name}/`, step.model(name).store, tensors);
  for (const [name, states] of step.optimizerState()) {
    states.forEach((s, i) => {
      const t = tensors[`${name}/__optimizer/${i}`];
      if (!t || t.data.length !== s.length) {
        throw new Error(`checkpoint: optimizer state of ${name} missing`);
      }
      s.set(t.data as Float32Array);
    });
  }
  step.rng = new Rng(tensors["__rng"].data as Uint32Array);
  step.step = info.step;
  return info.metadata ?? {};
}
