/**
 * Validation during training and the best model of each side: both models are scored with
 * precise BatchNorm statistics (computed from fixed batches, put in place only while scoring, so
 * the training trajectory does not depend on them), and the best-scoring weights are kept encoded.
 */
import { Effect } from "effect";
import type { Device } from "../engine/session.ts";
import type { UNet } from "../engine/models/unet.ts";
import { Predictor } from "../engine/predict.ts";
import { PreciseBatchNorm } from "../engine/precise_bn.ts";
import { encodeModel } from "../deploy/weights.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { Pool } from "./pool.ts";
import { validationDice } from "./validate.ts";

export class BestModels {
  /** Validation Dice of the best model of each side (-1: not validated yet). */
  dice = [-1, -1];
  /** Encoded best model of each side. */
  models: Uint8Array[];

  private constructor(
    readonly pair: readonly [UNet, UNet],
    readonly pool: Pool,
    readonly predictors: Predictor[],
    readonly bnStats: PreciseBatchNorm[],
    readonly bnImages: Float32Array,
  ) {
    this.models = pair.map((m) => encodeModel(m));
  }

  static create(
    pair: readonly [UNet, UNet],
    pool: Pool,
    s: Shapes,
    method: MethodSpec,
    preciseBn: number,
    device: Device,
  ) {
    return Effect.gen(function* () {
      const spatial: [number, number] = [s.h, s.w];
      const predictors = yield* Effect.promise(() =>
        Promise.all(pair.map((m) => Predictor.create(m, { spatial, session: { device } })))
      );
      const bnImages = yield* preciseBnImages(pool, s, method, preciseBn);
      const bnStats = yield* Effect.promise(() =>
        Promise.all(
          bnImages.length
            ? pair.map((m) =>
              PreciseBatchNorm.create(m, { spatial, batch: s.bl + s.bu, session: { device } })
            )
            : [],
        )
      );
      return new BestModels(pair, pool, predictors, bnStats, bnImages);
    });
  }

  /** Validates both models at `step`; returns their Dice and keeps any new best. */
  validate(step: number) {
    return Effect.gen({ self: this }, function* () {
      const dice: number[] = [];
      for (const [k, m] of this.pair.entries()) {
        const restore = yield* this.usePreciseBn(k);
        const d = yield* Effect.promise(() =>
          validationDice(
            this.predictors[k],
            this.pool.validation,
            this.pool.width,
            this.pool.height,
          )
        );
        dice.push(d);
        if (d > this.dice[k]) {
          this.dice[k] = d;
          this.models[k] = encodeModel(m, { step, validationDice: d });
        }
        restore();
      }
      return dice;
    });
  }

  /** Puts model k's precise statistics in place; returns the function that undoes it. */
  usePreciseBn(k: number) {
    return Effect.promise(async () => {
      const buffers = this.pair[k].store.buffers.data, training = buffers.slice();
      if (this.bnStats.length) buffers.set(await this.bnStats[k].compute(this.bnImages));
      return () => buffers.set(training);
    });
  }

  release() {
    return Effect.promise(() =>
      Promise.all([...this.predictors, ...this.bnStats].map((x) => x.release()))
    );
  }
}

/**
 * `batches` fixed, unaugmented batches of the training composition for precise BatchNorm:
 * `bl` labelled slices (real, plus synthetic where the method trains on them) and `bu`
 * unlabelled ones each, evenly spaced over the pool.
 */
function preciseBnImages(pool: Pool, s: Shapes, method: MethodSpec, batches: number) {
  return Effect.gen(function* () {
    const plane = s.w * s.h, images = new Float32Array(batches * (s.bl + s.bu) * plane);
    const labelled = [...pool.labelled, ...(method.synthetic ? pool.synthetic : [])];
    /** Item i of n evenly spaced over `list`. */
    const spaced = <T>(list: readonly T[], i: number, n: number) =>
      list[Math.floor(((i + 0.5) * list.length) / n)];
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
