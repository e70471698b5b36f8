/**
 * Typed graph builder. A Graph records ONNX nodes over symbolic tensors (shape + dtype) while
 * checking shapes as it goes, so a wrong wiring fails at build time with the op's name and the
 * shapes involved instead of at session creation. Ops live in engine/ops/*; this module holds
 * the containers, constants, broadcasting rules and the lowering to an ONNX model.
 */
import {
  type AttrValue,
  type Dim,
  type DType,
  encodeModel,
  type ModelDesc,
  type NodeDesc,
  rawBytes,
  type TensorData,
} from "./onnx/model.ts";

export type { AttrValue, Dim, DType };
export type Shape = readonly Dim[];

/** What a graph input is for; the training step uses it to decide how to feed it. */
export type InputRole =
  | { kind: "data" }
  | { kind: "param" }
  | { kind: "state" }
  | { kind: "scalar" }
  | { kind: "dropout"; p: number }
  | { kind: "uniform"; lo: number; hi: number }
  | { kind: "normal"; std: number; clip: number };

export class ShapeError extends Error {
  override name = "ShapeError";
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    public name: string,
    readonly shape: Shape,
    readonly dtype: DType,
    public producer?: Node,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements; throws for dynamic shapes. */
  get size(): number {
    return staticSize(this.shape, this.name);
  }

  /** Shape as plain numbers; throws if any dimension is dynamic. */
  get staticShape(): number[] {
    return this.shape.map((d) => {
      if (typeof d !== "number") throw new ShapeError(`${this.name}: dynamic dim ${d}`);
      return d;
    });
  }

  toString(): string {
    return `${this.name}${fmtShape(this.shape)}`;
  }
}

export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  readonly domain?: string;
  /** Set on stopGradient's Identity: autodiff treats the output as a constant. */
  readonly noGrad?: boolean;
}

/** A sub-graph whose gradient is given by a rule instead of differentiating its nodes. */
export interface CustomGradRegion {
  readonly first: number;
  readonly last: number;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly grad: (dys: readonly (Tensor | null)[]) => readonly (Tensor | null)[];
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

export function staticSize(shape: Shape, what = "tensor"): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") throw new ShapeError(`${what}: dynamic dim ${d} has no static size`);
    n *= d;
  }
  return n;
}

/** numpy-style broadcasting of two shapes, with named dims equal only to themselves or 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else {
      throw new ShapeError(
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (axis ${i})`,
      );
    }
  }
  return out;
}

export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

const OPTIONAL_OUTPUTS = new Set(["MaxPool", "Dropout", "BatchNormalization"]);

/** Converts constant data to the array type of the declared dtype (float32 <-> float64). */
function asDType(data: ConstArray, dtype: DType): ConstArray {
  if (dtype === "float64" && !(data instanceof Float64Array)) {
    return Float64Array.from(data as Float32Array);
  }
  if (dtype === "float32" && !(data instanceof Float32Array)) {
    return Float32Array.from(data as Float64Array);
  }
  return data;
}

type ConstArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly roles = new Map<Tensor, InputRole>();
  readonly outputs: { name: string; tensor: Tensor }[] = [];
  readonly constants = new Map<Tensor, TensorData>();
  readonly regions: CustomGradRegion[] = [];
  private nextId = 0;
  private constCache = new Map<string, Tensor>();
  private names = new Set<string>();
  private scopes: string[] = [];

  constructor(readonly name = "duet") {}

  private newTensor(name: string | undefined, shape: Shape, dtype: DType, producer?: Node): Tensor {
    const id = this.nextId++;
    const n = name ?? `t${id}`;
    if (this.names.has(n)) throw new Error(`duplicate tensor name ${n}`);
    this.names.add(n);
    return new Tensor(this, id, n, shape, dtype, producer);
  }

  /** Declares a graph input (fed at run time). */
  input(name: string, shape: Shape, dtype: DType = "float32", role: InputRole = { kind: "data" }) {
    const t = this.newTensor(name, shape, dtype);
    this.inputs.push(t);
    this.roles.set(t, role);
    return t;
  }

  /** Finds an input by name. */
  findInput(name: string): Tensor | undefined {
    return this.inputs.find((t) => t.name === name);
  }

  /** Stores a constant as an initializer; identical small constants are shared. */
  constant(data: ConstArray, shape: readonly number[], dtype: DType): Tensor {
    data = asDType(data, dtype);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new ShapeError(`constant: ${data.length} values for shape ${fmtShape(shape)}`);
    }
    const key = n <= 64
      ? `${dtype}|${shape.join(",")}|${Array.from(data as ArrayLike<unknown>).join(",")}`
      : "";
    if (key) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const t = this.newTensor(undefined, shape, dtype);
    this.constants.set(t, { name: t.name, dtype, dims: shape, raw: rawBytes(data) });
    if (key) this.constCache.set(key, t);
    return t;
  }

  /** A constant filled with one value. */
  fill(shape: readonly number[], value: number, dtype: DType = "float32"): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.constant(new Float64Array(n).fill(value), shape, dtype);
  }

  scalar(value: number, dtype: DType = "float32"): Tensor {
    if (dtype === "int64") return this.constant(new BigInt64Array([BigInt(value)]), [], dtype);
    if (dtype === "float64") return this.constant(new Float64Array([value]), [], dtype);
    if (dtype === "float32") return this.constant(new Float32Array([value]), [], dtype);
    throw new Error(`scalar: unsupported dtype ${dtype}`);
  }

  /** Values of a constant (int64 or float32), e.g. a Slice's starts, for gradient rules. */
  constValues(t: Tensor): number[] {
    const d = this.constants.get(t);
    if (!d) throw new Error(`${t.name} is not a constant`);
    const bytes = d.raw.slice();
    if (d.dtype === "int64") return Array.from(new BigInt64Array(bytes.buffer), Number);
    if (d.dtype === "float32") return Array.from(new Float32Array(bytes.buffer));
    throw new Error(`constValues: unsupported dtype ${d.dtype}`);
  }

  int64s(values: readonly number[]): Tensor {
    return this.constant(BigInt64Array.from(values.map(BigInt)), [values.length], "int64");
  }

  /** Appends a node; output shapes come from the op builder that already checked them. */
  addNode(
    op: string,
    inputs: readonly (Tensor | null)[],
    outs: readonly { shape: Shape; dtype: DType }[],
    attrs: Record<string, AttrValue> = {},
    extra: { domain?: string; noGrad?: boolean } = {},
  ): Tensor[] {
    for (const t of inputs) {
      if (t && t.graph !== this) throw new Error(`${op}: input ${t.name} belongs to another graph`);
    }
    const outputs: Tensor[] = [];
    const node: Node = { id: this.nodes.length, op, inputs, outputs, attrs, ...extra };
    for (const o of outs) outputs.push(this.newTensor(undefined, o.shape, o.dtype, node));
    this.nodes.push(node);
    return outputs;
  }

  /** Names nodes built inside fn with a prefix (shows up in ORT profiles and errors). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get scopeName(): string {
    return this.scopes.join("/");
  }

  /**
   * Builds a sub-graph whose gradient is `grad` (like tf.customGrad): autodiff does not look
   * inside it. Used where the composed gradient would be slower than a hand-derived one.
   */
  customGrad(
    inputs: readonly Tensor[],
    build: () => {
      outputs: Tensor[];
      grad: (dys: readonly (Tensor | null)[]) => readonly (Tensor | null)[];
    },
  ): Tensor[] {
    const first = this.nodes.length;
    const { outputs, grad } = build();
    const last = this.nodes.length - 1;
    if (last >= first) this.regions.push({ first, last, inputs, outputs, grad });
    return outputs;
  }

  /** Marks a tensor as a graph output under a name. */
  output(name: string, t: Tensor): void {
    if (this.outputs.some((o) => o.name === name)) throw new Error(`duplicate output ${name}`);
    this.outputs.push({ name, tensor: t });
  }

  /** Lowers to an ONNX model description (graph outputs get Identity nodes where needed). */
  toModelDesc(opts: { metadata?: Record<string, string>; docString?: string } = {}): ModelDesc {
    const used = this.liveNodes();
    const liveTensors = new Set<Tensor>();
    for (const n of this.nodes) {
      if (used.has(n)) { for (const t of n.inputs) if (t) liveTensors.add(t); }
    }
    for (const o of this.outputs) liveTensors.add(o.tensor);
    const nodes: NodeDesc[] = [];
    for (const n of this.nodes) {
      if (!used.has(n)) continue;
      const inputs = n.inputs.map((t) => (t ? t.name : ""));
      while (inputs.length && inputs[inputs.length - 1] === "") inputs.pop();
      // Optional outputs nobody reads are left out (MaxPool then skips computing indices).
      const outputs = n.outputs.map((t, i) =>
        i > 0 && OPTIONAL_OUTPUTS.has(n.op) && !liveTensors.has(t) ? "" : t.name
      );
      while (outputs.length > 1 && outputs[outputs.length - 1] === "") outputs.pop();
      nodes.push({
        op: n.op,
        name: `${n.op}_${n.id}`,
        domain: n.domain,
        inputs,
        outputs,
        attrs: n.attrs,
      });
    }
    for (const o of this.outputs) {
      nodes.push({
        op: "Identity",
        inputs: [o.tensor.name],
        outputs: [o.name],
        name: `out_${o.name}`,
      });
    }
    return {
      graphName: this.name,
      nodes,
      inputs: this.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      outputs: this.outputs.map((o) => ({
        name: o.name,
        dtype: o.tensor.dtype,
        shape: o.tensor.shape,
      })),
      initializers: [...this.constants.entries()].filter(([t]) => liveTensors.has(t)).map(([, d]) =>
        d
      ),
      metadata: opts.metadata,
      docString: opts.docString,
    };
  }

  toOnnx(opts: { metadata?: Record<string, string>; docString?: string } = {}): Uint8Array {
    return encodeModel(this.toModelDesc(opts));
  }

  /** Nodes that contribute to some graph output (dead forward branches are dropped). */
  liveNodes(): Set<Node> {
    const live = new Set<Node>();
    const stack = this.outputs.map((o) => o.tensor);
    const seen = new Set<Tensor>();
    while (stack.length) {
      const t = stack.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      const p = t.producer;
      if (p && !live.has(p)) {
        live.add(p);
        for (const i of p.inputs) if (i) stack.push(i);
      }
    }
    return live;
  }
}
