/**
 * A model's labels for a normalized nz x H x W volume, the way it was trained to see it: a 2D
 * model slice by slice, a 3D model through sliding windows. Validation and evaluate go through
 * here, and the exported models' segmentation (deploy/segment.ts) through the same windows.
 */
import type { Predictor } from "../engine/predict.ts";
import type { Inference } from "./weights.ts";
import { predictSlices } from "./slices.ts";
import { type Dims3, predictWindows } from "./sliding_window.ts";

/** The network's spatial input for an inference: [H, W] slices or the [D, H, W] window. */
export const predictorSpatial = (inference: Inference, width: number, height: number): number[] =>
  inference.kind === "windows"
    ? [inference.patch[2], inference.patch[1], inference.patch[0]]
    : [height, width];

/**
 * Argmax labels of the volume, nz x H x W; `probs` (optional, nz x K x H x W, the slices'
 * layout whatever the inference) receives the probabilities.
 */
export async function predictVolume(
  predictor: Predictor,
  inference: Inference,
  image: Float32Array,
  slices: number,
  width: number,
  height: number,
  probs?: Float32Array,
): Promise<Uint8Array> {
  if (inference.kind === "slices") {
    const { context, mirror } = inference;
    return predictSlices(predictor, image, slices, width, height, 8, probs, context, mirror);
  }
  const run = async (x: Float32Array, n: number) => (await predictor.run(x, n)).probs;
  const k = predictor.model.numClasses, plane = width * height, volume = slices * plane;
  const classMajor = probs ? new Float32Array(k * volume) : undefined;
  const labels = await predictWindows(
    run,
    k,
    image,
    [slices, height, width],
    predictorSpatial(inference, width, height) as unknown as Dims3,
    inference.overlap,
    { probs: classMajor, mirror: inference.mirror },
  );
  if (probs && classMajor) {
    for (let z = 0; z < slices; z++) {
      for (let c = 0; c < k; c++) {
        probs.set(
          classMajor.subarray(c * volume + z * plane, c * volume + (z + 1) * plane),
          (z * k + c) * plane,
        );
      }
    }
  }
  return labels;
}
