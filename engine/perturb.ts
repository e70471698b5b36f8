/**
 * Helpers for the mutual-learning methods: feature perturbations applied between encoder and
 * decoder (UniMatch channel dropout, CCT multiplicative uniform noise) and the EMA teacher
 * update. Random draws come from the training step's seeded Rng (masks and noise are inputs).
 */
import type { Tensor } from "./graph.ts";
import type { ModelContext } from "./models/context.ts";
import * as op from "./ops.ts";
import type { ParamStore } from "./params.ts";

/** Dropout2d/3d on each feature map (whole channels), p = 0.5 in UniMatch. */
export function featureDropout(ctx: ModelContext, features: Tensor[], p = 0.5): Tensor[] {
  return features.map((f) => {
    const shape = [...f.staticShape.slice(0, 2), ...new Array(f.rank - 2).fill(1)];
    return op.dropout(f, ctx.dropoutMask(shape, p));
  });
}

/** CCT FeatureNoise: f + f·u with u ~ U(-range, range) per spatial position, shared by channels. */
export function featureNoise(ctx: ModelContext, features: Tensor[], range = 0.3): Tensor[] {
  return features.map((f) => {
    const shape = [f.staticShape[0], 1, ...f.staticShape.slice(2)];
    return op.add(f, op.mul(f, ctx.uniformNoise(shape, -range, range)));
  });
}

/**
 * Mean-teacher update θ_t = α·θ_t + (1-α)·θ_s with α = min(1 - 1/(step+1), decay), as in
 * UA-MT / UG-MCL. Parameters only; BatchNorm buffers are not averaged (the papers' code).
 */
export function emaUpdate(teacher: ParamStore, student: ParamStore, decay: number, step: number) {
  const alpha = Math.min(1 - 1 / (step + 1), decay);
  const t = teacher.params.data, s = student.params.data;
  if (t.length !== s.length) throw new Error("emaUpdate: models have different layouts");
  for (let i = 0; i < t.length; i++) t[i] = alpha * t[i] + (1 - alpha) * s[i];
}
