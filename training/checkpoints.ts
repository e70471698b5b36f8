/**
 * The loop's checkpoint: the step graph (weights, optimizer state, step count, its Rng), the
 * loop's Rng, the curves so far and the best model of each side, saved every N steps and on a
 * stop signal to storage that outlives an attempt, so a retried attempt ends bit-identical to
 * an uninterrupted one.
 */
import { Effect } from "effect";
import type { TrainStep } from "../engine/train.ts";
import { loadCheckpoint, saveCheckpoint } from "../engine/checkpoint.ts";
import { Rng } from "../random/rng.ts";
import type { BestModels } from "./best_models.ts";

export interface CurvePoint {
  step: number;
  loss: number;
  logs: Record<string, number>;
  dice?: number[];
}

/** Storage for checkpoints that outlives an attempt (a stage's checkpoint store is one). */
export interface CheckpointStorage {
  readonly load: (name: string) => Effect.Effect<Uint8Array | undefined, unknown>;
  readonly save: (name: string, bytes: Uint8Array) => Effect.Effect<void, unknown>;
}

/** What the loop carries from step to step besides the step graph. */
export interface LoopState {
  rng: Rng;
  curves: CurvePoint[];
}

const LATEST = "latest.safetensors";
const bestName = (k: number) => `best-${"ab"[k]}.safetensors`;

/**
 * Restores `step`, `best` and the loop state from the newest checkpoint; returns the state to
 * start from (`fresh` when there is none) and whether it resumed.
 */
export const resume = (
  storage: CheckpointStorage,
  step: TrainStep,
  best: BestModels,
  fresh: LoopState,
) =>
  Effect.gen(function* () {
    const saved = yield* storage.load(LATEST);
    if (!saved) return { state: fresh, resumed: false };
    const meta = loadCheckpoint(step, saved) as {
      curves: CurvePoint[];
      rng: number[];
      bestDice: number[];
    };
    best.dice = meta.bestDice;
    for (const k of [0, 1]) {
      const bytes = yield* storage.load(bestName(k));
      if (bytes) best.models[k] = bytes;
    }
    const state = { rng: new Rng(Uint32Array.from(meta.rng)), curves: meta.curves };
    return { state, resumed: true };
  });

export const save = (
  storage: CheckpointStorage,
  step: TrainStep,
  best: BestModels,
  state: LoopState,
) =>
  Effect.gen(function* () {
    for (const k of [0, 1]) yield* storage.save(bestName(k), best.models[k]);
    yield* storage.save(
      LATEST,
      saveCheckpoint(step, {
        curves: state.curves,
        rng: [...state.rng.state()],
        bestDice: best.dice,
      }),
    );
  });
