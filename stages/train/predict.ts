/** Slice-wise prediction of a volume and the foreground Dice used for validation curves. */
import { FEATURES, pixelFeatures, type PixelModel } from "./pixel_model.ts";

/** Argmax class per voxel of an nz x H x W normalized volume. */
export function predictVolume(
  model: PixelModel,
  image: Float32Array,
  slices: number,
  w: number,
  h: number,
): Uint8Array {
  const plane = w * h;
  const out = new Uint8Array(slices * plane);
  const features = new Float32Array(FEATURES * plane);
  const probs = new Float32Array(model.classes * plane);
  for (let z = 0; z < slices; z++) {
    pixelFeatures(image.subarray(z * plane, (z + 1) * plane), w, h, features);
    model.predict(features, plane, probs);
    for (let p = 0; p < plane; p++) {
      let best = 0;
      for (let c = 1; c < model.classes; c++) {
        if (probs[c * plane + p] > probs[best * plane + p]) best = c;
      }
      out[z * plane + p] = best;
    }
  }
  return out;
}

/** Mean over cases and foreground classes of the 3D Dice (an empty pair counts as 1). */
export function diceScores(
  cases: { labels: Uint8Array; pred: Uint8Array }[],
  classes: number,
): number {
  let total = 0, n = 0;
  for (const { labels, pred } of cases) {
    for (let c = 1; c < classes; c++) {
      let inter = 0, a = 0, b = 0;
      for (let i = 0; i < labels.length; i++) {
        const l = labels[i] === c, p = pred[i] === c;
        if (l) a++;
        if (p) b++;
        if (l && p) inter++;
      }
      total += a + b === 0 ? 1 : 2 * inter / (a + b);
      n++;
    }
  }
  return n ? total / n : 0;
}
