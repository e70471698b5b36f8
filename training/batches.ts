/**
 * Batch assembly for 2D models: which slices fill a step's labelled and unlabelled positions, their weak/strong views, and the CutMix partners, all drawn from the loop's Rng in a
 * fixed order (so a resumed run draws what an uninterrupted one would).
 */
import { Effect } from "effect";
import type { Rng } from "../random/rng.ts";
import { AugmentConfig } from "../schemas/config.ts";
import { allocViewBatch, ViewAugmenter } from "../transforms/views.ts";
import { type Image2D, image2d, label2d } from "../transforms/image2d.ts";
import { pasteBox } from "../transforms/intensity.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { LabelledSlice, Pool } from "./pool.ts";
import { fillSoftTargets } from "./soft_targets.ts";
import { type BatchFeeds, type BatchSource, spaced, type TrainingData } from "./data.ts";

export class BatchSampler implements BatchSource {
  readonly #views: ViewAugmenter;
  readonly #lb;
  readonly #ub;
  readonly #yl: Int32Array;
  readonly #ql?: Float32Array;
  readonly #mixPerm: Float32Array;
  readonly #mixBox: Float32Array;
  readonly #ones: Float32Array;
  /** Where labelled positions after the first draw from (empty: the real labelled slices). */
  readonly #mixed: LabelledSlice[];

  constructor(
    readonly pool: Pool,
    readonly shapes: Shapes,
    readonly method: MethodSpec,
    augment: typeof AugmentConfig.Type,
    /** Extra labelled slices for batch positions after the first (pseudo-labelled ones). */
    readonly extra?: (rng: Rng) => Effect.Effect<LabelledSlice, unknown>,
  ) {
    const { bl, bu, h, w, classes } = shapes, plane = w * h, channels = shapes.inChannels ?? 1;
    this.#views = new ViewAugmenter(augment);
    this.#lb = allocViewBatch(bl, h, w, true, channels);
    this.#ub = allocViewBatch(Math.max(bu, 1), h, w, false, channels);
    this.#yl = new Int32Array(bl * plane);
    this.#ql = method.softTargets ? new Float32Array(bl * classes * plane) : undefined;
    this.#mixPerm = new Float32Array(bu * bu);
    this.#mixBox = new Float32Array(bu * plane);
    this.#ones = new Float32Array(plane).fill(1);
    // A real labelled slice first; the other positions draw from synthetic samples and real
    // labelled slices alike (with a single exemplar slice: synthetic only, the CMEMS
    // reconstruction), or from the caller's pseudo-labelled slices (with both: alternately,
    // pseudo-labelled at odd positions).
    this.#mixed = method.synthetic && pool.synthetic.length
      ? [...(pool.labelled.length > 1 ? pool.labelled : []), ...pool.synthetic]
      : [];
  }

  /** The next step's batch, drawn from `rng`. */
  next(rng: Rng): Effect.Effect<BatchFeeds, unknown> {
    return Effect.gen({ self: this }, function* () {
      const labelled = yield* this.#labelled(rng);
      return this.method.unlabelled ? { ...labelled, ...yield* this.#unlabelled(rng) } : labelled;
    });
  }

  #drawLabelled(i: number, rng: Rng): Effect.Effect<LabelledSlice, unknown> {
    const { pool, extra } = this, mixed = this.#mixed;
    return i > 0 && extra && (i % 2 === 1 || !mixed.length) ? extra(rng) : Effect.succeed(
      i > 0 && mixed.length
        ? mixed[rng.int(0, mixed.length)]
        : pool.labelled[rng.int(0, pool.labelled.length)],
    );
  }

  /** An image's channel planes (one, or a slice and its neighbours). */
  #planes(image: Float32Array): Image2D[] {
    const { w, h } = this.shapes, plane = w * h;
    return Array.from(
      { length: image.length / plane },
      (_, c) => image2d(w, h, image.subarray(c * plane, (c + 1) * plane)),
    );
  }

  #labelled(rng: Rng) {
    return Effect.gen({ self: this }, function* () {
      const { w, h, bl, classes } = this.shapes, lb = this.#lb, yl = this.#yl, ql = this.#ql;
      const batch: LabelledSlice[] = [];
      for (let i = 0; i < bl; i++) batch.push(yield* this.#drawLabelled(i, rng));
      const moved = this.#views.batch(
        batch.flatMap((x) => this.#planes(x.image)),
        rng,
        lb,
        batch.map((x) => label2d(w, h, x.label)),
      );
      for (let i = 0; i < yl.length; i++) yl[i] = lb.weakLabels![i];
      if (ql) fillSoftTargets(ql, batch, moved, lb.weakLabels!, classes, w, h);
      return { xl: lb.weak, yl, ...(ql ? { ql } : {}) } satisfies BatchFeeds;
    });
  }

  #unlabelled(rng: Rng) {
    return Effect.gen({ self: this }, function* () {
      const { w, h, bu } = this.shapes, plane = w * h, pool = this.pool;
      const ub = this.#ub, mixPerm = this.#mixPerm, mixBox = this.#mixBox;
      const picks = [];
      for (let i = 0; i < bu; i++) {
        const ref = pool.unlabelled[rng.int(0, pool.unlabelled.length)];
        picks.push(yield* pool.unlabelledSlice(ref));
      }
      const params = this.#views.batch(picks.flatMap((x) => this.#planes(x)), rng, ub);
      mixPerm.fill(0);
      mixBox.fill(0);
      params.forEach((p, i) => {
        const cm = p.strong.cutmix;
        mixPerm[i * bu + (cm && cm.partner >= 0 ? cm.partner : i)] = 1;
        if (cm && cm.partner >= 0) {
          pasteBox(mixBox.subarray(i * plane, (i + 1) * plane), this.#ones, w, h, cm.box, 1);
        }
      });
      return { xw: ub.weak, xs: ub.strong, mix_perm: mixPerm, mix_box: mixBox };
    });
  }
}

/** The slice pool as training data for 2D models. */
export function sliceData(pool: Pool): TrainingData {
  return {
    width: pool.width,
    height: pool.height,
    spatial: [pool.height, pool.width],
    inference: pool.context ? { kind: "slices", context: pool.context } : { kind: "slices" },
    labelledCount: pool.labelled.length,
    unlabelledCount: pool.unlabelled.length,
    validation: pool.validation,
    batches: (s, method, augment, extra) => new BatchSampler(pool, s, method, augment, extra),
    bnImages: (s, method, batches) => preciseBnImages(pool, s, method, batches),
  };
}

/**
 * `batches` fixed, unaugmented batches of the training composition for precise BatchNorm:
 * `bl` labelled slices (real, plus synthetic where the method trains on them) and `bu`
 * unlabelled ones each, evenly spaced over the pool.
 */
function preciseBnImages(pool: Pool, s: Shapes, method: MethodSpec, batches: number) {
  return Effect.gen(function* () {
    const plane = (s.inChannels ?? 1) * s.w * s.h;
    const images = new Float32Array(batches * (s.bl + s.bu) * plane);
    const labelled = [...pool.labelled, ...(method.synthetic ? pool.synthetic : [])];
    let at = 0;
    for (let j = 0; j < batches; j++) {
      for (let i = 0; i < s.bl; i++, at += plane) {
        images.set(spaced(labelled, j * s.bl + i, batches * s.bl).image, at);
      }
      for (let i = 0; i < s.bu; i++, at += plane) {
        const ref = spaced(pool.unlabelled, j * s.bu + i, batches * s.bu);
        images.set(yield* pool.unlabelledSlice(ref), at);
      }
    }
    return images;
  });
}
