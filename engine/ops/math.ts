/** Element-wise arithmetic, comparisons, reductions and matrix products. */
import {
  broadcastShapes,
  type Dim,
  type DType,
  fmtShape,
  normAxis,
  type Shape,
  ShapeError,
  type Tensor,
} from "../graph.ts";
import { float, int, ints } from "./attrs.ts";

export type TensorLike = Tensor | number;

function lift(x: TensorLike, like: Tensor): Tensor {
  return typeof x === "number" ? like.graph.scalar(x, like.dtype) : x;
}

function pair(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") throw new Error(`${op}: two numbers`);
  const ta = typeof a === "number" ? lift(a, b as Tensor) : a;
  const tb = typeof b === "number" ? lift(b, ta) : b;
  if (ta.dtype !== tb.dtype) {
    throw new ShapeError(`${op}: dtypes ${ta.dtype} and ${tb.dtype} differ (${ta} vs ${tb})`);
  }
  return [ta, tb];
}

function binary(op: string, a: TensorLike, b: TensorLike, outDtype?: DType): Tensor {
  const [ta, tb] = pair(op, a, b);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return ta.graph.addNode(op, [ta, tb], [{ shape, dtype: outDtype ?? ta.dtype }])[0];
}

function unary(op: string, x: Tensor, attrs = {}): Tensor {
  return x.graph.addNode(op, [x], [{ shape: x.shape, dtype: x.dtype }], attrs)[0];
}

export const add = (a: TensorLike, b: TensorLike) => binary("Add", a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary("Sub", a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary("Mul", a, b);
export const div = (a: TensorLike, b: TensorLike) => binary("Div", a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary("Pow", a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary("Max", a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary("Min", a, b);
export const equal = (a: TensorLike, b: TensorLike) => binary("Equal", a, b, "bool");
export const greater = (a: TensorLike, b: TensorLike) => binary("Greater", a, b, "bool");
export const greaterEqual = (a: TensorLike, b: TensorLike) =>
  binary("GreaterOrEqual", a, b, "bool");
export const less = (a: TensorLike, b: TensorLike) => binary("Less", a, b, "bool");
export const and = (a: Tensor, b: Tensor) => binary("And", a, b);

export const neg = (x: Tensor) => unary("Neg", x);
export const exp = (x: Tensor) => unary("Exp", x);
export const log = (x: Tensor) => unary("Log", x);
export const sqrt = (x: Tensor) => unary("Sqrt", x);
export const abs = (x: Tensor) => unary("Abs", x);
export const sign = (x: Tensor) => unary("Sign", x);
export const reciprocal = (x: Tensor) => unary("Reciprocal", x);
export const not = (x: Tensor) => unary("Not", x);

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const to = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 }[dtype];
  return x.graph.addNode("Cast", [x], [{ shape: x.shape, dtype }], { to: int(to) })[0];
}

export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== "bool") throw new ShapeError(`Where: condition ${cond} is ${cond.dtype}`);
  const [ta, tb] = pair("Where", a, b);
  const shape = broadcastShapes("Where", cond.shape, broadcastShapes("Where", ta.shape, tb.shape));
  return cond.graph.addNode("Where", [cond, ta, tb], [{ shape, dtype: ta.dtype }])[0];
}

export function clip(x: Tensor, min?: number, max?: number): Tensor {
  const g = x.graph;
  const lo = min === undefined ? null : g.scalar(min, x.dtype);
  const hi = max === undefined ? null : g.scalar(max, x.dtype);
  return g.addNode("Clip", [x, lo, hi], [{ shape: x.shape, dtype: x.dtype }])[0];
}

export type ReduceOp =
  | "ReduceSum"
  | "ReduceMean"
  | "ReduceMax"
  | "ReduceMin"
  | "ReduceSumSquare"
  | "ReduceL2";

/** Reductions longer than this are split into stages (see `stagedReduce`). */
const STAGE_THRESHOLD = 4096;

/** Reduction over `axes` (all axes when omitted). */
export function reduce(op: ReduceOp, x: Tensor, axes?: readonly number[], keepdims = false) {
  const all = axes === undefined;
  const ax = all ? x.shape.map((_, i) => i) : axes.map((a) => normAxis(a, x.rank, op));
  const staged = stagedReduce(op, x, ax, keepdims);
  if (staged) return staged;
  return reduceNode(op, x, ax, all, keepdims);
}

/**
 * Sums over many axes (BatchNorm statistics, bias gradients, losses: 10^5-10^6 terms) lose
 * precision in float32 when accumulated in one pass. Reducing the innermost axis first (rows of
 * a few hundred values) and then the partial sums keeps each accumulation short; this brought
 * whole-model gradients of the paper-size U-Net and V-Net close to PyTorch's (which accumulates
 * in double on CPU). Costs one extra small reduction.
 */
function stagedReduce(op: ReduceOp, x: Tensor, ax: number[], keepdims: boolean): Tensor | null {
  if (op !== "ReduceSum" && op !== "ReduceMean" && op !== "ReduceSumSquare") return null;
  if (ax.length < 2 || x.shape.some((d) => typeof d !== "number")) return null;
  const count = ax.reduce((p, a) => p * (x.shape[a] as number), 1);
  if (count <= STAGE_THRESHOLD) return null;
  const inner = Math.max(...ax.filter((a) => x.shape[a] !== 1));
  const first = reduceNode(op === "ReduceSumSquare" ? op : "ReduceSum", x, [inner], false, true);
  const rest = reduce("ReduceSum", first, ax, keepdims);
  return op === "ReduceMean" ? div(rest, count) : rest;
}

function reduceNode(op: ReduceOp, x: Tensor, ax: number[], all: boolean, keepdims: boolean) {
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!ax.includes(i)) shape.push(d);
    else if (keepdims) shape.push(1);
  });
  const attrs = { keepdims: int(keepdims ? 1 : 0) };
  // Opset 17: ReduceSum takes axes as an input, the others as an attribute.
  if (op === "ReduceSum") {
    const axesT = all ? null : x.graph.int64s(ax);
    return x.graph.addNode(op, [x, axesT], [{ shape, dtype: x.dtype }], attrs)[0];
  }
  const a = all ? attrs : { ...attrs, axes: ints(ax) };
  return x.graph.addNode(op, [x], [{ shape, dtype: x.dtype }], a)[0];
}

export const sum = (x: Tensor, axes?: readonly number[], keepdims = false) =>
  reduce("ReduceSum", x, axes, keepdims);
export const mean = (x: Tensor, axes?: readonly number[], keepdims = false) =>
  reduce("ReduceMean", x, axes, keepdims);
export const max = (x: Tensor, axes?: readonly number[], keepdims = false) =>
  reduce("ReduceMax", x, axes, keepdims);
export const sumSquare = (x: Tensor, axes?: readonly number[], keepdims = false) =>
  reduce("ReduceSumSquare", x, axes, keepdims);

export function argMax(x: Tensor, axis: number, keepdims = false): Tensor {
  const a = normAxis(axis, x.rank, "ArgMax");
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (i !== a) shape.push(d);
    else if (keepdims) shape.push(1);
  });
  return x.graph.addNode("ArgMax", [x], [{ shape, dtype: "int64" }], {
    axis: int(a),
    keepdims: int(keepdims ? 1 : 0),
  })[0];
}

/** The k largest values along `axis` and their int64 indices (ONNX TopK, sorted, ties by index). */
export function topK(x: Tensor, k: number, axis = -1): { values: Tensor; indices: Tensor } {
  const a = normAxis(axis, x.rank, "TopK");
  const n = x.shape[a];
  if (typeof n !== "number" || k < 1 || k > n) throw new ShapeError(`TopK: k=${k} for ${x}`);
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const [values, indices] = x.graph.addNode("TopK", [x, x.graph.int64s([k])], [
    { shape, dtype: x.dtype },
    { shape, dtype: "int64" },
  ], { axis: int(a) });
  return { values, indices };
}

/** numpy matmul semantics for rank >= 2 operands (batch dims broadcast). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`MatMul: needs rank >= 2, got ${a} and ${b}`);
  const [m, k1] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k1 !== k2) {
    throw new ShapeError(
      `MatMul: inner dims differ: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`,
    );
  }
  const batch = broadcastShapes("MatMul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  return a.graph.addNode("MatMul", [a, b], [{ shape: [...batch, m, n], dtype: a.dtype }])[0];
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

/** Y = alpha * op(A) op(B) + beta * C, with 2-D A and B and C broadcast to [M, N]. */
export function gemm(a: Tensor, b: Tensor, c: Tensor | null = null, o: GemmOptions = {}) {
  if (a.rank !== 2 || b.rank !== 2) throw new ShapeError(`Gemm: needs 2-D inputs, got ${a}, ${b}`);
  const [m, ka] = o.transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [kb, n] = o.transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (ka !== kb) {
    throw new ShapeError(`Gemm: inner dims differ: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
  }
  if (c) broadcastShapes("Gemm", [m, n], c.shape);
  const attrs = {
    alpha: float(o.alpha ?? 1),
    beta: float(o.beta ?? 1),
    transA: int(o.transA ? 1 : 0),
    transB: int(o.transB ? 1 : 0),
  };
  return a.graph.addNode("Gemm", [a, b, c], [{ shape: [m, n], dtype: a.dtype }], attrs)[0];
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
