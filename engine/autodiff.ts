/**
 * Reverse-mode automatic differentiation over a Graph. Gradients are new nodes in the same
 * graph, so forward, backward and optimizer update run as one onnxruntime session. Only nodes
 * on a path from the requested parameters to the loss are differentiated, and each rule is told
 * which input gradients are needed (the first conv never computes a gradient for the image).
 */
import { type Graph, type Node, ShapeError, type Tensor } from "./graph.ts";
import { add } from "./ops/math.ts";
import { mathRules } from "./grad/math.ts";
import { shapeRules } from "./grad/shape.ts";
import { nnRules } from "./grad/nn.ts";

export interface GradContext {
  readonly node: Node;
  /** The node's inputs (null for omitted optional inputs). */
  readonly x: readonly (Tensor | null)[];
  readonly y: readonly Tensor[];
  /** Gradients of the node's outputs (null where nothing flowed back). */
  readonly dy: readonly (Tensor | null)[];
  /** Which input gradients are needed. */
  readonly needs: readonly boolean[];
}

export type GradRule = (c: GradContext) => readonly (Tensor | null | undefined)[];

const rules = new Map<string, GradRule>(
  Object.entries({ ...mathRules, ...shapeRules, ...nnRules }),
);

/** Ops whose outputs never carry gradient (integer or boolean results, masks, indices). */
const NON_DIFFERENTIABLE = new Set([
  "ArgMax",
  "ArgMin",
  "Equal",
  "Greater",
  "GreaterOrEqual",
  "Less",
  "LessOrEqual",
  "Not",
  "And",
  "Or",
  "Sign",
  "Floor",
  "Ceil",
  "Round",
  "Shape",
  "OneHot",
]);

export function hasGradient(op: string): boolean {
  return rules.has(op);
}

const isFloat = (t: Tensor) => t.dtype === "float32" || t.dtype === "float64";

/**
 * Gradients of a scalar `loss` with respect to each tensor in `wrt` (zeros where the loss does
 * not depend on it). Adds the backward nodes to the loss's graph.
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  const g: Graph = loss.graph;
  if (loss.size !== 1 || !isFloat(loss)) {
    throw new ShapeError(`gradients: loss must be a float scalar, got ${loss} (${loss.dtype})`);
  }
  const nForward = g.nodes.length;
  const regionOf = new Map<number, number>();
  g.regions.forEach((r, ri) => {
    for (let i = r.first; i <= r.last; i++) regionOf.set(i, ri);
  });

  // Tensors that depend on some wrt tensor through differentiable ops.
  const dep = new Set<Tensor>(wrt);
  for (let i = 0; i < nForward; i++) {
    const n = g.nodes[i];
    if (n.noGrad || NON_DIFFERENTIABLE.has(n.op)) continue;
    if (n.inputs.some((t) => t !== null && dep.has(t))) {
      for (const o of n.outputs) if (isFloat(o)) dep.add(o);
    }
  }

  const grads = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, d: Tensor | null | undefined, op: string) => {
    if (!d || !dep.has(t)) return;
    if (d.rank !== t.rank || d.shape.some((s, i) => s !== t.shape[i])) {
      throw new ShapeError(`gradient of ${op}: got ${d} for input ${t}`);
    }
    const prev = grads.get(t);
    grads.set(t, prev ? add(prev, d) : d);
  };
  grads.set(loss, g.constant(new Float32Array(loss.size).fill(1), loss.staticShape, loss.dtype));

  const doneRegions = new Set<number>();
  for (let i = nForward - 1; i >= 0; i--) {
    const ri = regionOf.get(i);
    if (ri !== undefined) {
      if (doneRegions.has(ri)) continue;
      doneRegions.add(ri);
      const r = g.regions[ri];
      const dys = r.outputs.map((o) => grads.get(o) ?? null);
      if (dys.every((d) => d === null) || !r.inputs.some((t) => dep.has(t))) continue;
      const dxs = r.grad(dys);
      r.inputs.forEach((t, j) => accumulate(t, dxs[j], "custom region"));
      continue;
    }
    const n = g.nodes[i];
    if (n.noGrad || NON_DIFFERENTIABLE.has(n.op)) continue;
    const dy = n.outputs.map((o) => grads.get(o) ?? null);
    if (dy.every((d) => d === null)) continue;
    const needs = n.inputs.map((t) => t !== null && dep.has(t));
    if (!needs.some(Boolean)) continue;
    const rule = rules.get(n.op);
    if (!rule) throw new Error(`autodiff: no gradient rule for ${n.op}`);
    const dx = rule({ node: n, x: n.inputs, y: n.outputs, dy, needs });
    n.inputs.forEach((t, j) => {
      if (t && needs[j]) accumulate(t, dx[j], n.op);
    });
  }
  return wrt.map((t) =>
    grads.get(t) ?? g.constant(new Float32Array(t.size), t.staticShape, t.dtype)
  );
}
