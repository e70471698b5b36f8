/** Predictions on normalized slices mapped back to a case's original voxel grid. */
import type { SliceCase } from "../schemas/outputs.ts";
import { type CaseTransform, restoreToOriginal } from "../preprocess/normalize.ts";

/**
 * A case's predicted label slices (slices x H x W, in the emitted order of its image) mapped back
 * to the ORIGINAL grid through the recorded transform (preprocess restoreToOriginal: un-resize
 * and un-resample by nearest neighbour, un-crop with background). Result: the original shape,
 * x fastest (nx * ny * nz).
 */
export function restoreLabels(info: SliceCase, pred: Uint8Array): Uint8Array {
  // The schema's decoded type has readonly tuples where CaseTransform has mutable ones.
  const t = info.params.transform as unknown as CaseTransform;
  const plane = t.output.shape[0] * t.output.shape[1];
  if (pred.length !== t.slices.length * plane) {
    throw new Error(
      `restoreLabels(${info.id}): ${pred.length} values, expected ${t.slices.length} slices of ${plane}`,
    );
  }
  const byZ = new Map(t.slices.map((z, k) => [z, pred.subarray(k * plane, (k + 1) * plane)]));
  return restoreToOriginal(t, byZ).data;
}
