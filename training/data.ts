/**
 * What the training loop trains on, whatever the network's dimensionality: 2D slices
 * (training/batches.ts over the slice pool) or 3D patches (training/patches.ts over the volume
 * pool). The loop, validation and precise BatchNorm see only this.
 */
import type { Effect } from "effect";
import type { Rng } from "../random/rng.ts";
import type { AugmentConfig } from "../schemas/config.ts";
import type { Inference } from "../deploy/weights.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { LabelledSlice, ValidationVolume } from "./pool.ts";

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

export interface BatchSource {
  /** The next step's batch, drawn from `rng`. */
  next(rng: Rng): Effect.Effect<BatchFeeds, unknown>;
}

export interface TrainingData {
  /** The normalized cases' in-plane size. */
  readonly width: number;
  readonly height: number;
  /** Network input of one batch item: [H, W] (a slice) or [D, H, W] (a patch). */
  readonly spatial: readonly number[];
  /** How the models cover a validation volume (and, recorded in them, any later volume). */
  readonly inference: Inference;
  readonly labelledCount: number;
  readonly unlabelledCount: number;
  readonly validation: readonly ValidationVolume[];
  batches(
    s: Shapes,
    method: MethodSpec,
    augment: typeof AugmentConfig.Type,
    /** Extra labelled slices for batch positions after the first (2D pseudo-labelled ones). */
    extra?: (rng: Rng) => Effect.Effect<LabelledSlice, unknown>,
  ): BatchSource;
  /** `batches` fixed, unaugmented batches of the training composition for precise BatchNorm. */
  bnImages(s: Shapes, method: MethodSpec, batches: number): Effect.Effect<Float32Array, unknown>;
}

/** Item i of n evenly spaced over `list`. */
export const spaced = <T>(list: readonly T[], i: number, n: number): T =>
  list[Math.floor(((i + 0.5) * list.length) / n)];
