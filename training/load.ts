/** The training data the configured network takes: slices for unet2d, patches for the 3D models. */
import { Effect } from "effect";
import type { TrainConfig } from "../schemas/config.ts";
import type { SynthesizeOutput } from "../schemas/outputs.ts";
import { inferenceOf } from "../deploy/weights.ts";
import type { ArtifactSource, NormalizedSource } from "./cases.ts";
import type { TrainingData } from "./data.ts";
import { loadPool } from "./pool.ts";
import { sliceData } from "./batches.ts";
import { loadVolumePool } from "./volume_pool.ts";
import { patchData } from "./patches.ts";

export function loadTrainingData(
  config: typeof TrainConfig.Type,
  norm: NormalizedSource,
  synth?: ArtifactSource<SynthesizeOutput>,
): Effect.Effect<TrainingData, unknown> {
  const inference = inferenceOf(config.model);
  return inference.kind === "windows"
    ? Effect.map(
      loadVolumePool(norm),
      (pool) => patchData(pool, inference, config.foregroundPatches),
    )
    : Effect.map(loadPool(norm, synth, undefined, inference.context), sliceData);
}
