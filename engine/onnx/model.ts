/**
 * ONNX ModelProto encoder (field numbers from onnx/onnx.proto, IR version 8 = ONNX 1.12, which
 * defines opset 17; Debian's python3-onnx 1.12 checks it and onnxruntime loads it).
 * The input is a plain description; engine/graph.ts lowers its graphs into one.
 */
import { ProtoWriter } from "./protobuf.ts";

export const IR_VERSION = 8;
export const OPSET = 17;

/** ONNX TensorProto.DataType codes for the dtypes the engine uses. */
export const DTYPE_CODE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
} as const;
export type DType = keyof typeof DTYPE_CODE;

/** A dimension is a size, or a name for a dynamic axis (e.g. "batch"). */
export type Dim = number | string;

export type AttrValue =
  | { kind: "float"; value: number }
  | { kind: "int"; value: number }
  | { kind: "string"; value: string }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "tensor"; value: TensorData };

export interface TensorData {
  name: string;
  dtype: DType;
  dims: readonly number[];
  /** Raw little-endian bytes of the values. */
  raw: Uint8Array;
}

export interface NodeDesc {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attrs?: Readonly<Record<string, AttrValue>>;
}

export interface ValueDesc {
  name: string;
  dtype: DType;
  shape: readonly Dim[];
}

export interface ModelDesc {
  graphName: string;
  nodes: readonly NodeDesc[];
  inputs: readonly ValueDesc[];
  outputs: readonly ValueDesc[];
  initializers: readonly TensorData[];
  valueInfo?: readonly ValueDesc[];
  metadata?: Readonly<Record<string, string>>;
  producer?: string;
  docString?: string;
  /** Extra opset imports, e.g. { "com.microsoft": 1 }. */
  extraOpsets?: Readonly<Record<string, number>>;
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function tensorProto(t: TensorData): ProtoWriter {
  const w = new ProtoWriter();
  if (t.dims.length > 0) w.packedInts(1, t.dims);
  w.int(2, DTYPE_CODE[t.dtype]);
  if (t.name) w.string(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

function attributeProto(name: string, a: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.kind) {
    case "float":
      w.float(2, a.value);
      break;
    case "int":
      w.int(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "tensor":
      w.message(5, tensorProto(a.value));
      break;
    case "floats":
      w.packedFloats(7, a.value);
      break;
    case "ints":
      w.packedInts(8, a.value);
      break;
  }
  w.int(20, ATTR_TYPE[a.kind]);
  return w;
}

function nodeProto(n: NodeDesc): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfoProto(v: ValueDesc): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, DTYPE_CODE[v.dtype]).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

/** Serialises a model description into ONNX protobuf bytes. */
export function encodeModel(m: ModelDesc): Uint8Array {
  const g = new ProtoWriter();
  for (const n of m.nodes) g.message(1, nodeProto(n));
  g.string(2, m.graphName);
  for (const t of m.initializers) g.message(5, tensorProto(t));
  for (const v of m.inputs) g.message(11, valueInfoProto(v));
  for (const v of m.outputs) g.message(12, valueInfoProto(v));
  for (const v of m.valueInfo ?? []) g.message(13, valueInfoProto(v));

  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, m.producer ?? "duet-engine");
  w.string(3, "0.1");
  if (m.docString) w.string(6, m.docString);
  w.message(7, g);
  w.message(8, new ProtoWriter().string(1, "").int(2, OPSET));
  for (const [domain, version] of Object.entries(m.extraOpsets ?? {})) {
    w.message(8, new ProtoWriter().string(1, domain).int(2, version));
  }
  for (const [k, v] of Object.entries(m.metadata ?? {})) {
    w.message(14, new ProtoWriter().string(1, k).string(2, v));
  }
  return w.finish();
}

/** Raw bytes of a typed array, as a view (no copy). */
export function rawBytes(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
