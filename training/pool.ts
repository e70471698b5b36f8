/**
 * The training pool, read from the normalize and synthesize outputs: labelled slices (exemplar,
 * labelled volumes' trainLabels, optionally synthetic samples) and validation volumes are held in
 * memory; unlabelled slices (everything else of the training roles; their labels are never
 * loaded) are streamed case by case from the normalize artifacts through a bounded cache.
 * With `context` (2.5D), every training image is its slice with `context` neighbours on each side
 * as channels (C = 2 * context + 1 planes), the label the centre slice's.
 */
import { Effect } from "effect";
import type { SliceCase, SynthesizeOutput } from "../schemas/outputs.ts";
import { decodeArrays } from "../io/array_container.ts";
import { sliceWithNeighbours } from "../deploy/slices.ts";
import { IntegrityError } from "../pipeline/errors.ts";
import {
  type ArtifactSource,
  inputSize,
  loadCase,
  normalizedCases,
  type NormalizedSource,
} from "./cases.ts";

export interface LabelledSlice {
  /** C x H x W: the slice, with its neighbours in 2.5D. */
  readonly image: Float32Array;
  readonly label: Uint8Array;
  /** Soft pseudo-labels: K class planes of probabilities quantised to 0..255 (refine.soft). */
  readonly probs?: Uint8Array;
}

export interface ValidationVolume {
  readonly id: string;
  readonly image: Float32Array;
  readonly labels: Uint8Array;
  readonly slices: number;
}

/** Slice z of the unlabelled case `c` (an index into the pool's case list). */
export interface SliceRef {
  readonly c: number;
  readonly z: number;
}

/** Normalized case images kept in memory while streaming unlabelled slices. */
export const CACHE_BYTES = 256 * 2 ** 20;

export interface Pool {
  readonly width: number;
  readonly height: number;
  /** Neighbouring slices on each side in every training image (0: single slices). */
  readonly context: number;
  readonly labelled: LabelledSlice[];
  readonly synthetic: LabelledSlice[];
  readonly unlabelled: SliceRef[];
  /** Case ID of each SliceRef.c. */
  readonly caseIds: string[];
  readonly validation: ValidationVolume[];
  /** The image (C x H x W) of an unlabelled slice (read through the cache). */
  readonly unlabelledSlice: (ref: SliceRef) => Effect.Effect<Float32Array, unknown>;
}

export const loadPool = (
  norm: NormalizedSource,
  synth?: ArtifactSource<SynthesizeOutput>,
  cacheBytes = CACHE_BYTES,
  context = 0,
) =>
  Effect.gen(function* () {
    const channels = 2 * context + 1;
    const labelled: LabelledSlice[] = [], synthetic: LabelledSlice[] = [];
    const unlabelled: SliceRef[] = [], validation: ValidationVolume[] = [];
    const streamed: SliceCase[] = [];
    const size: [number, number] = [...inputSize(norm) ?? [0, 0]];
    for (const info of normalizedCases(norm)) {
      if (info.role === "test") continue;
      const plane = size[0] * size[1];
      const trainLabels = new Set(info.trainLabels);
      if (info.role === "validation" || trainLabels.size) {
        const c = yield* loadCase(norm, info);
        if (info.role === "validation") {
          const labels = new Uint8Array(info.slices * plane);
          for (let z = 0; z < info.slices; z++) labels.set(c.label(z)!, z * plane);
          validation.push({ id: info.id, image: c.image, labels, slices: info.slices });
          continue;
        }
        for (const z of trainLabels) {
          const image = sliceWithNeighbours(c.image, info.slices, plane, z, context).slice();
          labelled.push({ image, label: c.label(z)! });
        }
      }
      const c = streamed.push(info) - 1;
      for (let z = 0; z < info.slices; z++) if (!trainLabels.has(z)) unlabelled.push({ c, z });
    }
    const samples = (synth?.summaries ?? []).flatMap((s) => s.artifacts);
    for (const name of samples.sort()) {
      const { arrays } = decodeArrays(yield* synth!.read(name));
      // [n, H, W] single slices, or [n, C, H, W] with neighbours (synthesize's own context).
      const shape = arrays.image.shape, n = shape[0], [h, w] = shape.slice(-2);
      const made = shape.length === 4 ? shape[1] : 1;
      if (made !== channels) {
        return yield* new IntegrityError({
          artifact: name,
          problem: `${made} channel(s) per sample, and the model takes ${channels} ` +
            "(train.model.context); run synthesize again",
        });
      }
      const images = arrays.image.data as Float32Array, labels = arrays.label.data as Uint8Array;
      const item = channels * w * h;
      for (let i = 0; i < n; i++) {
        synthetic.push({
          image: images.subarray(i * item, (i + 1) * item),
          label: labels.subarray(i * w * h, (i + 1) * w * h),
        });
      }
    }
    const images = boundedCache(
      (c) => Effect.map(loadCase(norm, streamed[c]), (x) => x.image),
      cacheBytes,
    );
    const plane = size[0] * size[1];
    const unlabelledSlice = (ref: SliceRef) =>
      Effect.map(
        images(ref.c),
        (image) => sliceWithNeighbours(image, streamed[ref.c].slices, plane, ref.z, context),
      );
    return {
      width: size[0],
      height: size[1],
      context,
      labelled,
      synthetic,
      unlabelled,
      caseIds: streamed.map((c) => c.id),
      validation,
      unlabelledSlice,
    } satisfies Pool;
  });

/** Memoises `load(i)` for the most recently used entries that fit in `bytes` (at least one). */
export function boundedCache(
  load: (i: number) => Effect.Effect<Float32Array, unknown>,
  bytes: number,
): (i: number) => Effect.Effect<Float32Array, unknown> {
  const cache = new Map<number, Float32Array>();
  let cached = 0;
  return (i) =>
    Effect.gen(function* () {
      let image = cache.get(i);
      if (image) {
        cache.delete(i); // re-insert: Map order is the recency order
      } else {
        image = yield* load(i);
        cached += image.byteLength;
        for (const [k, v] of cache) {
          if (cached <= bytes) break;
          cache.delete(k);
          cached -= v.byteLength;
        }
      }
      cache.set(i, image);
      return image;
    });
}
