/** Layout ops: reshape, transpose, concat, split, slice, pad, squeeze, expand, identity. */
import {
  broadcastShapes,
  type Dim,
  fmtShape,
  normAxis,
  type Shape,
  ShapeError,
  type Tensor,
} from "../graph.ts";
import { int, str } from "./attrs.ts";

/** A dynamic dim is a name times a static factor: "batch", or "batch*16" once folded. */
function symbolicDim(d: string): { name: string; factor: number } {
  const [name, factor] = d.split("*");
  return { name, factor: factor === undefined ? 1 : Number(factor) };
}

/**
 * ONNX Reshape: 0 copies the input dim at that position, -1 is inferred. A dynamic input dim
 * is carried through with 0 at the same position (that is how the batch axis survives), or
 * folded into the -1 (the result is the dynamic dim times a static factor, "batch*16").
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i] : d));
  const minus = shape.filter((d) => d === -1).length;
  if (minus > 1) throw new ShapeError(`Reshape: more than one -1 in ${fmtShape(shape)}`);
  // Product of the input dims not copied by a 0 must be static for -1 or a size check.
  let inStatic = 1;
  let dynamic: string | undefined;
  x.shape.forEach((d, i) => {
    if (shape[i] === 0) return;
    if (typeof d !== "number") {
      if (minus !== 1 || dynamic !== undefined) {
        throw new ShapeError(`Reshape: dynamic dim ${d} of ${x} must be kept with 0 or one -1`);
      }
      const { name, factor } = symbolicDim(d);
      dynamic = name;
      inStatic *= factor;
      return;
    }
    inStatic *= d;
  });
  let outStatic = 1;
  shape.forEach((d) => {
    if (d > 0) outStatic *= d;
  });
  if (minus === 1) {
    if (inStatic % outStatic !== 0) {
      throw new ShapeError(`Reshape: cannot reshape ${x} to ${fmtShape(shape)}`);
    }
    const f = inStatic / outStatic;
    out[shape.indexOf(-1)] = dynamic === undefined ? f : f === 1 ? dynamic : `${dynamic}*${f}`;
  } else if (inStatic !== outStatic) {
    throw new ShapeError(`Reshape: cannot reshape ${x} to ${fmtShape(shape)}`);
  }
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  return x.graph.addNode("Reshape", [x, x.graph.int64s(shape)], [{ shape: out, dtype: x.dtype }])[
    0
  ];
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort().some((p, i) => p !== i)) {
    throw new ShapeError(`Transpose: bad perm ${fmtShape(perm)} for ${x}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]);
  return x.graph.addNode("Transpose", [x], [{ shape, dtype: x.dtype }], {
    perm: { kind: "ints", value: perm },
  })[0];
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError("Concat: no inputs");
  if (xs.length === 1) return xs[0];
  const a = normAxis(axis, xs[0].rank, "Concat");
  let total: Dim = 0;
  for (const t of xs) {
    const ok = t.rank === xs[0].rank && t.shape.every((d, i) => i === a || d === xs[0].shape[i]);
    if (!ok) {
      throw new ShapeError(
        `Concat(axis=${a}): shapes ${xs.map((t) => fmtShape(t.shape)).join(" and ")} differ`,
      );
    }
    const d = t.shape[a];
    if (typeof d !== "number" || typeof total !== "number") {
      throw new ShapeError(`Concat: dynamic concat axis`);
    }
    total += d;
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? total : d));
  return xs[0].graph.addNode("Concat", xs, [{ shape, dtype: xs[0].dtype }], { axis: int(a) })[0];
}

export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const a = normAxis(axis, x.rank, "Split");
  if (sizes.reduce((p, q) => p + q, 0) !== x.shape[a]) {
    throw new ShapeError(`Split: sizes ${fmtShape(sizes)} do not add up to ${x} axis ${a}`);
  }
  const outs = sizes.map((s) => ({
    shape: x.shape.map((d, i) => (i === a ? s : d)),
    dtype: x.dtype,
  }));
  return x.graph.addNode("Split", [x, x.graph.int64s(sizes)], outs, { axis: int(a) });
}

/** Static slice along some axes (step 1 unless given); negative indices count from the end. */
export function slice(
  x: Tensor,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): Tensor {
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(a, x.rank, "Slice"));
  const st = steps ?? ax.map(() => 1);
  const shape: Dim[] = [...x.shape];
  ax.forEach((a, i) => {
    const d = x.shape[a];
    if (typeof d !== "number") throw new ShapeError(`Slice: dynamic axis ${a} of ${x}`);
    if (st[i] <= 0) throw new ShapeError(`Slice: only positive steps supported`);
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const s = clampIdx(starts[i]), e = clampIdx(ends[i]);
    shape[a] = Math.max(0, Math.ceil((e - s) / st[i]));
  });
  const g = x.graph;
  return g.addNode(
    "Slice",
    [x, g.int64s(starts), g.int64s(ends), g.int64s(ax), g.int64s(st)],
    [{ shape, dtype: x.dtype }],
  )[0];
}

export type PadMode = "constant" | "reflect" | "edge";

/** pads = [begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}] as in ONNX. */
export function pad(x: Tensor, pads: readonly number[], mode: PadMode = "constant", value = 0) {
  if (pads.length !== 2 * x.rank) throw new ShapeError(`Pad: ${pads.length} pads for ${x}`);
  const shape = x.shape.map((d, i) => {
    if (pads[i] === 0 && pads[i + x.rank] === 0) return d;
    if (typeof d !== "number") throw new ShapeError(`Pad: dynamic axis ${i} of ${x}`);
    const n = d + pads[i] + pads[i + x.rank];
    if (n < 0) throw new ShapeError(`Pad: negative size for ${x}`);
    return n;
  });
  const g = x.graph;
  const v = mode === "constant" ? g.scalar(value, x.dtype) : null;
  return g.addNode("Pad", [x, g.int64s(pads), v], [{ shape, dtype: x.dtype }], {
    mode: str(mode),
  })[0];
}

export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank + axes.length;
  const ax = axes.map((a) => normAxis(a, rank, "Unsqueeze"));
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(ax.includes(i) ? 1 : x.shape[j++]);
  return x.graph.addNode("Unsqueeze", [x, x.graph.int64s(ax)], [{ shape, dtype: x.dtype }])[0];
}

export function squeeze(x: Tensor, axes: readonly number[]): Tensor {
  const ax = axes.map((a) => normAxis(a, x.rank, "Squeeze"));
  for (const a of ax) {
    if (x.shape[a] !== 1) throw new ShapeError(`Squeeze: axis ${a} of ${x} is not 1`);
  }
  const shape = x.shape.filter((_, i) => !ax.includes(i));
  return x.graph.addNode("Squeeze", [x, x.graph.int64s(ax)], [{ shape, dtype: x.dtype }])[0];
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes("Expand", x.shape, shape);
  return x.graph.addNode("Expand", [x, x.graph.int64s(shape)], [{ shape: out, dtype: x.dtype }])[0];
}

/** Rows of x (axis 0) at int64 `indices` [K]: [K, ...rest] (ONNX Gather). */
export function gatherRows(x: Tensor, indices: Tensor): Tensor {
  if (indices.rank !== 1 || indices.dtype !== "int64") {
    throw new ShapeError(`Gather: indices ${indices} must be int64 [K]`);
  }
  const shape = [indices.shape[0], ...x.shape.slice(1)];
  return x.graph.addNode("Gather", [x, indices], [{ shape, dtype: x.dtype }], { axis: int(0) })[0];
}

export function identity(x: Tensor): Tensor {
  return x.graph.addNode("Identity", [x], [{ shape: x.shape, dtype: x.dtype }])[0];
}

/** The value of x, seen by autodiff as a constant (torch's .detach()). */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.addNode("Identity", [x], [{ shape: x.shape, dtype: x.dtype }], {}, {
    noGrad: true,
  })[0];
}

/** Checks that a tensor has exactly the expected shape (named dims match by name). */
export function assertShape(op: string, x: Tensor, shape: Shape): void {
  if (x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: expected ${fmtShape(shape)}, got ${x}`);
  }
}
