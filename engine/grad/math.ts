/** Gradient rules for element-wise ops, reductions and matrix products. */
import type { GradRule } from "../autodiff.ts";
import { type Shape, ShapeError, type Tensor } from "../graph.ts";
import { getFloat, getInt, getInts } from "../ops/attrs.ts";
import * as m from "../ops/math.ts";
import { expand, reshape, transpose } from "../ops/shape.ts";

/** Sums a broadcast gradient back down to the operand's shape. */
export function unbroadcast(dy: Tensor, shape: Shape): Tensor {
  if (m.shapeEquals(dy.shape, shape)) return dy;
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? m.sum(dy, axes, true) : dy;
  return reshapeTo(s, shape);
}

/** Zeros of x's shape, expanded at run time (no initializer the size of x). */
export const zerosLike = (x: Tensor) =>
  expand(x.graph.fill(x.shape.map(() => 1), 0, x.dtype), x.staticShape);

/** Reshape to a known shape; dynamic dims must line up positionally (kept with 0). */
export function reshapeTo(x: Tensor, shape: Shape): Tensor {
  if (m.shapeEquals(x.shape, shape)) return x;
  const target = shape.map((d, i) => {
    if (typeof d === "number") return d;
    if (x.shape[i] === d) return 0;
    throw new ShapeError(`reshape: cannot place dynamic dim ${d} of ${x}`);
  });
  return reshape(x, target);
}

const X = (c: { x: readonly (Tensor | null)[] }, i: number) => c.x[i]!;

/** The [rank] shape with reduced axes set to 1 (keepdims form). */
function keptShape(c: Parameters<GradRule>[0]): number[] {
  const x = X(c, 0);
  let axes: number[];
  if (c.node.op === "ReduceSum") {
    axes = c.x[1] ? x.graph.constValues(c.x[1]) : x.shape.map((_, i) => i);
  } else {
    axes = getInts(c.node.attrs, "axes");
    if (axes.length === 0) axes = x.shape.map((_, i) => i);
  }
  axes = axes.map((a) => (a < 0 ? a + x.rank : a));
  return x.staticShape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function expandBack(c: Parameters<GradRule>[0]): Tensor {
  const x = X(c, 0);
  const dyKept = reshape(c.dy[0]!, keptShape(c));
  return expand(dyKept, x.staticShape);
}

function swapLast(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return transpose(t, perm);
}

export const mathRules: Record<string, GradRule> = {
  TopK: (c) => {
    // The selected values' gradient goes back to where they were taken from.
    const x = X(c, 0);
    const dx = x.graph.addNode("ScatterElements", [zerosLike(x), c.y[1], c.dy[0]!], [{
      shape: x.shape,
      dtype: x.dtype,
    }], {
      axis: { kind: "int", value: getInt(c.node.attrs, "axis", -1) },
      reduction: { kind: "string", value: "add" },
    })[0];
    return [dx, null];
  },
  Add: (c) => [unbroadcast(c.dy[0]!, X(c, 0).shape), unbroadcast(c.dy[0]!, X(c, 1).shape)],
  Sub: (c) => [
    c.needs[0] ? unbroadcast(c.dy[0]!, X(c, 0).shape) : null,
    c.needs[1] ? unbroadcast(m.neg(c.dy[0]!), X(c, 1).shape) : null,
  ],
  Mul: (c) => [
    c.needs[0] ? unbroadcast(m.mul(c.dy[0]!, X(c, 1)), X(c, 0).shape) : null,
    c.needs[1] ? unbroadcast(m.mul(c.dy[0]!, X(c, 0)), X(c, 1).shape) : null,
  ],
  Div: (c) => [
    c.needs[0] ? unbroadcast(m.div(c.dy[0]!, X(c, 1)), X(c, 0).shape) : null,
    c.needs[1] ? unbroadcast(m.neg(m.div(m.mul(c.dy[0]!, c.y[0]), X(c, 1))), X(c, 1).shape) : null,
  ],
  Pow: (c) => {
    const [a, b] = [X(c, 0), X(c, 1)];
    const dy = c.dy[0]!;
    return [
      c.needs[0] ? unbroadcast(m.mul(dy, m.mul(b, m.pow(a, m.sub(b, 1)))), a.shape) : null,
      c.needs[1] ? unbroadcast(m.mul(dy, m.mul(c.y[0], m.log(a))), b.shape) : null,
    ];
  },
  Max: (c) => {
    const pick = m.greaterEqual(X(c, 0), X(c, 1));
    return [
      c.needs[0] ? unbroadcast(m.where(pick, c.dy[0]!, 0), X(c, 0).shape) : null,
      c.needs[1] ? unbroadcast(m.where(pick, 0, c.dy[0]!), X(c, 1).shape) : null,
    ];
  },
  Min: (c) => {
    const pick = m.less(X(c, 1), X(c, 0));
    return [
      c.needs[0] ? unbroadcast(m.where(pick, 0, c.dy[0]!), X(c, 0).shape) : null,
      c.needs[1] ? unbroadcast(m.where(pick, c.dy[0]!, 0), X(c, 1).shape) : null,
    ];
  },
  Neg: (c) => [m.neg(c.dy[0]!)],
  Exp: (c) => [m.mul(c.dy[0]!, c.y[0])],
  Log: (c) => [m.div(c.dy[0]!, X(c, 0))],
  Sqrt: (c) => [m.div(m.mul(c.dy[0]!, 0.5), c.y[0])],
  Abs: (c) => [m.mul(c.dy[0]!, m.sign(X(c, 0)))],
  Reciprocal: (c) => [m.neg(m.mul(c.dy[0]!, m.mul(c.y[0], c.y[0])))],
  Identity: (c) => [c.dy[0]],
  Cast: (c) => [m.cast(c.dy[0]!, X(c, 0).dtype)],
  Where: (c) => {
    const [cond, a, b] = [X(c, 0), X(c, 1), X(c, 2)];
    const dy = c.dy[0]!;
    return [
      null,
      c.needs[1] ? unbroadcast(m.where(cond, dy, 0), a.shape) : null,
      c.needs[2] ? unbroadcast(m.where(cond, 0, dy), b.shape) : null,
    ];
  },
  Clip: (c) => {
    const x = X(c, 0);
    let keep: Tensor | null = null;
    if (c.x[1]) keep = m.greaterEqual(x, c.x[1]);
    if (c.x[2]) {
      const hi = m.not(m.greater(x, c.x[2]));
      keep = keep ? m.and(keep, hi) : hi;
    }
    return [keep ? m.where(keep, c.dy[0]!, 0) : c.dy[0]];
  },
  ReduceSum: (c) => [expandBack(c)],
  ReduceMean: (c) => {
    const x = X(c, 0);
    const kept = keptShape(c);
    const count = x.size / kept.reduce((a, b) => a * b, 1);
    return [m.div(expandBack(c), count)];
  },
  ReduceSumSquare: (c) => [m.mul(expandBack(c), m.mul(X(c, 0), 2))],
  ReduceMax: (c) => {
    // Gradient goes to every maximal element (tf semantics; ties are measure-zero in practice).
    const x = X(c, 0);
    const yKept = reshape(c.y[0], keptShape(c));
    const hit = m.cast(m.equal(x, yKept), x.dtype);
    return [m.mul(expandBack(c), hit)];
  },
  MatMul: (c) => {
    const [a, b] = [X(c, 0), X(c, 1)];
    const dy = c.dy[0]!;
    return [
      c.needs[0] ? unbroadcast(m.matmul(dy, swapLast(b)), a.shape) : null,
      c.needs[1] ? unbroadcast(m.matmul(swapLast(a), dy), b.shape) : null,
    ];
  },
  Gemm: (c) => {
    const [a, b] = [X(c, 0), X(c, 1)];
    const cc = c.x[2];
    const dy = c.dy[0]!;
    const alpha = getFloat(c.node.attrs, "alpha", 1), beta = getFloat(c.node.attrs, "beta", 1);
    const tA = getInt(c.node.attrs, "transA", 0) === 1,
      tB = getInt(c.node.attrs, "transB", 0) === 1;
    // Y = alpha·op(A)·op(B) (+ beta·C)
    let da: Tensor | null = null, db: Tensor | null = null, dc: Tensor | null = null;
    if (c.needs[0]) {
      da = tA ? m.gemm(b, dy, null, { transA: tB, transB: true, alpha }) : m.gemm(dy, b, null, {
        transB: !tB,
        alpha,
      });
    }
    if (c.needs[1]) {
      db = tB ? m.gemm(dy, a, null, { transA: true, transB: tA, alpha }) : m.gemm(a, dy, null, {
        transA: !tA,
        alpha,
      });
    }
    if (cc && c.needs[2]) dc = unbroadcast(beta === 1 ? dy : m.mul(dy, beta), cc.shape);
    return [da, db, dc];
  },
};
