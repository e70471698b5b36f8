/** The trained pair evaluate and export use: refine's second-round models when it trained some. */
import type { StageContext, Upstream } from "../pipeline/stage.ts";
import type { RefineOutput, TrainOutput } from "../schemas/outputs.ts";

export function finalModels(ctx: StageContext): { upstream: Upstream; names: readonly string[] } {
  const refined = ctx.input("refine");
  const second = (refined.summaries[0] as RefineOutput | undefined)?.models ?? [];
  if (second.length) return { upstream: refined, names: second };
  const trained = ctx.input("train");
  return { upstream: trained, names: (trained.summaries[0] as TrainOutput).models };
}
