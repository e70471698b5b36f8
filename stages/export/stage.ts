/**
 * export: the trained model with the preprocessing it needs, as one self-describing file.
 * Until the ONNX engine lands (issue 3) the interim pixel model is exported as JSON weights.
 */
import { Effect, Schema } from "effect";
import { ExportConfig } from "../../schemas/config.ts";
import { ExportOutput, type NormalizeOutput, type TrainOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { duetVersion } from "../../pipeline/version.ts";
import { decodeArrays } from "../codec.ts";

export const exportModel = defineStage({
  name: "export",
  version: 1,
  needs: ["normalize", "train", "evaluate"],
  shardable: false,
  select: (c) => ({ export: c.export, classes: c.data.classes, normalize: c.normalize }),
  input: Schema.Struct({
    export: ExportConfig,
    classes: Schema.Array(Schema.String),
    normalize: Schema.Unknown,
  }),
  output: ExportOutput,
  run: (ctx, { export: config, classes, normalize }) =>
    Effect.gen(function* () {
      const trained = ctx.input("train");
      const summary = trained.summaries[0] as TrainOutput;
      const artifact = summary.models[config.model === "a" ? 0 : 1];
      const { meta, arrays } = decodeArrays(yield* trained.read(artifact));
      const norm = ctx.input("normalize").summaries as NormalizeOutput[];
      yield* ctx.write(
        "model.json",
        encodeJson({
          format: "duet-pixel-softmax",
          duetVersion,
          classes,
          normalize,
          inputSize: norm[0]?.cases[0]?.params.size ?? null,
          model: meta,
          weights: [...(arrays.weights.data as Float32Array)],
        }),
      );
      return { model: "model.json", format: "duet-pixel-softmax" };
    }),
});
