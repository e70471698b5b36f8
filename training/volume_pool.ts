/**
 * The 3D training pool, read from the normalize outputs: labelled volumes (image, label and
 * where their foreground is) and validation volumes are held in memory; unlabelled volumes
 * (everything else of the training roles; their labels are never loaded) are streamed through a
 * bounded cache, as the 2D pool streams slices.
 */
import { Effect } from "effect";
import type { SliceCase } from "../schemas/outputs.ts";
import { ConfigError } from "../pipeline/errors.ts";
import { inputSize, loadCase, normalizedCases, type NormalizedSource } from "./cases.ts";
import { boundedCache, CACHE_BYTES, type ValidationVolume } from "./pool.ts";

export interface LabelledVolume {
  readonly id: string;
  readonly slices: number;
  readonly image: Float32Array;
  readonly label: Uint8Array;
  /** Voxel indices of the foreground, for patches centred on it. */
  readonly foreground: Int32Array;
}

export interface VolumePool {
  readonly width: number;
  readonly height: number;
  readonly labelled: LabelledVolume[];
  /** Unlabelled volumes: IDs and slice counts; images through `unlabelledVolume`. */
  readonly unlabelled: { readonly id: string; readonly slices: number }[];
  readonly validation: ValidationVolume[];
  readonly unlabelledVolume: (i: number) => Effect.Effect<Float32Array, unknown>;
}

export const loadVolumePool = (norm: NormalizedSource, cacheBytes = CACHE_BYTES) =>
  Effect.gen(function* () {
    const [width, height] = inputSize(norm) ?? [0, 0];
    const plane = width * height;
    const labelled: LabelledVolume[] = [], validation: ValidationVolume[] = [];
    const streamed: SliceCase[] = [];
    for (const info of normalizedCases(norm)) {
      if (info.role === "test") continue;
      if (info.role !== "validation" && !info.trainLabels.length) {
        streamed.push(info);
        continue;
      }
      if (info.role !== "validation" && info.trainLabels.length !== info.slices) {
        return yield* new ConfigError({
          problems: [
            `${info.id}: ${info.trainLabels.length} of its ${info.slices} slices carry training ` +
            `labels; a 3D model needs whole labelled volumes (normalize.slices "all")`,
          ],
        });
      }
      const c = yield* loadCase(norm, info);
      const label = new Uint8Array(info.slices * plane);
      for (let z = 0; z < info.slices; z++) label.set(c.label(z)!, z * plane);
      if (info.role === "validation") {
        validation.push({ id: info.id, image: c.image, labels: label, slices: info.slices });
        continue;
      }
      labelled.push({
        id: info.id,
        slices: info.slices,
        image: c.image,
        label,
        foreground: foregroundVoxels(label),
      });
    }
    const unlabelledVolume = boundedCache(
      (i) => Effect.map(loadCase(norm, streamed[i]), (x) => x.image),
      cacheBytes,
    );
    return {
      width,
      height,
      labelled,
      unlabelled: streamed.map((c) => ({ id: c.id, slices: c.slices })),
      validation,
      unlabelledVolume,
    } satisfies VolumePool;
  });

/** Voxel indices of a label's foreground: any class but background (0) and left-out (255). */
export function foregroundVoxels(label: Uint8Array): Int32Array {
  const fg: number[] = [];
  for (let i = 0; i < label.length; i++) if (label[i] !== 0 && label[i] !== 255) fg.push(i);
  return Int32Array.from(fg);
}
