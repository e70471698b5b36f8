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

/** How a case was normalized: enough to apply the same to a new image and to map back. */
export const NormalizeParams = Schema.Struct({
  mean: Schema.Number,
  std: Schema.Number,
  originalShape: Vec3,
  size: Schema.Tuple([Schema.Number, Schema.Number]),
});
export type NormalizeParams = typeof NormalizeParams.Type;

export const SliceCase = Schema.Struct({
  id: Schema.String,
  role: Schema.Literals(Roles),
  artifact: Schema.String,
  slices: Schema.Int,
  /** Slices whose labels training may read (exemplar: one; labelled: all or foreground ones). */
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
  mode: Schema.Literal("on-the-fly"),
  recipe: Schema.String,
});
export type AugmentOutput = typeof AugmentOutput.Type;

export const TrainOutput = Schema.Struct({
  method: Schema.String,
  steps: Schema.Int,
  models: Schema.Array(Schema.String),
  curves: Schema.String,
  /** Mean foreground validation Dice (2D, per slice batch) of each model at the last validation. */
  validationDice: Schema.Array(Schema.Number),
  seconds: Schema.Number,
});
export type TrainOutput = typeof TrainOutput.Type;

export const RefineOutput = Schema.Struct({
  enabled: Schema.Boolean,
  pseudoLabelledSlices: Schema.Int,
  models: Schema.Array(Schema.String),
});
export type RefineOutput = typeof RefineOutput.Type;

const ClassStats = Schema.Record(
  Schema.String,
  Schema.Struct({ mean: Schema.Number, std: Schema.Number }),
);

export const EvaluateOutput = Schema.Struct({
  cases: Schema.Int,
  /** model name → metric name → class → mean and std over cases. */
  models: Schema.Record(Schema.String, Schema.Record(Schema.String, ClassStats)),
  report: Schema.String,
  csv: Schema.String,
  json: Schema.String,
});
export type EvaluateOutput = typeof EvaluateOutput.Type;

export const ExportOutput = Schema.Struct({ model: Schema.String, format: Schema.String });
export type ExportOutput = typeof ExportOutput.Type;
