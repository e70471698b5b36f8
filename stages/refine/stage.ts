/**
 * refine: both models predict the unlabelled pool; their probabilities are averaged and pixels
 * below the confidence threshold are left out (255). The fused pseudo-labels are written for a
 * second training round, each class cleaned to its largest 3D connected component
 * (`largestComponent`). Disabled by default (the pass-through keeps the pipeline shape fixed).
 */
import { Effect, Schema } from "effect";
import { RefineConfig } from "../../schemas/config.ts";
import { RefineOutput, type TrainOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { encodeArrays } from "../codec.ts";
import { keepLargestComponent } from "../../metrics/components.ts";
import { Predictor } from "../../engine/predict.ts";
import { decodeModel, predictSlices } from "../train/model.ts";
import { loadCase, normalizedCases } from "../slices.ts";

export const refine = defineStage({
  name: "refine",
  version: 2,
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
      const pool = normalizedCases(norm).filter((c, i) =>
        c.role === "unlabelled" && i % ctx.shard.count === ctx.shard.index
      );
      if (!pool.length) return { enabled: true, pseudoLabelledSlices: 0, models: [] };
      const [W, H] = pool[0].params.size;
      const predictors: Predictor[] = [];
      for (const artifact of (trained.summaries[0] as TrainOutput).models) {
        const { model } = decodeModel(yield* trained.read(artifact));
        predictors.push(yield* Effect.promise(() => Predictor.create(model, { spatial: [H, W] })));
      }
      let slices = 0;
      const bar = ctx.reporter.progress("refine", pool.length);
      for (const info of pool) {
        const c = yield* loadCase(norm, info);
        const plane = c.width * c.height;
        const probs = predictors.map(() => new Float32Array(info.slices * classes * plane));
        for (const [k, p] of predictors.entries()) {
          yield* Effect.promise(() =>
            predictSlices(p, c.image, info.slices, c.width, c.height, 8, probs[k])
          );
        }
        const labels = new Uint8Array(info.slices * plane);
        for (let z = 0; z < info.slices; z++) {
          for (let q = 0; q < plane; q++) {
            let best = 0, bestP = -1;
            for (let k = 0; k < classes; k++) {
              const i = (z * classes + k) * plane + q;
              const mean = probs.reduce((s, pr) => s + pr[i], 0) / probs.length;
              if (mean > bestP) [best, bestP] = [k, mean];
            }
            labels[z * plane + q] = bestP >= config.confidence ? best : 255;
          }
        }
        const cleaned = config.largestComponent
          ? keepLargestComponent(labels, [c.width, c.height, info.slices], {
            classes: Array.from({ length: classes - 1 }, (_, k) => k + 1),
          })
          : labels;
        slices += info.slices;
        yield* ctx.write(
          `pseudo-${info.id}.bin`,
          encodeArrays({ id: info.id }, {
            label: { data: cleaned, shape: [info.slices, c.height, c.width] },
          }),
        );
        bar.tick();
      }
      bar.done();
      yield* Effect.promise(() => Promise.all(predictors.map((p) => p.release())));
      return { enabled: true, pseudoLabelledSlices: slices, models: [] };
    }),
});
