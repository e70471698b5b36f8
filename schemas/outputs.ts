/** The output summaries of each stage: what the runner validates before commit and decodes on read. */
import { Schema } from "effect";

export const Roles = ["exemplar", "labelled", "unlabelled", "validation", "test"] as const;
export type Role = typeof Roles[number];

const Vec3 = Schema.Tuple([Schema.Number, Schema.Number, Schema.Number]);

export const CaseRecord = Schema.Struct({
  id: Schema.String,
  role: Schema.Literals(Roles),
  source: Schema.String,
  shape: Vec3,
  spacing: Vec3,
  affine: Schema.Array(Schema.Number),
  /** Artifact holding the image and, for roles whose label may be read, the label. */
  artifact: Schema.String,
  hasLabel: Schema.Boolean,
  /** The annotated slice of the exemplar case (z index), else null. */
  exemplarSlice: Schema.NullOr(Schema.Int),
});
export type CaseRecord = typeof CaseRecord.Type;

export const IngestOutput = Schema.Struct({ cases: Schema.Array(CaseRecord) });
export type IngestOutput = typeof IngestOutput.Type;

const Vec2 = Schema.Tuple([Schema.Number, Schema.Number]);
const optional = Schema.optionalKey;

/** preprocess/normalize.ts NormalizeRecipe (schemas/normalize_recipe.ts builds it from config). */
export const NormalizeRecipeSchema = Schema.Struct({
  intensity: Schema.Union([
    Schema.Struct({ kind: Schema.Literal("zscore"), nonzero: optional(Schema.Boolean) }),
    Schema.Struct({
      kind: Schema.Literal("percentile"),
      lower: Schema.Number,
      upper: Schema.Number,
      nonzero: optional(Schema.Boolean),
    }),
    Schema.Struct({ kind: Schema.Literal("window"), center: Schema.Number, width: Schema.Number }),
    Schema.Struct({ kind: Schema.Literal("none") }),
  ]),
  crop: optional(Schema.Struct({
    by: Schema.Literals(["foreground", "body"]),
    margin: Schema.Union([Schema.Number, Vec3]),
    threshold: optional(Schema.Number),
    axes: optional(Schema.Literals(["xy", "xyz"])),
    atPredict: optional(Schema.Literals(["body", "none"])),
  })),
  spacing: optional(Schema.Union([Vec2, Vec3])),
  size: optional(Vec2),
  fit: optional(Schema.Literals(["stretch", "pad"])),
  slices: optional(Schema.Literals(["all", "foreground"])),
});

const Grid = { shape: Vec3, spacing: Vec3 };

/** preprocess/normalize.ts CaseTransform: everything done to one case, to repeat it on a new
 * image (applyRecorded) and to map predictions back (restoreToOriginal, deploy/restore.ts). */
export const CaseTransformSchema = Schema.Struct({
  version: Schema.Literal(1),
  recipe: NormalizeRecipeSchema,
  original: Schema.Struct({ ...Grid, affine: Schema.Array(Schema.Number) }),
  crop: Schema.Struct({ start: Vec3, size: Vec3 }),
  intensity: Schema.Struct({
    kind: Schema.Literals(["zscore", "percentile", "window", "none"]),
    clip: Schema.NullOr(Vec2),
    offset: Schema.Number,
    scale: Schema.Number,
    keepZeros: Schema.Boolean,
  }),
  resampled: Schema.Struct(Grid),
  output: Schema.Struct({ ...Grid, affine: Schema.Array(Schema.Number) }),
  pad: optional(Schema.Struct({ offset: Vec2, fill: Schema.Number })),
  slices: Schema.Array(Schema.Int),
});

/** How a case was normalized: enough to apply the same to a new image and to map back. */
export const NormalizeParams = Schema.Struct({
  /** 2D slice size [W, H] (= transform.output.shape[0..1]). */
  size: Vec2,
  /** The full recorded transform of this case. */
  transform: CaseTransformSchema,
});
export type NormalizeParams = typeof NormalizeParams.Type;

export const SliceCase = Schema.Struct({
  id: Schema.String,
  role: Schema.Literals(Roles),
  artifact: Schema.String,
  slices: Schema.Int,
  /** Slices whose labels training may read (exemplar: one; labelled: all or foreground ones).
   * Validation and test cases store every slice's label for evaluation, but none here. */
  trainLabels: Schema.Array(Schema.Int),
  params: NormalizeParams,
});
export type SliceCase = typeof SliceCase.Type;

export const NormalizeOutput = Schema.Struct({ cases: Schema.Array(SliceCase) });
export type NormalizeOutput = typeof NormalizeOutput.Type;

export const SynthesizeOutput = Schema.Struct({
  samples: Schema.Int,
  artifacts: Schema.Array(Schema.String),
});
export type SynthesizeOutput = typeof SynthesizeOutput.Type;

export const AugmentOutput = Schema.Struct({
  /** PNG of training slices as they are, their weak and their strong view; null without any. */
  preview: Schema.NullOr(Schema.String),
});
export type AugmentOutput = typeof AugmentOutput.Type;

export const TrainOutput = Schema.Struct({
  method: Schema.String,
  steps: Schema.Int,
  /** Model artifacts (deploy/weights.ts) after the last step: a, then b. */
  models: Schema.Array(Schema.String),
  /** The same models at their best validation Dice (the last ones when nothing was validated). */
  best: Schema.Array(Schema.String),
  curves: Schema.String,
  /** Mean foreground 3D Dice of each model on the validation volumes at the last validation. */
  validationDice: Schema.Array(Schema.Number),
  seconds: Schema.Number,
});
export type TrainOutput = typeof TrainOutput.Type;

/** The supervised pair trained beside the method (absent when skipped). */
export const BaselineOutput = Schema.Struct({
  enabled: Schema.Boolean,
  train: Schema.optional(TrainOutput),
});
export type BaselineOutput = typeof BaselineOutput.Type;

export const RefineOutput = Schema.Struct({
  enabled: Schema.Boolean,
  pseudoLabelledSlices: Schema.Int,
  /**
   * The pseudo-labels against the models that made them, on the validation split: Dice of the
   * pseudo-labels over the pixels they keep, the share of pixels kept, each model's Dice over
   * every pixel (raw argmax); null without validation cases.
   */
  quality: Schema.NullOr(Schema.Struct({
    pseudo: Schema.Number,
    kept: Schema.Number,
    models: Schema.Array(Schema.Number),
  })),
  /** Each round's validation Dice per model, scored as evaluate scores (largest component per
   * class when evaluate keeps it), and whether the second round's models are used (with
   * `onlyIfBetter`, only when their mean beats the first round's); null without a second round. */
  secondRound: Schema.NullOr(Schema.Struct({
    validationDice: Schema.Array(Schema.Number),
    firstRoundDice: Schema.Array(Schema.Number),
    kept: Schema.Boolean,
  })),
  models: Schema.Array(Schema.String),
});
export type RefineOutput = typeof RefineOutput.Type;

const ClassStats = Schema.Record(
  Schema.String,
  Schema.Struct({ mean: Schema.Number, std: Schema.Number }),
);

const ModelStats = Schema.Record(Schema.String, Schema.Record(Schema.String, ClassStats));

export const EvaluateOutput = Schema.Struct({
  cases: Schema.Int,
  /** model name → metric name → class → mean and std over cases (validation and test). */
  models: ModelStats,
  /** The same per split ("validation", "test"; a split without cases is absent). */
  splits: Schema.Record(Schema.String, Schema.Struct({ cases: Schema.Int, models: ModelStats })),
  report: Schema.String,
  csv: Schema.String,
  json: Schema.String,
});
export type EvaluateOutput = typeof EvaluateOutput.Type;

export const ExportOutput = Schema.Struct({
  /** model.onnx (deploy/onnx_model.ts). */
  model: Schema.String,
  /** "duet-segmentation-1" */
  format: Schema.String,
  /** The model in model.onnx: "a", "b" or "pair" (export.model, or what "auto" chose). */
  exported: Schema.String,
  /** Predicted masks of the validation and test cases: mask-<ID>.nii.gz, original grid. */
  masks: Schema.Array(Schema.String),
  /** The exported model against the training engine on the validation cases. */
  parity: Schema.Struct({ cases: Schema.Int, slices: Schema.Int, maxAbsDiff: Schema.Number }),
});
export type ExportOutput = typeof ExportOutput.Type;

/** Each stage's output summary by stage name: what a stage reads back from the ones it needs. */
export interface StageOutputs {
  readonly ingest: IngestOutput;
  readonly normalize: NormalizeOutput;
  readonly synthesize: SynthesizeOutput;
  readonly augment: AugmentOutput;
  readonly train: TrainOutput;
  readonly baseline: BaselineOutput;
  readonly refine: RefineOutput;
  readonly evaluate: EvaluateOutput;
  readonly export: ExportOutput;
}
