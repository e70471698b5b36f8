/**
 * Reading the normalized cases back from the normalize stage's artifacts: the case list, the
 * network input size, and each case's slices. Takes the artifacts as a plain source (the
 * pipeline's committed upstream is one), so training knows nothing of stages.
 */
import { Effect } from "effect";
import type { NormalizeOutput, SliceCase } from "../schemas/outputs.ts";
import { decodeArrays } from "../io/array_container.ts";

/** A stage's committed outputs (the pipeline's upstream is one): one summary per shard, a reader. */
export interface ArtifactSource<Summary> {
  readonly summaries: ReadonlyArray<Summary>;
  readonly read: (name: string) => Effect.Effect<Uint8Array, unknown>;
}

/** The normalize stage's committed outputs. */
export type NormalizedSource = ArtifactSource<NormalizeOutput>;

export interface CaseSlices {
  readonly info: SliceCase;
  readonly width: number;
  readonly height: number;
  /** nz x H x W normalized image. */
  readonly image: Float32Array;
  /** Label of slice z, where this case stores one (training reads only info.trainLabels). */
  readonly label: (z: number) => Uint8Array | undefined;
}

export const normalizedCases = (up: NormalizedSource) =>
  up.summaries.flatMap((s) => s.cases).sort(byId);

/**
 * The network's input size (W, H): `normalize.size` as the normalized cases record it, the one
 * place every consumer reads it from; undefined when there is no case.
 */
export function inputSize(up: NormalizedSource): readonly [number, number] | undefined {
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

export const loadCase = (up: NormalizedSource, info: SliceCase) =>
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
