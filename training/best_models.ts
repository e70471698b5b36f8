/**
 * Validation during training and the best model of each side: both models are scored with
 * precise BatchNorm statistics (computed from fixed batches, put in place only while scoring, so
 * the training trajectory does not depend on them), and the best-scoring weights are kept encoded.
 */
import { Effect } from "effect";
import type { Device } from "../engine/session.ts";
import type { SegmentationModel } from "../engine/models/context.ts";
import { Predictor } from "../engine/predict.ts";
import { PreciseBatchNorm } from "../engine/precise_bn.ts";
import { encodeModel } from "../deploy/weights.ts";
import { type MethodSpec, type Shapes, spatialOf } from "./methods.ts";
import type { TrainingData } from "./data.ts";
import { validationDice } from "./validate.ts";

export class BestModels {
  /** Validation Dice of the best model of each side (-1: not validated yet). */
  dice = [-1, -1];
  /** Encoded best model of each side. */
  models: Uint8Array[];

  private constructor(
    readonly pair: readonly [SegmentationModel, SegmentationModel],
    readonly data: TrainingData,
    readonly predictors: Predictor[],
    readonly bnStats: PreciseBatchNorm[],
    readonly bnImages: Float32Array,
    /** Metadata every encoded model carries (how it covers a volume). */
    readonly extra: Record<string, unknown>,
  ) {
    this.models = pair.map((m) => encodeModel(m, extra));
  }

  static create(
    pair: readonly [SegmentationModel, SegmentationModel],
    data: TrainingData,
    s: Shapes,
    method: MethodSpec,
    preciseBn: number,
    device: Device,
    extra: Record<string, unknown>,
  ) {
    return Effect.gen(function* () {
      const spatial = spatialOf(s);
      const predictors = yield* Effect.promise(() =>
        Promise.all(pair.map((m) => Predictor.create(m, { spatial, session: { device } })))
      );
      const bnImages = yield* data.bnImages(s, method, preciseBn);
      const bnStats = yield* Effect.promise(() =>
        Promise.all(
          bnImages.length
            ? pair.map((m) =>
              PreciseBatchNorm.create(m, { spatial, batch: s.bl + s.bu, session: { device } })
            )
            : [],
        )
      );
      return new BestModels(pair, data, predictors, bnStats, bnImages, extra);
    });
  }

  /** Validates both models at `step`; returns their Dice and keeps any new best. */
  validate(step: number) {
    return Effect.gen({ self: this }, function* () {
      const dice: number[] = [];
      for (const [k, m] of this.pair.entries()) {
        const restore = yield* this.usePreciseBn(k);
        const d = yield* Effect.promise(() => validationDice(this.predictors[k], this.data));
        dice.push(d);
        if (d > this.dice[k]) {
          this.dice[k] = d;
          this.models[k] = encodeModel(m, { ...this.extra, step, validationDice: d });
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
