/**
 * train: two U-Nets learn together on the engine (training/train_pair.ts: one ONNX graph per
 * step, the method's losses, seeded batches and views, validation, checkpoints every N steps so a
 * retried attempt continues from the newest checkpoint and ends bit-identical).
 */
import { Effect, Schema } from "effect";
import { AugmentConfig, TrainConfig } from "../../schemas/config.ts";
import { TrainOutput } from "../../schemas/outputs.ts";
import { CHECKPOINT_GRACE_MS, defineStage } from "../../pipeline/stage.ts";
import { methodOf } from "../../training/methods.ts";
import { loadTrainingData } from "../../training/load.ts";
import { trainPair } from "../../training/train_pair.ts";

const Input = Schema.Struct({
  train: TrainConfig,
  augment: AugmentConfig,
  seed: Schema.Int,
  classes: Schema.Int,
});

export const train = defineStage({
  name: "train",
  version: 4,
  needs: ["normalize", "synthesize", "augment"],
  shardable: false,
  stopGraceMs: CHECKPOINT_GRACE_MS,
  select: (c) => ({
    train: c.train,
    augment: c.augment,
    seed: c.seed,
    classes: c.data.classes.length,
  }),
  input: Input,
  output: TrainOutput,
  run: (ctx, { train: config, augment, seed, classes }) =>
    Effect.gen(function* () {
      const data = yield* loadTrainingData(config, ctx.input("normalize"), ctx.input("synthesize"));
      return yield* trainPair(ctx, {
        config,
        augment,
        seed,
        classes,
        data,
        method: methodOf(config),
      });
    }),
});
