/**
 * The deployable Duet segmentation model: the engine's eval-mode forward graph (BatchNorm folded,
 * no dropout, weights baked in, dynamic batch axis, opset 17) plus what a user of the file needs
 * to run it without Duet's config, as ONNX metadata properties:
 *
 *   duet.format         "duet-segmentation-1"
 *   duet.version        Duet version that wrote it
 *   duet.classes        JSON array of class names; index = label value (0 = background)
 *   duet.input_size     JSON [W, H]: slice width and height; the input tensor `image` is
 *                       [batch, 1, H, W] (rows = y, columns = x of a volume's z-slice)
 *   duet.normalize      JSON NormalizeRecipe (preprocess/normalize.ts) to apply to a new image
 *   duet.config_digest  digest of the training config
 *   duet.outputs        JSON list of outputs: "probs" = softmax [batch, K, H, W]
 *   duet.hdf5           JSON {axes, image}: how the training data's .h5 files store the image
 *                       (axis order "xyz" or "zyx", dataset name); predict reads .h5 inputs
 *                       the same way unless its flags say otherwise
 *   duet.inference      JSON {kind: "slices"} (with context: k, each slice goes in with k
 *                       neighbours on each side as channels), or {kind: "windows", patch:
 *                       [x, y, z], overlap}: a 3D model whose input is [batch, 1, z, y, x]
 *                       windows slid over the normalized volume of input_size slices,
 *                       Gaussian-weighted (deploy/sliding_window.ts); absent means slices.
 *                       With mirror: true, each slice's or window's probabilities are averaged
 *                       over its mirror images in x, y and both
 *   duet.postprocess    JSON {largestComponent: true}: each class reduced to its largest 3D
 *                       connected component on the image's grid, as evaluate scored the model;
 *                       absent means the argmax as it comes
 *   duet.model          network config (written by engine exportOnnx)
 *   duet.graph_sha256   sha256 of the graph (deploy/integrity.ts), checked on reading
 *
 * `readDuetModel` reads these back and rejects any other ONNX file with one clear line.
 */
import type { SegmentationModel } from "../engine/models/context.ts";
import { type Inference, inputChannels } from "./weights.ts";
import { predictorSpatial } from "./predict_volume.ts";
import { exportOnnx, type PredictOutput } from "../engine/predict.ts";
import { DataError, readFileBytes } from "../io/errors.ts";
import type { NormalizeRecipe } from "../preprocess/normalize.ts";
import { duetVersion } from "../pipeline/version.ts";
import { graphDigestProblem, withGraphDigest } from "./integrity.ts";
import { type OnnxHeader, readOnnxHeader } from "../engine/onnx/proto_reader.ts";

export const DUET_FORMAT = "duet-segmentation-1";

/** Axis order and image dataset name of .h5 inputs. */
export interface Hdf5Layout {
  readonly axes: "xyz" | "zyx";
  readonly image: string;
}
/** Post-processing of a predicted mask, as evaluate applied it when it scored the model. */
export interface Postprocess {
  readonly largestComponent: boolean;
}
/** The opset the engine's ONNX writer emits. */
export const EXPORT_OPSET = 17;

export interface SegmentationInfo {
  /** Class names, index = label value (0 = background). */
  readonly classes: readonly string[];
  /** Slice size [W, H] the network takes. */
  readonly inputSize: readonly [number, number];
  /** Preprocessing recipe to apply to new images. */
  readonly normalize: NormalizeRecipe;
  /** Digest of the training config. */
  readonly configDigest: string;
  /** Outputs of the graph (default ["probs"]). */
  readonly outputs?: readonly PredictOutput[];
  /** Requested opset (config.export.opset); only 17 can be written. */
  readonly opset?: number;
  /** How the training data's .h5 files store the image (predict reads .h5 inputs alike). */
  readonly hdf5?: Hdf5Layout;
  /** How the network covers a volume (default: slice by slice). */
  readonly inference?: Inference;
  /** What is done to the argmax labels on the image's grid (default: nothing). */
  readonly postprocess?: Postprocess;
  /** More metadata properties (keys should start with "duet."). */
  readonly extra?: Readonly<Record<string, string>>;
}

/**
 * ONNX bytes of a trained network, or of a pair whose probabilities are averaged in the graph,
 * with Duet's metadata (see the module comment).
 */
export function exportSegmentation(
  models: SegmentationModel | readonly SegmentationModel[],
  info: SegmentationInfo,
): Uint8Array {
  const model = "store" in models
    ? models as SegmentationModel
    : (models as readonly SegmentationModel[])[0];
  if (info.opset !== undefined && info.opset !== EXPORT_OPSET) {
    throw new RangeError(
      `export.opset ${info.opset}: the ONNX writer emits opset ${EXPORT_OPSET} (set export.opset to 17)`,
    );
  }
  if (info.classes.length !== model.numClasses) {
    throw new RangeError(
      `${info.classes.length} class names for a model with ${model.numClasses} outputs`,
    );
  }
  const [w, h] = info.inputSize;
  const outputs = [...(info.outputs ?? ["probs"])];
  const inference = info.inference ?? { kind: "slices" };
  return withGraphDigest(exportOnnx(models, {
    spatial: predictorSpatial(inference, w, h),
    outputs,
    metadata: {
      ...info.extra,
      "duet.format": DUET_FORMAT,
      "duet.version": duetVersion,
      "duet.classes": JSON.stringify(info.classes),
      "duet.input_size": JSON.stringify([w, h]),
      "duet.normalize": JSON.stringify(info.normalize),
      "duet.config_digest": info.configDigest,
      "duet.outputs": JSON.stringify(outputs),
      "duet.inference": JSON.stringify(inference),
      ...(info.hdf5 ? { "duet.hdf5": JSON.stringify(info.hdf5) } : {}),
      ...(info.postprocess ? { "duet.postprocess": JSON.stringify(info.postprocess) } : {}),
    },
  }));
}

/** A Duet model file, validated. */
export interface DuetModel {
  readonly path: string;
  readonly bytes: Uint8Array;
  readonly version: string;
  readonly classes: string[];
  readonly inputSize: [number, number];
  readonly normalize: NormalizeRecipe;
  readonly configDigest: string;
  readonly outputs: PredictOutput[];
  /** .h5 layout of the training data (duet.hdf5); absent in models exported before it. */
  readonly hdf5?: Hdf5Layout;
  /** Slice by slice, or 3D windows (duet.inference). */
  readonly inference: Inference;
  /** duet.postprocess; models exported before it have none. */
  readonly postprocess: Postprocess;
  /** Network config (duet.model), e.g. {kind: "unet2d", numClasses, ...}. */
  readonly network: Record<string, unknown>;
  readonly opset: number;
  readonly header: OnnxHeader;
}

const INTENSITY_KINDS = ["zscore", "percentile", "window", "none"];

function parseJson(path: string, key: string, text: string | undefined): unknown {
  if (text === undefined) {
    throw new DataError(path, `Duet model without the ${key} metadata property`, REEXPORT);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new DataError(path, `Duet model metadata ${key} is not valid JSON`, REEXPORT);
  }
}

const REEXPORT = "re-export the model with `deno task pipeline run` (export stage)";

/** Validates the bytes of a Duet model file; `path` is for messages. */
export function parseDuetModel(path: string, bytes: Uint8Array): DuetModel {
  let header: OnnxHeader;
  try {
    header = readOnnxHeader(bytes);
  } catch (e) {
    throw new DataError(
      path,
      `not an ONNX model (${(e as Error).message})`,
      "give the model.onnx written by Duet's export stage",
    );
  }
  const damaged = graphDigestProblem(header);
  if (damaged) {
    throw new DataError(path, damaged, "re-export the model or restore the file from a copy");
  }
  const m = header.metadata;
  const format = m["duet.format"];
  if (format === undefined) {
    const by = header.producer ? ` (producer "${header.producer}")` : "";
    throw new DataError(
      path,
      `an ONNX model${by} but not a Duet segmentation export: no duet.format metadata`,
      "give the model.onnx written by Duet's export stage",
    );
  }
  if (format !== DUET_FORMAT) {
    throw new DataError(
      path,
      `Duet model format "${format}" is not supported (this Duet ${duetVersion} reads "${DUET_FORMAT}")`,
      REEXPORT,
    );
  }
  const classes = parseJson(path, "duet.classes", m["duet.classes"]);
  if (
    !Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === "string")
  ) {
    throw new DataError(path, "duet.classes must be a JSON list of at least 2 names", REEXPORT);
  }
  const size = parseJson(path, "duet.input_size", m["duet.input_size"]);
  if (
    !Array.isArray(size) || size.length !== 2 ||
    !size.every((v) => Number.isInteger(v) && v > 0)
  ) {
    throw new DataError(path, "duet.input_size must be a JSON [width, height]", REEXPORT);
  }
  const normalize = parseJson(path, "duet.normalize", m["duet.normalize"]) as NormalizeRecipe;
  if (
    typeof normalize !== "object" || normalize === null ||
    !INTENSITY_KINDS.includes(normalize.intensity?.kind)
  ) {
    throw new DataError(path, "duet.normalize is not a normalisation recipe", REEXPORT);
  }
  const network = parseJson(path, "duet.model", m["duet.model"]) as Record<string, unknown>;
  const outputs = (m["duet.outputs"] ? parseJson(path, "duet.outputs", m["duet.outputs"]) : [
    "probs",
  ]) as PredictOutput[];
  const hdf5 = m["duet.hdf5"] === undefined
    ? undefined
    : parseJson(path, "duet.hdf5", m["duet.hdf5"]) as Hdf5Layout;
  if (
    hdf5 && (!["xyz", "zyx"].includes(hdf5.axes) || typeof hdf5.image !== "string")
  ) {
    throw new DataError(path, 'duet.hdf5 must be {"axes": "xyz"|"zyx", "image": NAME}', REEXPORT);
  }
  const inference =
    (m["duet.inference"] === undefined
      ? { kind: "slices" }
      : parseJson(path, "duet.inference", m["duet.inference"])) as Inference;
  const context = inference.kind === "slices" ? inference.context ?? 0 : 0;
  if (
    typeof (inference.mirror ?? false) !== "boolean" ||
    !(inference.kind === "slices" && Number.isInteger(context) && context >= 0) &&
      !(inference.kind === "windows" && Array.isArray(inference.patch) &&
        inference.patch.length === 3 && typeof inference.overlap === "number")
  ) {
    throw new DataError(path, "duet.inference is not slices or windows", REEXPORT);
  }
  const postprocess =
    (m["duet.postprocess"] === undefined
      ? { largestComponent: false }
      : parseJson(path, "duet.postprocess", m["duet.postprocess"])) as Postprocess;
  if (typeof postprocess?.largestComponent !== "boolean") {
    throw new DataError(
      path,
      'duet.postprocess must be {"largestComponent": true|false}',
      REEXPORT,
    );
  }
  const image = header.inputs.find((i) => i.name === "image");
  const [w, h] = size as number[];
  const spatial = predictorSpatial(inference, w, h);
  if (
    !image || image.shape.length !== 2 + spatial.length ||
    image.shape[1] !== inputChannels(inference) ||
    spatial.some((n, i) => image.shape[2 + i] !== n) ||
    !header.outputs.some((o) => o.name === "probs")
  ) {
    throw new DataError(
      path,
      `Duet model graph does not match its metadata (input ${
        image ? `[${image.shape.join(", ")}]` : "missing"
      }, expected [batch, ${inputChannels(inference)}, ${spatial.join(", ")}] and a probs output)`,
      REEXPORT,
    );
  }
  return {
    path,
    bytes,
    version: m["duet.version"] ?? "unknown",
    classes: classes as string[],
    inputSize: [w, h],
    normalize,
    configDigest: m["duet.config_digest"] ?? "",
    outputs,
    ...(hdf5 ? { hdf5 } : {}),
    inference,
    postprocess,
    network,
    opset: header.opsets[""] ?? 0,
    header,
  };
}

/** Reads and validates a Duet model file (DataError, one line, for anything else). */
export function readDuetModel(path: string): DuetModel {
  return parseDuetModel(path, readFileBytes(path));
}
