/**
 * Losses any method can add to its own, behind config fields: ELSNet's pixel-prototype contrast
 * (PAPERS.md §4) on the labelled rows (exemplar, synthetic and real labelled slices) of each
 * trained model's train-mode forward of the labelled batch, through a projection head on the
 * last decoder features. The heads are modules of the training step (trained, checkpointed) but
 * not part of the saved models, so evaluation and export do not change.
 */
import type { StepBuilder } from "../engine/train.ts";
import type { Tensor } from "../engine/graph.ts";
import type { ModelOutput, Module } from "../engine/models/context.ts";
import { Heads } from "../engine/models/heads.ts";
import * as op from "../engine/ops.ts";
import * as L from "../engine/losses.ts";
import type { Rng } from "../random/rng.ts";
import type { TrainConfig } from "../schemas/config.ts";
import type { Shapes } from "./methods.ts";

/** Width of the projection heads' hidden and output layers (CAML's feat_dim). */
export const HEAD_DIM = 32;

export type MethodLoss = { loss: Tensor; logs: Record<string, Tensor> };

export interface Auxiliary {
  /** Extra trainable modules of the step, by name. */
  readonly modules: Record<string, Module>;
  /** The method's loss with the auxiliary terms added (and logged). */
  readonly add: (g: StepBuilder, s: Shapes, base: MethodLoss) => MethodLoss;
}

/**
 * The first train-mode forward of `model` whose batch starts with the labelled slices (`xl`
 * itself or a concatenation that begins with it): its first `bl` rows are the labelled ones.
 */
export function labelledForward(g: StepBuilder, model: string): ModelOutput {
  const xl = g.input("xl");
  const hit = g.forwards.find((f) =>
    f.model === model && f.mode === "train" &&
    (f.x === xl || (f.x.producer?.op === "Concat" && f.x.producer.inputs[0] === xl))
  );
  if (!hit) throw new Error(`no train-mode forward of ${model} on the labelled batch`);
  return hit.output;
}

/** The prototype contrast for the `trained` models, or undefined when its weight is 0. */
export function prototypeContrast(
  config: typeof TrainConfig.Type,
  trained: readonly string[],
  channels: number,
  rng: Rng,
): Auxiliary | undefined {
  const { weight, temperature } = config.prototypeContrast;
  if (weight === 0) return undefined;
  const head = (m: string) => `ppc_${m}`;
  const modules = Object.fromEntries(
    trained.map((m) => [
      head(m),
      new Heads({ proj: { in: channels, hidden: HEAD_DIM, out: HEAD_DIM } }, rng.fork(head(m))),
    ]),
  );
  return {
    modules,
    add: (g, s, base) => {
      const t = L.oneHot(g.input("yl"), s.classes); // all zero where a label is 255 (ignored)
      let total: Tensor | undefined;
      for (const m of trained) {
        const decoder = labelledForward(g, m).decoder;
        const features = op.slice(decoder[decoder.length - 1], [0], [s.bl], [0]);
        const heads = modules[head(m)] as Heads;
        const e = heads.apply(g.context(head(m)), "proj", features, "train");
        const l = L.prototypeContrast(e, t, temperature);
        total = total ? op.add(total, l) : l;
      }
      return {
        loss: op.add(base.loss, op.mul(total!, weight)),
        logs: { ...base.logs, ppc: total! },
      };
    },
  };
}
