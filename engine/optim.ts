/**
 * Optimizers as graph ops over a model's flat parameter vector (PyTorch update rules, so runs
 * are comparable with the papers' code). The learning rate is a scalar graph input, so one
 * graph serves a whole run with any schedule; Adam's bias corrections are scalar inputs too.
 */
import type { Graph, Tensor } from "./graph.ts";
import * as op from "./ops.ts";

export type OptimizerSpec =
  | { kind: "sgd"; momentum?: number; weightDecay?: number }
  | { kind: "adam" | "adamw"; betas?: [number, number]; eps?: number; weightDecay?: number };

/** torch.optim.SGD(momentum, weight_decay) (dampening 0, no Nesterov). */
export function sgd(o: { momentum?: number; weightDecay?: number } = {}): OptimizerSpec {
  return { kind: "sgd", ...o };
}

/** torch.optim.Adam (weight decay added to the gradient). */
export function adam(o: { betas?: [number, number]; eps?: number; weightDecay?: number } = {}) {
  return { kind: "adam", ...o } as OptimizerSpec;
}

/** torch.optim.AdamW (decoupled weight decay, default 0.01). */
export function adamw(o: { betas?: [number, number]; eps?: number; weightDecay?: number } = {}) {
  return { kind: "adamw", weightDecay: 0.01, ...o } as OptimizerSpec;
}

/** Names of the per-parameter state vectors an optimizer keeps. */
export function stateNames(spec: OptimizerSpec): string[] {
  if (spec.kind === "sgd") return (spec.momentum ?? 0) > 0 ? ["momentum"] : [];
  return ["exp_avg", "exp_avg_sq"];
}

/** Scalar inputs the step feeds every run (besides "lr"), computed from the step number. */
export function scalarFeeds(spec: OptimizerSpec, step: number): Record<string, number> {
  if (spec.kind === "sgd") return {};
  const [b1, b2] = spec.betas ?? [0.9, 0.999];
  const t = step + 1;
  return { "opt/bc1": 1 / (1 - b1 ** t), "opt/bc2_sqrt": 1 / Math.sqrt(1 - b2 ** t) };
}

export interface UpdateResult {
  param: Tensor;
  /** New optimizer state, same order as stateNames(spec). */
  state: Tensor[];
}

/**
 * The update of one flat parameter vector. `scalars` holds the graph inputs "lr" and the ones
 * from scalarFeeds (shared by all models of a step).
 */
export function update(
  spec: OptimizerSpec,
  param: Tensor,
  grad: Tensor,
  state: Tensor[],
  scalars: Record<string, Tensor>,
): UpdateResult {
  const lr = scalars["lr"];
  const wd = spec.weightDecay ?? 0;
  if (spec.kind === "sgd") {
    const d = wd ? op.add(grad, op.mul(param, wd)) : grad;
    const mu = spec.momentum ?? 0;
    if (mu === 0) return { param: op.sub(param, op.mul(d, lr)), state: [] };
    const buf = op.add(op.mul(state[0], mu), d);
    return { param: op.sub(param, op.mul(buf, lr)), state: [buf] };
  }
  const [b1, b2] = spec.betas ?? [0.9, 0.999];
  const eps = spec.eps ?? 1e-8;
  let p = param, gr = grad;
  if (spec.kind === "adamw" && wd) p = op.mul(param, op.sub(1, op.mul(lr, wd)));
  if (spec.kind === "adam" && wd) gr = op.add(grad, op.mul(param, wd));
  const m = op.add(op.mul(state[0], b1), op.mul(gr, 1 - b1));
  const v = op.add(op.mul(state[1], b2), op.mul(op.mul(gr, gr), 1 - b2));
  // torch: p -= (lr / bc1) · m / (√v / √bc2 + eps)
  const denom = op.add(op.mul(op.sqrt(v), scalars["opt/bc2_sqrt"]), eps);
  const stepSize = op.mul(lr, scalars["opt/bc1"]);
  return { param: op.sub(p, op.mul(op.div(m, denom), stepSize)), state: [m, v] };
}

/** Declares the scalar inputs an optimizer needs on a graph. */
export function declareScalars(g: Graph, spec: OptimizerSpec): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  out["lr"] = g.findInput("lr") ?? g.input("lr", [], "float32", { kind: "scalar" });
  for (const k of Object.keys(scalarFeeds(spec, 0))) {
    out[k] = g.input(k, [], "float32", { kind: "scalar" });
  }
  return out;
}
