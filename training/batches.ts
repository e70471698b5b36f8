/**
 * Batch assembly of the training loop: which slices fill a step's labelled and unlabelled
 * positions, their weak/strong views, and the CutMix partners, all drawn from the loop's Rng in a
 * fixed order (so a resumed run draws what an uninterrupted one would).
 */
import { Effect } from "effect";
import type { Rng } from "../random/rng.ts";
import { AugmentConfig } from "../schemas/config.ts";
import { allocViewBatch, ViewAugmenter } from "../transforms/views.ts";
import { image2d, label2d } from "../transforms/image2d.ts";
import { pasteBox } from "../transforms/intensity.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { LabelledSlice, Pool } from "./pool.ts";
import { fillSoftTargets } from "./soft_targets.ts";

/** The step graph's batch inputs (the Float32/Int32 buffers are reused from step to step). */
export interface BatchFeeds {
  xl: Float32Array;
  yl: Int32Array;
  ql?: Float32Array;
  xw?: Float32Array;
  xs?: Float32Array;
  mix_perm?: Float32Array;
  mix_box?: Float32Array;
}

export class BatchSampler {
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
    const { bl, bu, h, w, classes } = shapes, plane = w * h;
    this.#views = new ViewAugmenter(augment);
    this.#lb = allocViewBatch(bl, h, w, true);
    this.#ub = allocViewBatch(Math.max(bu, 1), h, w);
    this.#yl = new Int32Array(bl * plane);
    this.#ql = method.softTargets ? new Float32Array(bl * classes * plane) : undefined;
    this.#mixPerm = new Float32Array(bu * bu);
    this.#mixBox = new Float32Array(bu * plane);
    this.#ones = new Float32Array(plane).fill(1);
    // A real labelled slice first; the other positions draw from synthetic samples and real
    // labelled slices alike (with a single exemplar slice: synthetic only, the CMEMS
    // reconstruction), or from the caller's pseudo-labelled slices.
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
    return i > 0 && extra ? extra(rng) : Effect.succeed(
      i > 0 && mixed.length
        ? mixed[rng.int(0, mixed.length)]
        : pool.labelled[rng.int(0, pool.labelled.length)],
    );
  }

  #labelled(rng: Rng) {
    return Effect.gen({ self: this }, function* () {
      const { w, h, bl, classes } = this.shapes, lb = this.#lb, yl = this.#yl, ql = this.#ql;
      const batch: LabelledSlice[] = [];
      for (let i = 0; i < bl; i++) batch.push(yield* this.#drawLabelled(i, rng));
      const moved = this.#views.batch(
        batch.map((x) => image2d(w, h, x.image)),
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
      const params = this.#views.batch(picks.map((x) => image2d(w, h, x)), rng, ub);
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
