/** Reading the normalized slices of a case back from the normalize stage's artifacts. */
import { Effect } from "effect";
import type { Upstream } from "../pipeline/stage.ts";
import type { NormalizeOutput, SliceCase } from "../schemas/outputs.ts";
import { decodeArrays } from "./codec.ts";
import { type CaseTransform, restoreToOriginal } from "../preprocess/normalize.ts";

export interface CaseSlices {
  readonly info: SliceCase;
  readonly width: number;
  readonly height: number;
  /** nz x H x W normalized image. */
  readonly image: Float32Array;
  /** Label of slice z, where this case stores one (training reads only info.trainLabels). */
  readonly label: (z: number) => Uint8Array | undefined;
}

export const normalizedCases = (up: Upstream<NormalizeOutput>) =>
  up.summaries.flatMap((s) => s.cases).sort(byId);

/**
 * The network's input size (W, H): `normalize.size` as the normalized cases record it, the one
 * place every consumer reads it from; undefined when there is no case.
 */
export function inputSize(up: Upstream<NormalizeOutput>): readonly [number, number] | undefined {
  const cases = up.summaries.flatMap((s) => s.cases);
  const sizes = new Set(cases.map((c) => c.params.size.join("x")));
  if (sizes.size > 1) {
    throw new Error(`normalized cases of several sizes: ${[...sizes].join(", ")}`);
  }
  const [w, h] = cases[0]?.params.size ?? [];
  return w === undefined ? undefined : [w, h];
}

/** Case order independent of how the upstream stage was sharded. */
export const byId = (a: { id: string }, b: { id: string }) =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

export const loadCase = (up: Upstream, info: SliceCase) =>
  Effect.map(up.read(info.artifact), (bytes): CaseSlices => {
    const { meta, arrays } = decodeArrays(bytes);
    const [width, height] = info.params.size;
    const labelSlices = meta.labelSlices as number[];
    const labels = arrays.label?.data as Uint8Array | undefined;
    const plane = width * height;
    return {
      info,
      width,
      height,
      image: arrays.image.data as Float32Array,
      label: (z) => {
        const k = labelSlices.indexOf(z);
        return k < 0 || !labels ? undefined : labels.subarray(k * plane, (k + 1) * plane);
      },
    };
  });

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
