/**
 * The training pool, read from the normalize and synthesize outputs: labelled slices (exemplar,
 * labelled volumes' trainLabels, optionally synthetic samples), unlabelled slices (everything
 * else of the training roles; their labels are never loaded) and validation volumes.
 */
import { Effect } from "effect";
import type { Upstream } from "../../pipeline/stage.ts";
import type { SynthesizeOutput } from "../../schemas/outputs.ts";
import { decodeArrays } from "../codec.ts";
import { loadCase, normalizedCases } from "../slices.ts";

export interface LabelledSlice {
  readonly image: Float32Array;
  readonly label: Uint8Array;
}

export interface ValidationVolume {
  readonly id: string;
  readonly image: Float32Array;
  readonly labels: Uint8Array;
  readonly slices: number;
}

export interface Pool {
  readonly width: number;
  readonly height: number;
  readonly labelled: LabelledSlice[];
  readonly synthetic: LabelledSlice[];
  readonly unlabelled: Float32Array[];
  readonly validation: ValidationVolume[];
}

export const loadPool = (norm: Upstream, synth: Upstream) =>
  Effect.gen(function* () {
    const pool: Pool = {
      width: 0,
      height: 0,
      labelled: [],
      synthetic: [],
      unlabelled: [],
      validation: [],
    };
    let size: [number, number] = [0, 0];
    for (const info of normalizedCases(norm)) {
      if (info.role === "test") continue;
      const c = yield* loadCase(norm, info);
      size = [c.width, c.height];
      const plane = c.width * c.height;
      const slice = (z: number) => c.image.subarray(z * plane, (z + 1) * plane);
      if (info.role === "validation") {
        const labels = new Uint8Array(info.slices * plane);
        for (let z = 0; z < info.slices; z++) labels.set(c.label(z)!, z * plane);
        pool.validation.push({ id: info.id, image: c.image, labels, slices: info.slices });
        continue;
      }
      const labelled = new Set(info.trainLabels);
      for (let z = 0; z < info.slices; z++) {
        if (labelled.has(z)) pool.labelled.push({ image: slice(z), label: c.label(z)! });
        else pool.unlabelled.push(slice(z));
      }
    }
    const samples = (synth.summaries as SynthesizeOutput[]).flatMap((s) => s.artifacts).sort();
    for (const name of samples) {
      const { arrays } = decodeArrays(yield* synth.read(name));
      const [n, h, w] = arrays.image.shape;
      const images = arrays.image.data as Float32Array, labels = arrays.label.data as Uint8Array;
      for (let i = 0; i < n; i++) {
        pool.synthetic.push({
          image: images.subarray(i * w * h, (i + 1) * w * h),
          label: labels.subarray(i * w * h, (i + 1) * w * h),
        });
      }
    }
    return { ...pool, width: size[0], height: size[1] };
  });
