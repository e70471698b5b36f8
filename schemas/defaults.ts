/**
 * Default values of every config field, and the embedded default run (synthetic phantoms, a few
 * minutes on 2 cores). Constants follow research/PAPERS.md; each is a config field to override.
 */
import type { Config } from "./config.ts";
import { defaultElasticConfig, defaultWeakConfig } from "../transforms/geometric.ts";
import { defaultStrongConfig } from "../transforms/intensity.ts";
import { defaultSynthesisConfig as synthesis } from "../transforms/synthesis.ts";

const { cutoutAspect: _, cutoutFill: __, cutmixAspect: ___, ...strongFields } = defaultStrongConfig;

export const defaults: Config = {
  name: "duet",
  seed: 1,
  data: {
    source: "phantoms",
    root: null,
    classes: ["background", "organ", "vessel"],
    hdf5: { axes: "xyz", image: "image", label: "label" },
    phantoms: { count: 16, shape: [64, 64, 16] },
    roles: {
      exemplar: { case: "phantom-000", slice: "largest" },
      labelled: 0,
      validation: ["phantom-012", "phantom-013"],
      test: ["phantom-014", "phantom-015"],
    },
  },
  normalize: {
    intensity: "zscore",
    percentiles: [0.5, 99.5],
    window: { center: 40, width: 400 },
    size: [64, 64],
    fit: "stretch",
    spacing: null,
    crop: { by: "none", margin: 10, threshold: null },
    slices: "all",
    maxStretch: 4,
  },
  // The synthesis transform's own defaults (ELSNet reconstruction); `scale` and `rotateDegrees`
  // serve both the global deformation and the pastes, whose defaults are the same.
  synthesize: {
    count: 32,
    backgroundProbability: synthesis.backgroundProbability,
    backgroundLabels: synthesis.backgroundLabels,
    pasteProbability: synthesis.pasteProbability,
    pasteGroups: synthesis.pasteGroups,
    scale: synthesis.pasteScale,
    rotateDegrees: synthesis.pasteRotationDeg,
    gain: synthesis.pasteGain,
    intensity: {
      probability: synthesis.intensityProbability,
      contrast: synthesis.contrast,
      gamma: synthesis.gamma,
      noise: synthesis.noiseStd,
      curve: synthesis.curveProbability,
      curvePoints: synthesis.curvePoints,
    },
    elastic: { alpha: defaultElasticConfig.alpha, sigma: defaultElasticConfig.sigma },
  },
  // The views' own defaults (SSL4MIS/CMEMS); aspect ratios and cutout fill are not config fields.
  augment: { weak: { ...defaultWeakConfig }, strong: strongFields, labelledIntensity: 0 },
  train: {
    method: "cmems",
    model: {
      arch: "unet2d",
      channels: [8, 16, 32, 64],
      dropout: [0.05, 0.1, 0.2, 0.3],
      up: "transpose",
      patch: null,
      overlap: 0.5,
      context: 0,
    },
    steps: 300,
    batch: { labelled: 4, unlabelled: 4 },
    optimizer: { kind: "adam", lr: 0.003, momentum: 0.9, weightDecay: 0.0001, schedule: "poly" },
    foregroundPatches: 0.33,
    checkpointEvery: 50,
    validateEvery: 50,
    preciseBn: 16,
    rampup: 200,
    rampupEpoch: 150,
    synthetic: "method",
    confidence: 0.95,
    pseudoLoss: "ce",
    consistency: 1,
    featureConsistency: 0.5,
    ema: 0.99,
    uncertaintyPasses: 4,
    sharpenTemperature: 0.1,
    contrastiveWeight: 3.5,
    prototypeContrast: { weight: 0, temperature: 0.1 },
    caml: {
      cma: false,
      occ: { weight: 0, memory: 256, enqueue: 64, filtered: 12800, temperature: 0.1 },
    },
  },
  refine: {
    enabled: false,
    confidence: 0.9,
    largestComponent: true,
    secondRoundSteps: 0,
    secondRoundLr: null,
    synthetic: false,
    onlyIfBetter: true,
    soft: false,
    softTemperature: 0.5,
  },
  evaluate: {
    largestComponent: false,
    baseline: true,
    units: "voxel",
    checkpoint: "last",
    mirror: false,
  },
  export: { opset: 17, model: "auto" },
};
