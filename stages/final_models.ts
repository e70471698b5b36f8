/**
 * The trained pair evaluate and export use: refine's second-round models when it trained some,
 * else train's models after the last step or at their best validation Dice (`evaluate.checkpoint`:
 * chosen on the validation cases only, so the test split stays unseen).
 */
import type { StageContext, Upstream } from "../pipeline/stage.ts";
import type { TrainOutput } from "../schemas/outputs.ts";

export type Checkpoint = "last" | "best";

/** A training output's models at the checkpoint (last when nothing was validated). */
export const checkpointModels = (t: TrainOutput, checkpoint: Checkpoint) =>
  checkpoint === "best" ? t.best : t.models;

export function finalModels(
  ctx: StageContext,
  checkpoint: Checkpoint,
): { upstream: Upstream; names: readonly string[] } {
  const refined = ctx.input("refine");
  const second = refined.summaries[0]?.models ?? [];
  if (second.length) return { upstream: refined, names: second };
  const trained = ctx.input("train");
  return {
    upstream: trained,
    names: checkpointModels(trained.summaries[0], checkpoint),
  };
}
