/**
 * A minimal ONNX ModelProto reader: just what `readDuetModel` checks (opset, metadata props,
 * graph input/output names and shapes). Field numbers from onnx/onnx.proto. Initializers and
 * nodes are skipped without decoding, so reading a large model's header is cheap.
 */

export interface OnnxValueInfo {
  readonly name: string;
  /** Dimensions: a number, or the symbolic name (e.g. "batch"), or "?" when unknown. */
  readonly shape: readonly (number | string)[];
  readonly elemType: number;
}

export interface OnnxHeader {
  readonly irVersion: number;
  readonly producer: string;
  /** Opset per domain ("" = the default ONNX domain). */
  readonly opsets: Readonly<Record<string, number>>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** The serialized GraphProto (nodes and weights), a view into the model's bytes. */
  readonly graph: Uint8Array;
}

export class ProtoError extends Error {
  override name = "ProtoError";
}

type Field = { field: number; wire: number; value: number | Uint8Array };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Iterates the fields of one protobuf message. */
function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtoError("truncated varint");
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new ProtoError("varint too long");
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    if (field === 0) throw new ProtoError("field number 0");
    switch (wire) {
      case 0:
        yield { field, wire, value: varint() };
        break;
      case 1:
        if (pos + 8 > buf.length) throw new ProtoError("truncated fixed64");
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (pos + len > buf.length) throw new ProtoError("truncated length-delimited field");
        yield { field, wire, value: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      case 5:
        if (pos + 4 > buf.length) throw new ProtoError("truncated fixed32");
        pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire}`);
    }
  }
}

const str = (v: number | Uint8Array): string => {
  if (typeof v === "number") throw new ProtoError("expected a string");
  return utf8.decode(v);
};
const msg = (v: number | Uint8Array): Uint8Array => {
  if (typeof v === "number") throw new ProtoError("expected a message");
  return v;
};

function valueInfo(buf: Uint8Array): OnnxValueInfo {
  let name = "", elemType = 0;
  const shape: (number | string)[] = [];
  for (const f of fields(buf)) {
    if (f.field === 1) name = str(f.value);
    if (f.field !== 2) continue;
    // TypeProto.tensor_type (1) -> elem_type (1), shape (2) -> dim (1) -> value (1) | param (2)
    for (const t of fields(msg(f.value))) {
      if (t.field !== 1) continue;
      for (const tt of fields(msg(t.value))) {
        if (tt.field === 1 && typeof tt.value === "number") elemType = tt.value;
        if (tt.field !== 2) continue;
        for (const d of fields(msg(tt.value))) {
          if (d.field !== 1) continue;
          let dim: number | string = "?";
          for (const dv of fields(msg(d.value))) {
            if (dv.field === 1 && typeof dv.value === "number") dim = dv.value;
            if (dv.field === 2) dim = str(dv.value);
          }
          shape.push(dim);
        }
      }
    }
  }
  return { name, shape, elemType };
}

/** Reads the header of an ONNX ModelProto; throws ProtoError on bytes that are not one. */
export function readOnnxHeader(bytes: Uint8Array): OnnxHeader {
  let irVersion = 0, producer = "";
  let graph: Uint8Array | undefined;
  const opsets: Record<string, number> = {};
  const metadata: Record<string, string> = {};
  for (const f of fields(bytes)) {
    if (f.field === 1 && typeof f.value === "number") irVersion = f.value;
    else if (f.field === 2) producer = str(f.value);
    else if (f.field === 7) graph = msg(f.value);
    else if (f.field === 8) {
      let domain = "", version = 0;
      for (const o of fields(msg(f.value))) {
        if (o.field === 1) domain = str(o.value);
        if (o.field === 2 && typeof o.value === "number") version = o.value;
      }
      opsets[domain] = version;
    } else if (f.field === 14) {
      let key = "", value = "";
      for (const e of fields(msg(f.value))) {
        if (e.field === 1) key = str(e.value);
        if (e.field === 2) value = str(e.value);
      }
      metadata[key] = value;
    }
  }
  if (irVersion === 0 || graph === undefined) {
    throw new ProtoError("no ir_version or graph: not an ONNX model");
  }
  const inputs: OnnxValueInfo[] = [], outputs: OnnxValueInfo[] = [];
  for (const f of fields(graph)) {
    if (f.field === 11) inputs.push(valueInfo(msg(f.value)));
    if (f.field === 12) outputs.push(valueInfo(msg(f.value)));
  }
  return { irVersion, producer, opsets, metadata, inputs, outputs, graph };
}
