/**
 * evaluate: both models predict the validation and test cases slice by slice; predictions are
 * stacked back into volumes on each case's original grid (deploy/restore.ts restoreLabels),
 * optionally reduced to the largest component per class, and scored with medpy-exact metrics per
 * class and case (voxel units, or mm from the image spacing). Writes metrics.json (per case and
 * mean ± std per class), metrics.csv, and report.html (report/html.ts: summary, metric tables,
 * training curves from the train stage's curves.json, overlays of the best, median and worst
 * case of the better model).
 */
import { Effect, Schema } from "effect";
import { EvaluateConfig } from "../../schemas/config.ts";
import {
  EvaluateOutput,
  type EvaluateOutput as EvaluateOutputType,
} from "../../schemas/outputs.ts";
import { defineStage, type Upstream } from "../../pipeline/stage.ts";
import { InputError } from "../../pipeline/errors.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { type CaseMetrics, computeMetrics } from "../../metrics/medpy.ts";
import { aggregateMetrics, METRIC_NAMES, metricsCsv } from "../../metrics/aggregate.ts";
import { keepLargestComponent } from "../../metrics/components.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { Predictor } from "../../engine/predict.ts";
import { checkpointModels, finalModels } from "../final_models.ts";
import { decodeModel, type Inference, withMirror } from "../../deploy/weights.ts";
import { predictorSpatial, predictVolume } from "../../deploy/predict_volume.ts";
import { inputSize, loadCase, normalizedCases } from "../../training/cases.ts";
import { restoreLabels } from "../../deploy/restore.ts";
import { configDigest } from "../../pipeline/manifest.ts";
import { renderReport } from "../../report/html.ts";
import { datasetName } from "../../io/dataset.ts";
import { pickSlice, zSlice } from "../../report/overlay.ts";
import { type CaseSlice, type CurvePoint, evaluationReport } from "./report_data.ts";
import { baselineGains, displayName } from "../../report/gains.ts";

export const evaluate = defineStage({
  name: "evaluate",
  version: 6,
  needs: ["ingest", "normalize", "augment", "train", "baseline", "refine"],
  shardable: false,
  select: (c) => ({
    evaluate: c.evaluate,
    classes: c.data.classes,
    // Shown in the report.
    dataset: datasetName(c.data.source, c.data.root),
    seed: c.seed,
  }),
  input: Schema.Struct({
    evaluate: EvaluateConfig,
    classes: Schema.Array(Schema.String),
    dataset: Schema.String,
    seed: Schema.Int,
  }),
  output: EvaluateOutput,
  run: (ctx, { evaluate: config, classes, dataset, seed }) =>
    Effect.gen(function* () {
      const ingest = ctx.input("ingest");
      const norm = ctx.input("normalize");
      const trained = ctx.input("train");
      const summary = trained.summaries[0];
      // The method's pair ("a", "b"), then the supervised baseline's ("baseline a", ...).
      const models: { name: string; model: Predictor; inference: Inference }[] = [];
      const pair = finalModels(ctx, config.checkpoint);
      const baselineStage = ctx.input("baseline");
      const baseline = baselineStage.summaries[0].train;
      const sources = [
        { prefix: "", upstream: pair.upstream, names: pair.names },
        ...(baseline
          ? [{
            prefix: "baseline ",
            upstream: baselineStage,
            names: checkpointModels(baseline, config.checkpoint),
          }]
          : []),
      ];
      const size = inputSize(norm)!;
      // Each model of a pair, and the pair itself (their probabilities averaged: "pair").
      for (const { prefix, upstream, names } of sources) {
        const members = [];
        // How the models cover a volume (recorded in them: slices, or 3D windows).
        let inference: Inference = { kind: "slices" };
        for (const artifact of names) {
          const decoded = decodeModel(yield* upstream.read(artifact));
          members.push(decoded.model);
          inference = decoded.inference;
        }
        const named = [
          ...members.map((m, k) => [prefix + "ab"[k], m] as const),
          [
            prefix + "pair",
            members,
          ] as const,
        ];
        for (const [name, model] of named) {
          const predictor = yield* Effect.promise(() =>
            Predictor.create(model, { spatial: predictorSpatial(inference, size[0], size[1]) })
          );
          models.push({ name, model: predictor, inference });
        }
      }
      const originals = new Map(
        ingest.summaries.flatMap((s) => s.cases).map((c) => [c.id, c]),
      );
      const targets = normalizedCases(norm).filter((c) =>
        c.role === "validation" || c.role === "test"
      );
      const perModel: Record<string, { caseId: string; metrics: CaseMetrics }[]> = {};
      // The slice with the most label ∪ prediction, per model and case, for the overlays.
      const shown = new Map<string, CaseSlice>();
      const bar = ctx.reporter.progress("evaluate", targets.length * models.length);
      for (const info of targets) {
        const c = yield* loadCase(norm, info);
        const original = originals.get(info.id)!;
        const [nx, ny, nz] = original.shape;
        const stored = decodeArrays(yield* ingest.read(original.artifact)).arrays;
        if (!stored.label) {
          // Ingest refuses such a case now; an ingest committed before it did not.
          return yield* new InputError({
            file: original.source,
            problem: `${info.role} case "${info.id}" has no label to score against (fix: ` +
              `remove it from data.roles.${info.role}, or add its label and use a new --run-id)`,
          });
        }
        const label = stored.label.data as Uint8Array<ArrayBuffer>;
        const image = stored.image.data as Float32Array;
        for (const { name, model, inference } of models) {
          const small = yield* Effect.promise(() =>
            predictVolume(
              model,
              withMirror(inference, config.mirror),
              c.image,
              info.slices,
              c.width,
              c.height,
            )
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
          const z = pickSlice(label, pred, [nx, ny, nz]);
          shown.set(`${displayName(name)}\u0000${info.id}`, {
            z,
            width: nx,
            height: ny,
            image: zSlice(image, [nx, ny, nz], z).slice(),
            label: zSlice(label, [nx, ny, nz], z).slice(),
            pred: zSlice(pred, [nx, ny, nz], z).slice(),
          });
          bar.tick();
        }
      }
      bar.done();
      for (const { model } of models) yield* Effect.promise(() => model.release());
      const stats = (keep: (caseId: string) => boolean) => {
        const out: Record<string, EvaluateOutputType["models"][string]> = {};
        for (const [name, rows] of Object.entries(perModel)) {
          const mine = rows.filter((r) => keep(r.caseId));
          if (!mine.length) continue;
          const agg = aggregateMetrics(mine.map((r) => r.metrics));
          out[name] = Object.fromEntries(METRIC_NAMES.map((metric) => [
            metric,
            Object.fromEntries(Object.entries(agg.classes).map(([cls, s]) => [cls, s[metric]])),
          ]));
        }
        return out;
      };
      const out = stats(() => true);
      const roleOf = new Map(targets.map((c) => [c.id, c.role]));
      const splits = Object.fromEntries(
        (["validation", "test"] as const)
          .map((split) => {
            const cases = targets.filter((c) => c.role === split).length;
            return [split, { cases, models: stats((id) => roleOf.get(id) === split) }] as const;
          })
          .filter(([, split]) => split.cases > 0),
      );
      yield* ctx.write(
        "metrics.json",
        encodeJson({ classes, models: out, splits, cases: perModel }),
      );
      yield* ctx.write(
        "metrics.csv",
        new TextEncoder().encode(
          Object.entries(perModel).map(([name, rows]) => `# model ${name}\n${metricsCsv(rows)}`)
            .join("\n"),
        ),
      );
      const readCurves = (upstream: Upstream, name: string) =>
        Effect.map(
          upstream.read(name),
          (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as CurvePoint[],
        );
      const curves = yield* readCurves(trained, summary.curves);
      const baselineCurves = baseline ? yield* readCurves(baselineStage, baseline.curves) : [];
      const augmented = ctx.input("augment");
      const preview = augmented.summaries[0].preview;
      const report = evaluationReport({
        method: summary.method,
        // The digest of the run's whole config, shown, not keyed: the key hashes what this
        // stage reads, so a run that shares this result shows the config of the run that made it.
        configDigest: configDigest(ctx.config),
        dataset,
        runId: ctx.runId,
        unit: config.units,
        classes,
        models: Object.entries(perModel).map(([name, cases]) => ({
          name: displayName(name),
          cases,
        })),
        curves,
        baselineCurves,
        ...(preview ? { views: yield* augmented.read(preview) } : {}),
        slices: (model, caseId) => shown.get(`${model}\u0000${caseId}`),
        facts: [
          ["training steps", String(summary.steps)],
          ["seed", String(seed)],
          ["largest component", config.largestComponent ? "kept per class" : "off"],
          ["test-time mirroring", config.mirror ? "mirror images averaged" : "off"],
          ...Object.entries(splits).flatMap(([split, { models }]) =>
            baselineGains(models).map(({ model, gain }) =>
              [
                `${displayName(model)} vs supervised baseline, ${split}`,
                `${gain >= 0 ? "+" : ""}${(100 * gain).toFixed(1)} Dice points`,
              ] as const
            )
          ),
          [
            "cases",
            `${targets.filter((c) => c.role === "validation").length} validation, ${
              targets.filter((c) => c.role === "test").length
            } test`,
          ],
        ],
      });
      yield* ctx.write("report.html", new TextEncoder().encode(renderReport(report)));
      return {
        cases: targets.length,
        models: out,
        splits,
        report: "report.html",
        csv: "metrics.csv",
        json: "metrics.json",
      };
    }),
});
