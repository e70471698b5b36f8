/**
 * evaluate: both models predict the validation and test cases slice by slice; predictions are
 * resized back to each case's original grid and scored with medpy-exact metrics per class and
 * case (voxel units, or mm from the image spacing). Writes metrics.json, metrics.csv, report.html.
 */
import { Effect, Schema } from "effect";
import { EvaluateConfig } from "../../schemas/config.ts";
import {
  EvaluateOutput,
  type EvaluateOutput as EvaluateOutputType,
  type IngestOutput,
  type TrainOutput,
} from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { type CaseMetrics, computeMetrics } from "../../metrics/medpy.ts";
import { aggregateMetrics, METRIC_NAMES, metricsCsv } from "../../metrics/aggregate.ts";
import { keepLargestComponent } from "../../metrics/components.ts";
import { decodeArrays } from "../codec.ts";
import { Predictor } from "../../engine/predict.ts";
import { decodeModel, predictSlices } from "../train/model.ts";
import { loadCase, normalizedCases, restoreLabels } from "../slices.ts";
import { renderSimpleReport } from "./report.ts";

export const evaluate = defineStage({
  name: "evaluate",
  version: 1,
  needs: ["ingest", "normalize", "train", "refine"],
  shardable: false,
  select: (c) => ({ evaluate: c.evaluate, classes: c.data.classes }),
  input: Schema.Struct({ evaluate: EvaluateConfig, classes: Schema.Array(Schema.String) }),
  output: EvaluateOutput,
  run: (ctx, { evaluate: config, classes }) =>
    Effect.gen(function* () {
      const ingest = ctx.input("ingest");
      const norm = ctx.input("normalize");
      const trained = ctx.input("train");
      const summary = trained.summaries[0] as TrainOutput;
      const models: { name: string; model: Predictor }[] = [];
      for (const [k, artifact] of summary.models.entries()) {
        const { model } = decodeModel(yield* trained.read(artifact));
        const size = normalizedCases(norm)[0].params.size;
        const predictor = yield* Effect.promise(() =>
          Predictor.create(model, { spatial: [size[1], size[0]] })
        );
        models.push({ name: String.fromCharCode(97 + k), model: predictor });
      }
      const originals = new Map(
        (ingest.summaries as IngestOutput[]).flatMap((s) => s.cases).map((c) => [c.id, c]),
      );
      const targets = normalizedCases(norm).filter((c) =>
        c.role === "validation" || c.role === "test"
      );
      const perModel: Record<string, { caseId: string; metrics: CaseMetrics }[]> = {};
      const bar = ctx.reporter.progress("evaluate", targets.length * models.length);
      for (const info of targets) {
        const c = yield* loadCase(norm, info);
        const original = originals.get(info.id)!;
        const [nx, ny, nz] = original.shape;
        const label = decodeArrays(yield* ingest.read(original.artifact)).arrays.label
          .data as Uint8Array<ArrayBuffer>;
        for (const { name, model } of models) {
          const small = yield* Effect.promise(() =>
            predictSlices(model, c.image, nz, c.width, c.height)
          );
          let pred: Uint8Array = restoreLabels(info, small);
          if (config.largestComponent) pred = keepLargestComponent(pred, [nx, ny, nz]);
          const metrics = computeMetrics({ data: pred, shape: [nx, ny, nz] }, {
            data: label,
            shape: [nx, ny, nz],
          }, {
            classes: classes.map((_, i) => i).slice(1),
            ...(config.units === "mm" ? { spacing: original.spacing } : {}),
          });
          (perModel[name] ??= []).push({ caseId: info.id, metrics });
          bar.tick();
        }
      }
      bar.done();
      const out: Record<string, EvaluateOutputType["models"][string]> = {};
      for (const [name, rows] of Object.entries(perModel)) {
        const agg = aggregateMetrics(rows.map((r) => r.metrics));
        out[name] = Object.fromEntries(METRIC_NAMES.map((metric) => [
          metric,
          Object.fromEntries(Object.entries(agg.classes).map(([cls, s]) => [cls, s[metric]])),
        ]));
      }
      yield* ctx.write("metrics.json", encodeJson({ classes, models: out, cases: perModel }));
      yield* ctx.write(
        "metrics.csv",
        new TextEncoder().encode(
          Object.entries(perModel).map(([name, rows]) => `# model ${name}\n${metricsCsv(rows)}`)
            .join("\n"),
        ),
      );
      const curves = JSON.parse(new TextDecoder().decode(yield* trained.read(summary.curves)));
      yield* ctx.write(
        "report.html",
        new TextEncoder().encode(
          renderSimpleReport({ classes, models: out, perModel, curves, method: summary.method }),
        ),
      );
      return {
        cases: targets.length,
        models: out,
        report: "report.html",
        csv: "metrics.csv",
        json: "metrics.json",
      };
    }),
});
