/**
 * baseline: the `supervised` pair — same data, model, steps, views and seed as train, labelled
 * slices only — so every run reports how far its method is above training on the labels alone
 * (`evaluate.baseline`). Its models are the ones a `train.method=supervised` run of the same
 * config trains. Skipped when the method is `supervised` itself or the baseline is off.
 */
import { Effect, Schema } from "effect";
import { AugmentConfig, TrainConfig } from "../../schemas/config.ts";
import { BaselineOutput } from "../../schemas/outputs.ts";
import { CHECKPOINT_GRACE_MS, defineStage } from "../../pipeline/stage.ts";
import { trainPair } from "../../training/train_pair.ts";
import { methods } from "../../training/methods.ts";
import { loadTrainingData } from "../../training/load.ts";

export const baseline = defineStage({
  name: "baseline",
  version: 2,
  needs: ["normalize"],
  shardable: false,
  stopGraceMs: CHECKPOINT_GRACE_MS,
  select: (c) => ({
    enabled: c.evaluate.baseline && c.train.method !== "supervised",
    train: { ...c.train, method: "supervised" as const },
    augment: c.augment,
    seed: c.seed,
    classes: c.data.classes.length,
  }),
  input: Schema.Struct({
    enabled: Schema.Boolean,
    train: TrainConfig,
    augment: AugmentConfig,
    seed: Schema.Int,
    classes: Schema.Int,
  }),
  output: BaselineOutput,
  run: (ctx, { enabled, train: config, augment, seed, classes }) =>
    Effect.gen(function* () {
      if (!enabled) return { enabled: false };
      const data = yield* loadTrainingData(config, ctx.input("normalize"));
      const trained = yield* trainPair(ctx, {
        config,
        augment,
        seed,
        classes,
        data,
        method: methods.supervised,
      });
      return { enabled: true, train: trained };
    }),
});
