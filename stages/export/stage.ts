/**
 * export: the trained model with the preprocessing it needs, as one self-describing file.
 * Until the ONNX engine lands (issue 3) the interim pixel model is exported as JSON weights.
 */
import { Effect, Schema } from "effect";
import { ExportConfig } from "../../schemas/config.ts";
import { ExportOutput, type NormalizeOutput, type TrainOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { duetVersion } from "../../pipeline/version.ts";
import { exportOnnx } from "../../engine/predict.ts";
import { decodeModel } from "../train/model.ts";

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
      const { model } = decodeModel(
        yield* trained.read(summary.models[config.model === "a" ? 0 : 1]),
      );
      const norm = ctx.input("normalize").summaries as NormalizeOutput[];
      const size = norm[0]?.cases[0]?.params.size ?? [0, 0];
      yield* ctx.write(
        "model.onnx",
        exportOnnx(model, {
          spatial: [size[1], size[0]],
          metadata: {
            "duet.version": duetVersion,
            "duet.classes": JSON.stringify(classes),
            "duet.input_size": JSON.stringify(size),
            "duet.normalize": JSON.stringify(normalize),
          },
        }),
      );
      return { model: "model.onnx", format: "onnx" };
    }),
});
