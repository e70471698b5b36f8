/**
 * The run configuration: one JSON document, decoded strictly (unknown fields are errors, every
 * problem is reported with its path). Each stage reads only its own slice, which is what its key
 * hashes. Defaults live in `schemas/defaults.ts`; a user config overrides them field by field.
 */
import { Schema } from "effect";

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0));
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));
const PositiveNumber = Schema.Number.check(Schema.isGreaterThan(0));
const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }));
const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0));
const Range = Schema.Tuple([Schema.Number, Schema.Number]);

export const Methods = [
  "supervised",
  "cps",
  "cmems",
  "ugmcl",
  "caml",
  "semicml",
  "meanteacher",
  "fixmatch",
] as const;
export type Method = typeof Methods[number];

export const ExemplarConfig = Schema.Struct({
  case: Schema.String,
  /** A z index, or "largest" (most foreground) / "central" (middle of the slices showing
   * every class: the typical slice). */
  slice: Schema.Union([NonNegativeInt, Schema.Literals(["largest", "central"])]),
});

/** How `.h5` files store their volumes: SSL4MIS LA is (X, Y, Z), ACDC-style files (Z, Y, X). */
export const Hdf5Config = Schema.Struct({
  axes: Schema.Literals(["xyz", "zyx"]),
  /** Dataset names of the image and the label map. */
  image: Schema.String.check(Schema.isMinLength(1)),
  label: Schema.String.check(Schema.isMinLength(1)),
});

export const DataConfig = Schema.Struct({
  /** "phantoms" (the embedded synthetic set) or a folder / list file, relative to `root`. */
  source: Schema.String,
  /** Folder that `source` is relative to (`--data DIR`); null: the working directory. */
  root: Schema.NullOr(Schema.String),
  /** Class names; the index is the label value, 0 is background. */
  classes: Schema.Array(Schema.String).check(Schema.isMinLength(2)),
  hdf5: Hdf5Config,
  phantoms: Schema.Struct({
    count: PositiveInt,
    shape: Schema.Tuple([PositiveInt, PositiveInt, PositiveInt]),
  }),
  roles: Schema.Struct({
    /** ONE annotated 2D slice (the exemplar setting), or null. */
    exemplar: Schema.NullOr(ExemplarConfig),
    /** K labelled volumes: the first K of the training pool, or explicit IDs. */
    labelled: Schema.Union([NonNegativeInt, Schema.Array(Schema.String)]),
    validation: Schema.Array(Schema.String),
    test: Schema.Array(Schema.String),
  }),
  /** A folder of masks `predict` wrote (`<ID>.nii.gz`), relative to `root`: the unlabelled
   * training-pool cases with one there train as labelled on it (io/roles.ts withPseudoLabels).
   * Absent: none (and the config digest of runs without it is unchanged). */
  pseudoLabels: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
});

export const NormalizeConfig = Schema.Struct({
  intensity: Schema.Literals(["zscore", "zscore-nonzero", "percentile", "ct-window", "none"]),
  percentiles: Range,
  window: Schema.Struct({ center: Schema.Number, width: Schema.Number }),
  /** 2D slice size [width, height] fed to the network. */
  size: Schema.Tuple([PositiveInt, PositiveInt]),
  /** "stretch": resize each slice to `size` (its own factor per case); "pad": centre it, pad
   * or crop to `size` at the voxel scale `spacing` gives (the same for every case). */
  fit: Schema.Literals(["stretch", "pad"]),
  /** Resample to this spacing (mm) first: [x, y] keeps z, [x, y, z] resamples z too (not with
   * an exemplar, whose slice index must stay valid); null keeps the voxel grid. */
  spacing: Schema.NullOr(
    Schema.Union([
      Schema.Tuple([PositiveNumber, PositiveNumber]),
      Schema.Tuple([PositiveNumber, PositiveNumber, PositiveNumber]),
    ]),
  ),
  /** In-plane crop to the body box (image voxels > threshold; null: != 0) plus `margin` voxels,
   * or none. From the image only, so predict repeats it on new, unlabelled images. */
  crop: Schema.Struct({
    by: Schema.Literals(["none", "body"]),
    margin: NonNegativeInt,
    threshold: Schema.NullOr(Schema.Number),
  }),
  /** Slices of labelled volumes used for training: all, or only those with foreground. */
  slices: Schema.Literals(["all", "foreground"]),
  /** Largest factor by which fitting a slice to `size` may stretch one side, or distort its
   * aspect ratio: more means slices are cut along the wrong axis (exit 64); null: no check. */
  maxStretch: Schema.NullOr(Schema.Number.check(Schema.isGreaterThanOrEqualTo(1))),
});

/** ELSNet exemplar-guided synthesis (transforms/synthesis.ts; PAPERS.md §4 reconstruction). */
export const SynthesizeConfig = Schema.Struct({
  count: NonNegativeInt,
  /** Probability that a sample's background is an unlabelled slice instead of the exemplar. */
  backgroundProbability: Probability,
  /** An unlabelled background's own pixels: labelled background, or unknown (left out of the
   * loss) beyond a 3 px ring around the pastes, so its own structures are not taught as background. */
  backgroundLabels: Schema.Literals(["background", "unknown"]),
  /** Probability that each labelled region is cut and pasted with its own transform. */
  pasteProbability: Probability,
  /** A region: touching classes together (nested anatomy keeps its relation), or each class. */
  pasteGroups: Schema.Literals(["touching", "class"]),
  scale: Range,
  rotateDegrees: NonNegative,
  /** Multiplicative intensity gain of each pasted region: the target's contrast to its
   * surroundings varies between scans more than a global change can mimic. */
  gain: Range,
  /** Global intensity change of a sample: probability, contrast, gamma (log-uniform) and
   * Gaussian noise std as a fraction of the intensity range; labels untouched. */
  intensity: Schema.Struct({
    probability: Probability,
    contrast: Range,
    gamma: Range,
    noise: Range,
    /** Probability of a random intensity curve (tissue intensities reordered), its points. */
    curve: Probability,
    curvePoints: Schema.Int.check(Schema.isGreaterThanOrEqualTo(2)),
  }),
  /** Elastic deformation: offset std and control-point spacing, fractions of the image size. */
  elastic: Schema.Struct({ alpha: Range, sigma: Range }),
});

/** Weak and strong views, drawn on the fly from seeds inside training (transforms/views.ts). */
export const AugmentConfig = Schema.Struct({
  weak: Schema.Struct({
    rot90Probability: Probability,
    flipXProbability: Probability,
    flipYProbability: Probability,
    zoomProbability: Probability,
    zoom: Range,
  }),
  strong: Schema.Struct({
    jitterProbability: Probability,
    brightness: NonNegative,
    contrast: NonNegative,
    gamma: NonNegative,
    blurProbability: Probability,
    blurSigma: Range,
    noiseProbability: Probability,
    noiseStd: Range,
    cutoutProbability: Probability,
    cutoutArea: Range,
    /** Random intensity curve of the strong view: probability and control points. */
    curveProbability: Probability,
    curvePoints: Schema.Int.check(Schema.isGreaterThanOrEqualTo(2)),
    cutmixProbability: Probability,
    cutmixArea: Range,
  }),
  /** 3D models: probability that a labelled patch also gets the strong view's intensity changes
   * (curve, jitter, blur, noise; its label untouched), for scans whose target is darker or
   * brighter than the training volumes'; 2D labelled slices get theirs from synthesis. */
  labelledIntensity: Probability,
});

export const ModelConfig = Schema.Struct({
  /** A 2D U-Net on slices (SSL4MIS), or on patches of the volume the 3D V-Net of UA-MT/CAML or
   * the same U-Net with 3D convolutions. */
  arch: Schema.Literals(["unet2d", "vnet3d", "unet3d"]),
  /** U-Nets: channels per level. vnet3d: its five stages' filters, each twice the last. */
  channels: Schema.Array(PositiveInt).check(Schema.isMinLength(2)),
  /** U-Nets: dropout per level. vnet3d: its Dropout3d(0.5) after blocks five and nine is on
   * when any entry is above 0. */
  dropout: Schema.Array(Probability),
  /** Up-sampling: transposed convolution, or (bi/tri)linear interpolation and a convolution. */
  up: Schema.Literals(["transpose", "bilinear"]),
  /** 3D models: the patch [x, y, z] in voxels they train on and slide over a volume at
   * inference; null for unet2d. */
  patch: Schema.NullOr(Schema.Tuple([PositiveInt, PositiveInt, PositiveInt])),
  /** 3D models: overlap of neighbouring windows at inference, a fraction of the patch. */
  overlap: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)),
  /** unet2d: neighbouring slices on each side given as extra input channels (2.5D); 0: one
   * slice. The slice's label is the centre channel's; the ends of a volume repeat its edge slice. */
  context: NonNegativeInt,
});

export const TrainConfig = Schema.Struct({
  method: Schema.Literals(Methods),
  model: ModelConfig,
  steps: PositiveInt,
  batch: Schema.Struct({ labelled: PositiveInt, unlabelled: NonNegativeInt }),
  optimizer: Schema.Struct({
    kind: Schema.Literals(["sgd", "adam", "adamw"]),
    lr: Schema.Number.check(Schema.isGreaterThan(0)),
    momentum: Probability,
    weightDecay: NonNegative,
    schedule: Schema.Literals(["constant", "poly"]),
  }),
  /** 3D models: share of labelled patches centred on a foreground voxel (nnU-Net: 0.33); the
   * others are placed uniformly. */
  foregroundPatches: Probability,
  checkpointEvery: PositiveInt,
  validateEvery: PositiveInt,
  /**
   * Batches (of the training composition, unaugmented) over which BatchNorm statistics are
   * recomputed with frozen weights before each validation and for the saved models; 0 keeps
   * training's running averages (engine/precise_bn.ts).
   */
  preciseBn: NonNegativeInt,
  /** Ramp-up length in "epochs" of `rampupEpoch` iterations (SSL4MIS: iter // 150). */
  rampup: NonNegative,
  rampupEpoch: PositiveInt,
  /** Whether labelled batches mix in the synthetic samples: as the method does (`cmems` does,
   * the others do not), or for any method. */
  synthetic: Schema.Literals(["method", "always", "never"]),
  /** Confidence threshold for cross-model pseudo-labels (cmems, cps masks). */
  confidence: Probability,
  /** cmems: the students' loss on the confident pseudo-labels: "ce", "dice" (class-balanced:
   * small structures weigh as much as the background) or "ce+dice" (their mean). */
  pseudoLoss: Schema.Literals(["ce", "dice", "ce+dice"]),
  consistency: NonNegative,
  featureConsistency: NonNegative,
  ema: Probability,
  /** ugmcl: noisy teacher passes for the uncertainty estimate (UA-MT: 8). */
  uncertaintyPasses: PositiveInt,
  /** caml: sharpening temperature T of the mutual-consistency targets (0.1). */
  sharpenTemperature: Schema.Number.check(Schema.isGreaterThan(0)),
  /** semicml: weight of the area-similarity contrastive loss (3.5). */
  contrastiveWeight: NonNegative,
  /** ELSNet's pixel-prototype contrast on the labelled (exemplar + synthetic) pixels of every
   * trained model, added to any method: weight (0: off) and temperature τ. */
  prototypeContrast: Schema.Struct({ weight: NonNegative, temperature: PositiveNumber }),
  /** caml's two modules (PAPERS.md §2), both off by default: cross-sample mutual attention in
   * model b after its 4th encoder block (training only), and omni-correlation consistency. */
  caml: Schema.Struct({
    cma: Schema.Boolean,
    occ: Schema.Struct({
      /** λ_o, ramped like `consistency` (CAML: 0.05); 0: off. */
      weight: NonNegative,
      /** Labelled features per class in the memory bank (CAML memory_num 256). */
      memory: PositiveInt,
      /** Entries per class the bank takes each step (at most `memory`). */
      enqueue: PositiveInt,
      /** Most confident agreeing unlabelled pixels per class (CAML num_filtered 12800). */
      filtered: PositiveInt,
      /** Temperature of the correlation softmax (0.1). */
      temperature: PositiveNumber,
    }),
  }),
});

export const RefineConfig = Schema.Struct({
  enabled: Schema.Boolean,
  confidence: Probability,
  largestComponent: Schema.Boolean,
  secondRoundSteps: NonNegativeInt,
  /** The second round's learning rate; null: `train.optimizer.lr`. The round continues from the
   * trained weights, so a smaller rate fine-tunes them instead of restarting the schedule. */
  secondRoundLr: Schema.NullOr(PositiveNumber),
  /** 2D: the second round's batches also hold the synthetic samples (every other position after
   * the first), as the first round's did; false: the exemplar or labelled slices and
   * pseudo-labels only. */
  synthetic: Schema.Boolean,
  /** Train a second round only when the pseudo-labels beat both models on the validation split
   * (their Dice over the pixels they keep against each model's over every pixel; on the kept
   * pixels both models agree with them, so this measures what leaving out the unsure pixels and
   * stray components removes), and use its models only when they beat the first round's on
   * validation as evaluate scores them; else evaluate and export keep the first round. */
  onlyIfBetter: Schema.Boolean,
  /** Second round on the pair's fused soft probabilities (Semi-CML's PReL) instead of the hard
   * labels: sharpened with temperature `softTemperature`, each pixel weighted by its confidence. */
  soft: Schema.Boolean,
  softTemperature: PositiveNumber,
});

export const EvaluateConfig = Schema.Struct({
  largestComponent: Schema.Boolean,
  /** Also train and report the `supervised` pair (stages/baseline) beside the method. */
  baseline: Schema.Boolean,
  /** Distances in voxels (the papers' convention) or in mm from the image spacing. */
  units: Schema.Literals(["voxel", "mm"]),
  /** Which trained models evaluate and export use: after the last step, or at their best
   * validation Dice during training (chosen on the validation split only). */
  checkpoint: Schema.Literals(["last", "best"]),
  /** Test-time mirroring (nnU-Net's): each slice's or 3D window's probabilities averaged with
   * those of its mirror images in x, y and both (four times the inference). */
  mirror: Schema.Boolean,
});

export const ExportConfig = Schema.Struct({
  opset: Schema.Int.check(Schema.isGreaterThanOrEqualTo(17)),
  /** Which of the two trained models to export, or "pair": both, their probabilities averaged
   * in one graph; "auto": whichever of a, b and pair has the highest mean Dice on the validation
   * split (never the test split), the pair when there is no validation split. */
  model: Schema.Literals(["a", "b", "pair", "auto"]),
});

export const Config = Schema.Struct({
  name: Schema.String,
  seed: Schema.Int,
  data: DataConfig,
  normalize: NormalizeConfig,
  synthesize: SynthesizeConfig,
  augment: AugmentConfig,
  train: TrainConfig,
  refine: RefineConfig,
  evaluate: EvaluateConfig,
  export: ExportConfig,
});
export type Config = typeof Config.Type;
