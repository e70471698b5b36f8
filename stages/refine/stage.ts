/**
 * refine: both models predict the unlabelled pool; their probabilities are averaged and pixels
 * below the confidence threshold are left out (255). The fused pseudo-labels are written for a
 * second training round. Disabled by default (the pass-through keeps the pipeline shape fixed).
 */
import { Effect, Schema } from "effect";
import { RefineConfig } from "../../schemas/config.ts";
import { RefineOutput, type TrainOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { decodeArrays, encodeArrays } from "../codec.ts";
import { loadCase, normalizedCases } from "../slices.ts";
import { FEATURES, pixelFeatures, PixelModel } from "../train/pixel_model.ts";

export const refine = defineStage({
  name: "refine",
  version: 1,
  needs: ["normalize", "train"],
  shardable: true,
  select: (c) => ({ refine: c.refine, classes: c.data.classes.length }),
  input: Schema.Struct({ refine: RefineConfig, classes: Schema.Int }),
  output: RefineOutput,
  run: (ctx, { refine: config, classes }) =>
    Effect.gen(function* () {
      if (!config.enabled) return { enabled: false, pseudoLabelledSlices: 0, models: [] };
      if (config.secondRoundSteps > 0) {
        return yield* new ConfigError({
          problems: [
            "refine.secondRoundSteps: the second training round lands with the ONNX engine; set it to 0",
          ],
        });
      }
      const norm = ctx.input("normalize");
      const trained = ctx.input("train");
      const models: PixelModel[] = [];
      for (const artifact of (trained.summaries[0] as TrainOutput).models) {
        const m = new PixelModel(classes, () => 0);
        m.weights.set(
          decodeArrays(yield* trained.read(artifact)).arrays.weights.data as Float32Array,
        );
        models.push(m);
      }
      const pool = normalizedCases(norm).filter((c, i) =>
        c.role === "unlabelled" && i % ctx.shard.count === ctx.shard.index
      );
      let slices = 0;
      for (const info of pool) {
        const c = yield* loadCase(norm, info);
        const plane = c.width * c.height;
        const labels = new Uint8Array(info.slices * plane);
        const features = new Float32Array(FEATURES * plane);
        const probs = models.map(() => new Float32Array(classes * plane));
        for (let z = 0; z < info.slices; z++) {
          pixelFeatures(c.image.subarray(z * plane, (z + 1) * plane), c.width, c.height, features);
          models.forEach((m, k) => m.predict(features, plane, probs[k]));
          for (let p = 0; p < plane; p++) {
            let best = 0, bestP = -1;
            for (let k = 0; k < classes; k++) {
              const mean = probs.reduce((s, pr) => s + pr[k * plane + p], 0) / probs.length;
              if (mean > bestP) [best, bestP] = [k, mean];
            }
            labels[z * plane + p] = bestP >= config.confidence ? best : 255;
          }
        }
        slices += info.slices;
        yield* ctx.write(
          `pseudo-${info.id}.bin`,
          encodeArrays({ id: info.id }, {
            label: { data: labels, shape: [info.slices, c.height, c.width] },
          }),
        );
      }
      return { enabled: true, pseudoLabelledSlices: slices, models: [] };
    }),
});
