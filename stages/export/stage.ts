/**
 * export: the model chosen by `export.model` (a, b, or the pair averaged in one graph) as
 * `model.onnx` (deploy/onnx_model.ts: eval-mode forward graph, weights baked in, dynamic batch,
 * opset 17, duet.* metadata with the normalize recipe, input size and config digest). Before committing, the exported file is checked against
 * the training engine on the validation cases (max abs difference of the probabilities < 1e-5;
 * else the stage fails), and it segments every validation and test case exactly as `predict`
 * would, writing `mask-<ID>.nii.gz` on the case's original grid with its affine.
 */
import { Effect, Schema } from "effect";
import { EvaluateConfig, ExportConfig, Hdf5Config, NormalizeConfig } from "../../schemas/config.ts";
import { type EvaluateOutput, ExportOutput, type SliceCase } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { caseArtifact } from "../../pipeline/artifact_name.ts";
import { StageFailed } from "../../pipeline/errors.ts";
import { configDigest } from "../../pipeline/manifest.ts";
import { encodeNifti } from "../../io/nifti.ts";
import type { Volume } from "../../io/volume.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { recipeOf } from "../../schemas/normalize_recipe.ts";
import { inputSize, loadCase, normalizedCases } from "../../training/cases.ts";
import { finalModels } from "../final_models.ts";
import { decodeModel, type Inference, withMirror } from "../../deploy/weights.ts";
import type { SegmentationModel } from "../../engine/models/context.ts";
import { predictorSpatial } from "../../deploy/predict_volume.ts";
import { sliceInputs } from "../../deploy/slices.ts";
import { centreWindow, cropWindow, type Dims3 } from "../../deploy/sliding_window.ts";
import { DUET_FORMAT, exportSegmentation, parseDuetModel } from "../../deploy/onnx_model.ts";
import { ParityChecker } from "./parity.ts";
import { Segmenter } from "../../deploy/segment.ts";

/** Largest |p_onnx - p_engine| the export accepts (issue 6). */
export const PARITY_TOLERANCE = 1e-5;

/** Of a, b and the fused pair, the one with the highest mean Dice on the validation split. */
export function chooseOnValidation(evaluated: EvaluateOutput): "a" | "b" | "pair" | undefined {
  const models = evaluated.splits.validation?.models;
  if (!models) return undefined;
  const meanDice = (name: string) => {
    const classes = Object.values(models[name]?.dice ?? {});
    return classes.length ? classes.reduce((s, c) => s + c.mean, 0) / classes.length : -1;
  };
  const names = ["a", "b", "pair"] as const;
  return names.reduce((best, n) => (meanDice(n) > meanDice(best) ? n : best));
}

/** Artifact name of a case's predicted mask. */
export const maskArtifact = (id: string) => caseArtifact("mask", id, ".nii.gz");

const failed = (message: string) => new StageFailed({ stage: "export", message, transient: false });

export const exportModel = defineStage({
  name: "export",
  version: 6,
  needs: ["ingest", "normalize", "train", "refine", "evaluate"],
  shardable: false,
  select: (c) => ({
    export: c.export,
    classes: c.data.classes,
    hdf5: c.data.hdf5,
    checkpoint: c.evaluate.checkpoint,
    // Test-time mirroring, as evaluate measured it, goes into the model (absent: off).
    ...(c.evaluate.mirror ? { mirror: true } : {}),
    // So is its largest-component post-processing: predict's masks are the ones evaluate scored.
    ...(c.evaluate.largestComponent ? { largestComponent: true } : {}),
    normalize: c.normalize,
  }),
  input: Schema.Struct({
    export: ExportConfig,
    classes: Schema.Array(Schema.String),
    hdf5: Hdf5Config,
    checkpoint: EvaluateConfig.fields.checkpoint,
    mirror: Schema.optionalKey(Schema.Boolean),
    largestComponent: Schema.optionalKey(Schema.Boolean),
    normalize: NormalizeConfig,
  }),
  output: ExportOutput,
  run: (
    ctx,
    { export: config, classes, hdf5, checkpoint, mirror = false, largestComponent, normalize },
  ) =>
    Effect.gen(function* () {
      const summary = ctx.input("train").summaries[0];
      const pair = finalModels(ctx, checkpoint);
      // Without a validation split there is nothing to choose on: the pair, never the test split.
      const exported = config.model === "auto"
        ? chooseOnValidation(ctx.input("evaluate").summaries[0]) ?? "pair"
        : config.model;
      const members: SegmentationModel[] = [];
      let inference: Inference = { kind: "slices" };
      for (const k of exported === "pair" ? [0, 1] : [exported === "a" ? 0 : 1]) {
        const decoded = decodeModel(yield* pair.upstream.read(pair.names[k]));
        members.push(decoded.model);
        inference = withMirror(decoded.inference, mirror);
      }
      const model = members.length > 1 ? members : members[0];
      const norm = ctx.input("normalize");
      const cases = normalizedCases(norm);
      const size = inputSize(norm);
      if (!size) return yield* failed("no normalized cases to take the input size from");
      const bytes = yield* Effect.try({
        try: () =>
          exportSegmentation(model, {
            classes,
            inputSize: size,
            inference,
            ...(largestComponent ? { postprocess: { largestComponent } } : {}),
            normalize: recipeOf(normalize),
            // Recorded, not keyed (see evaluate): the config of the run that made this model.
            configDigest: configDigest(ctx.config),
            hdf5: { axes: hdf5.axes, image: hdf5.image },
            opset: config.opset,
            extra: {
              "duet.train_method": summary.method,
              "duet.train_steps": String(summary.steps),
              "duet.exported_model": exported,
            },
          }),
        catch: (e) => failed((e as Error).message),
      });

      // Parity with the engine on the validation cases (the test cases when there are none).
      const validation = cases.filter((c) => c.role === "validation");
      const evaluated = cases.filter((c) => c.role === "validation" || c.role === "test");
      const parityCases: readonly SliceCase[] = validation.length ? validation : evaluated;
      const checker = yield* Effect.promise(() =>
        ParityChecker.create(model, bytes, predictorSpatial(inference, size[0], size[1]), {
          device: ctx.device,
        })
      );
      const bar = ctx.reporter.progress("export", parityCases.length + evaluated.length);
      for (const info of parityCases) {
        const c = yield* loadCase(norm, info);
        const inputs = parityInputs(c.image, info.slices, size, inference);
        yield* Effect.promise(() => checker.check(inputs.data, inputs.count));
        bar.tick();
      }
      yield* Effect.promise(() => checker.release());
      const parity = { cases: parityCases.length, ...checker.result };
      if (!(parity.maxAbsDiff < PARITY_TOLERANCE)) {
        return yield* failed(
          `exported model differs from the engine: max abs probability difference ${parity.maxAbsDiff} over ${parity.slices} slices (tolerance ${PARITY_TOLERANCE})`,
        );
      }
      yield* ctx.write("model.onnx", bytes);

      // Predicted masks of the validation and test cases, through the exported file.
      const originals = new Map(
        ctx.input("ingest").summaries.flatMap((s) => s.cases)
          .map((c) => [c.id, c]),
      );
      const segmenter = yield* Effect.promise(() =>
        Segmenter.create(parseDuetModel("model.onnx", bytes), { device: ctx.device })
      );
      const masks: string[] = [];
      for (const info of evaluated) {
        const record = originals.get(info.id);
        if (!record) return yield* failed(`case ${info.id} is missing from the ingest output`);
        const image: Volume = {
          data: decodeArrays(yield* ctx.input("ingest").read(record.artifact)).arrays.image
            .data as Float32Array,
          shape: record.shape,
          spacing: record.spacing,
          affine: [...record.affine],
        };
        const { label } = yield* Effect.promise(() => segmenter.segment(image, info.id));
        const name = maskArtifact(info.id);
        yield* ctx.write(name, encodeNifti(label));
        masks.push(name);
        bar.tick();
      }
      yield* Effect.promise(() => segmenter.release());
      bar.done(`parity ${parity.maxAbsDiff.toExponential(1)}`);
      return { model: "model.onnx", format: DUET_FORMAT, exported, masks, parity };
    }),
});

/** A case's parity inputs: its slices, or (3D) the window at the centre of its volume. */
function parityInputs(
  image: Float32Array,
  slices: number,
  [w, h]: readonly [number, number],
  inference: Inference,
): { data: Float32Array; count: number } {
  if (inference.kind === "slices") {
    return {
      data: sliceInputs(image, slices, w * h, 0, slices, inference.context ?? 0),
      count: slices,
    };
  }
  const dims: Dims3 = [slices, h, w];
  const patch = predictorSpatial(inference, w, h) as unknown as Dims3;
  const data = new Float32Array(patch[0] * patch[1] * patch[2]);
  cropWindow(image, dims, centreWindow(dims, patch), patch, data);
  return { data, count: 1 };
}
