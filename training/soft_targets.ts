/**
 * Soft targets of a labelled batch (refine.soft): each pseudo-labelled slice's class
 * probability planes follow its weak view exactly as its label does (the same pull-back map,
 * nearest sampling), and a real labelled slice is the one-hot of its moved label.
 */
import type { PairParams } from "../transforms/views.ts";
import { RandomWeak } from "../transforms/geometric.ts";
import { warpAffine } from "../transforms/warp.ts";
import { image2d, label2d } from "../transforms/image2d.ts";
import type { LabelledSlice } from "./pool.ts";

/** Writes [n, classes, h, w] probabilities into `out` for the n slices of a labelled batch. */
export function fillSoftTargets(
  out: Float32Array,
  slices: readonly LabelledSlice[],
  params: readonly PairParams[],
  weakLabels: Uint8Array,
  classes: number,
  w: number,
  h: number,
): void {
  const plane = w * h;
  const moved = new Uint8Array(plane), scratch = new Float32Array(plane);
  out.fill(0);
  slices.forEach((slice, i) => {
    const dst = out.subarray(i * classes * plane, (i + 1) * classes * plane);
    if (!slice.probs) {
      for (let q = 0; q < plane; q++) {
        const c = weakLabels[i * plane + q];
        if (c < classes) dst[c * plane + q] = 1;
      }
      return;
    }
    const m = RandomWeak.matrix(params[i].weak, w, h);
    const image = image2d(w, h, slice.image);
    for (let k = 0; k < classes; k++) {
      const planeK = label2d(w, h, slice.probs.subarray(k * plane, (k + 1) * plane));
      warpAffine(image, planeK, m, { outImage: scratch, outLabel: moved });
      for (let q = 0; q < plane; q++) dst[k * plane + q] = moved[q] / 255;
    }
  });
}
