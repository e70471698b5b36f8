/**
 * Batch assembly for 3D models: random patches of the labelled volumes (a configured share
 * centred on a foreground voxel, as nnU-Net oversamples it, the rest placed uniformly) and of the
 * unlabelled volumes, their weak/strong views (transforms/views3d.ts) and CutMix partners, all
 * drawn from the loop's Rng in a fixed order so a resumed run draws what an uninterrupted one
 * would. Volumes smaller than the patch along an axis are zero-padded, as at inference.
 */
import { Effect } from "effect";
import type { Rng } from "../random/rng.ts";
import type { AugmentConfig } from "../schemas/config.ts";
import type { Inference } from "../deploy/weights.ts";
import { centreWindow, cropWindow, type Dims3, windowAround } from "../deploy/sliding_window.ts";
import {
  applyStrong3,
  applyWeak3,
  fillBox3,
  sampleStrong3,
  sampleWeak3,
} from "../transforms/views3d.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { BatchFeeds, BatchSource, TrainingData } from "./data.ts";
import { spaced } from "./data.ts";
import type { VolumePool } from "./volume_pool.ts";

type Augment = typeof AugmentConfig.Type;

/** An unlabelled volume of the pool (`index` into `pool.unlabelled`) with refine's labels. */
export interface PseudoLabelledVolume {
  readonly index: number;
  /** nz x H x W; 255 where the label is left out. */
  readonly label: Uint8Array;
  readonly foreground: Int32Array;
}

/**
 * The pool as training data for windows of `inference.patch`; with `pseudo` (refine's second
 * round), every batch position after the first draws a pseudo-labelled volume instead.
 */
export function patchData(
  pool: VolumePool,
  inference: Extract<Inference, { kind: "windows" }>,
  foregroundShare: number,
  pseudo: readonly PseudoLabelledVolume[] = [],
): TrainingData {
  const [px, py, pz] = inference.patch;
  const patch: Dims3 = [pz, py, px];
  const dimsOf = (slices: number): Dims3 => [slices, pool.height, pool.width];
  return {
    width: pool.width,
    height: pool.height,
    spatial: patch,
    inference,
    labelledCount: pool.labelled.length,
    unlabelledCount: pool.unlabelled.length,
    validation: pool.validation,
    batches: (s, method, augment, extra) => {
      if (extra) throw new Error("3D training takes pseudo-labelled volumes, not slices");
      return new PatchSampler(pool, s, method, augment, patch, foregroundShare, pseudo);
    },
    // Centre patches of the labelled, then the unlabelled volumes, evenly spaced over each.
    bnImages: (s, _method, batches) =>
      Effect.gen(function* () {
        const size = patch[0] * patch[1] * patch[2];
        const images = new Float32Array(batches * (s.bl + s.bu) * size);
        const centre = (slices: number) => centreWindow(dimsOf(slices), patch);
        const unlabelled = [...pool.unlabelled.keys()];
        let at = 0;
        for (let j = 0; j < batches; j++) {
          for (let i = 0; i < s.bl; i++, at += size) {
            const v = spaced(pool.labelled, j * s.bl + i, batches * s.bl);
            const out = images.subarray(at, at + size);
            cropWindow(v.image, dimsOf(v.slices), centre(v.slices), patch, out);
          }
          for (let i = 0; i < s.bu; i++, at += size) {
            const k = spaced(unlabelled, j * s.bu + i, batches * s.bu);
            const v = pool.unlabelled[k], out = images.subarray(at, at + size);
            cropWindow(
              yield* pool.unlabelledVolume(k),
              dimsOf(v.slices),
              centre(v.slices),
              patch,
              out,
            );
          }
        }
        return images;
      }),
  };
}

class PatchSampler implements BatchSource {
  readonly #size: number;
  readonly #feeds: Required<Omit<BatchFeeds, "ql">>;
  readonly #image: Float32Array;
  readonly #label: Uint8Array;
  readonly #weakLabel: Uint8Array;

  constructor(
    readonly pool: VolumePool,
    readonly s: Shapes,
    readonly method: MethodSpec,
    readonly augment: Augment,
    readonly patch: Dims3,
    readonly foregroundShare: number,
    readonly pseudo: readonly PseudoLabelledVolume[],
  ) {
    const size = this.#size = patch[0] * patch[1] * patch[2];
    const bu = Math.max(s.bu, 1);
    this.#feeds = {
      xl: new Float32Array(s.bl * size),
      yl: new Int32Array(s.bl * size),
      xw: new Float32Array(bu * size),
      xs: new Float32Array(bu * size),
      mix_perm: new Float32Array(bu * bu),
      mix_box: new Float32Array(bu * size),
    };
    this.#image = new Float32Array(size);
    this.#label = new Uint8Array(size);
    this.#weakLabel = new Uint8Array(size);
  }

  next(rng: Rng): Effect.Effect<BatchFeeds, unknown> {
    return Effect.gen({ self: this }, function* () {
      yield* this.#labelled(rng);
      const { xl, yl } = this.#feeds;
      if (!this.method.unlabelled) return { xl, yl };
      yield* this.#unlabelled(rng);
      return this.#feeds;
    });
  }

  #dims(slices: number): Dims3 {
    return [slices, this.pool.height, this.pool.width];
  }

  /** A patch origin: centred on a random foreground voxel (when drawn and any), else uniform. */
  #origin(rng: Rng, dims: Dims3, foreground?: Int32Array): Dims3 {
    const p = this.patch;
    if (foreground?.length && rng.bool(this.foregroundShare)) {
      let v = foreground[rng.int(0, foreground.length)];
      const x = v % dims[2];
      v = (v - x) / dims[2];
      const y = v % dims[1], z = (v - y) / dims[1];
      return windowAround([z, y, x], dims, p);
    }
    return dims.map((n, i) => rng.int(0, Math.max(0, n - p[i]) + 1)) as unknown as Dims3;
  }

  /** A real labelled volume, or (positions after the first, in a second round) a pseudo one. */
  #labelledVolume(rng: Rng, i: number) {
    return Effect.gen({ self: this }, function* () {
      const { pool, pseudo } = this;
      if (i === 0 || !pseudo.length) return pool.labelled[rng.int(0, pool.labelled.length)];
      const v = pseudo[rng.int(0, pseudo.length)];
      return {
        slices: pool.unlabelled[v.index].slices,
        image: yield* pool.unlabelledVolume(v.index),
        label: v.label,
        foreground: v.foreground,
      };
    });
  }

  #labelled(rng: Rng) {
    return Effect.gen({ self: this }, function* () {
      const { s, patch } = this, size = this.#size, { xl, yl } = this.#feeds;
      for (let i = 0; i < s.bl; i++) {
        const v = yield* this.#labelledVolume(rng, i), dims = this.#dims(v.slices);
        const at = this.#origin(rng, dims, v.foreground);
        cropWindow(v.image, dims, at, patch, this.#image);
        cropWindow(v.label, dims, at, patch, this.#label);
        const weak = sampleWeak3(rng, patch, this.augment.weak);
        const view = xl.subarray(i * size, (i + 1) * size);
        applyWeak3(weak, this.#image, patch, view);
        applyWeak3(weak, this.#label, patch, this.#weakLabel);
        // Drawn only when enabled, so runs without it keep their random streams; without a
        // partner the strong view is its intensity changes alone.
        const intensity = this.augment.labelledIntensity;
        if (intensity > 0 && rng.bool(intensity)) {
          applyStrong3(sampleStrong3(rng, patch, this.augment.strong), view, patch);
        }
        for (let q = 0; q < size; q++) yl[i * size + q] = this.#weakLabel[q];
      }
    });
  }

  #unlabelled(rng: Rng) {
    return Effect.gen({ self: this }, function* () {
      const { pool, s, patch } = this, size = this.#size, bu = s.bu;
      const { xw, xs, mix_perm, mix_box } = this.#feeds;
      for (let i = 0; i < bu; i++) {
        const k = rng.int(0, pool.unlabelled.length), dims = this.#dims(pool.unlabelled[k].slices);
        cropWindow(
          yield* pool.unlabelledVolume(k),
          dims,
          this.#origin(rng, dims),
          patch,
          this.#image,
        );
        applyWeak3(
          sampleWeak3(rng, patch, this.augment.weak),
          this.#image,
          patch,
          xw.subarray(i * size, (i + 1) * size),
        );
      }
      mix_perm.fill(0);
      mix_box.fill(0);
      xs.set(xw);
      for (let i = 0; i < bu; i++) {
        const partner = bu > 1 ? (i + 1 + rng.int(0, bu - 1)) % bu : undefined;
        const p = sampleStrong3(rng, patch, this.augment.strong, partner);
        const view = xs.subarray(i * size, (i + 1) * size);
        const cm = p.cutmix;
        applyStrong3(
          p,
          view,
          patch,
          cm ? xw.subarray(cm.partner * size, (cm.partner + 1) * size) : undefined,
        );
        mix_perm[i * bu + (cm ? cm.partner : i)] = 1;
        if (cm) fillBox3(mix_box.subarray(i * size, (i + 1) * size), patch, cm.box, 1);
      }
    });
  }
}
