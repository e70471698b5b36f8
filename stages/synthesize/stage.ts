/**
 * synthesize (ELSNet): annotated samples made from the exemplar / labelled slices. Sample i is
 * drawn from rng.fork(i), so shards produce identical samples to a single process.
 */
import { Effect, Schema } from "effect";
import { SynthesizeConfig } from "../../schemas/config.ts";
import { SynthesizeOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { Rng } from "../../random/rng.ts";
import { ViewAugmenter } from "../../transforms/views.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import { encodeArrays } from "../codec.ts";
import { loadCase, normalizedCases } from "../slices.ts";

export const synthesize = defineStage({
  name: "synthesize",
  version: 1,
  needs: ["normalize"],
  shardable: true,
  select: (c) => ({ synthesize: c.synthesize, seed: c.seed }),
  input: Schema.Struct({ synthesize: SynthesizeConfig, seed: Schema.Int }),
  output: SynthesizeOutput,
  run: (ctx, { synthesize: config, seed }) =>
    Effect.gen(function* () {
      const up = ctx.input("normalize");
      const sources: { image: Float32Array; label: Uint8Array; w: number; h: number }[] = [];
      for (const info of normalizedCases(up).filter((c) => c.trainLabels.length > 0)) {
        const c = yield* loadCase(up, info);
        const plane = c.width * c.height;
        for (const z of info.trainLabels) {
          sources.push({
            image: c.image.subarray(z * plane, (z + 1) * plane),
            label: c.label(z)!,
            w: c.width,
            h: c.height,
          });
        }
      }
      const mine = Array.from({ length: config.count }, (_, i) => i).filter((i) =>
        i % ctx.shard.count === ctx.shard.index
      );
      if (!sources.length || !mine.length) return { samples: 0, artifacts: [] };
      const { w, h } = sources[0];
      const augment = new ViewAugmenter({
        weak: {
          zoomProbability: 0.5,
          zoom: [Math.max(1, config.scale[0]), Math.max(1, config.scale[1])],
        },
      });
      const images = new Float32Array(mine.length * w * h);
      const labels = new Uint8Array(mine.length * w * h);
      const root = new Rng(seed).fork("synthesize");
      mine.forEach((i, k) => {
        const rng = root.fork(i);
        const src = sources[rng.int(0, sources.length)];
        const pair = augment.pair(image2d(w, h, src.image), rng, label2d(w, h, src.label));
        images.set(pair.strong.data, k * w * h);
        labels.set(pair.weakLabel.data, k * w * h);
      });
      const artifact = `synthetic-${ctx.shard.index}.bin`;
      yield* ctx.write(
        artifact,
        encodeArrays({ indices: mine }, {
          image: { data: images, shape: [mine.length, h, w] },
          label: { data: labels, shape: [mine.length, h, w] },
        }),
      );
      return { samples: mine.length, artifacts: [artifact] };
    }),
});
