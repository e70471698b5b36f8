/**
 * A run's final outputs (the artifacts of the stages no other stage reads: the exported model
 * and masks, the report and metrics) have no later reader whose digest check would catch a
 * damaged one, so `run`, `resume` and `status` check them against their commit marker here.
 */
import { Effect } from "effect";
import type { IntegrityError } from "./errors.ts";
import { resolveStage, type RunEnv } from "./runner.ts";
import type { AnyStage } from "./stage.ts";

/** Stages whose outputs no other stage reads. */
export const terminalStages = (stages: ReadonlyArray<AnyStage>): AnyStage[] =>
  stages.filter((s) => !stages.some((other) => other.needs.includes(s.name)));

/** Each committed final output that is missing or whose bytes do not match its digest. */
export const damagedFinalOutputs = (env: RunEnv) =>
  Effect.gen(function* () {
    const damaged: { stage: string; error: IntegrityError }[] = [];
    for (const stage of terminalStages(env.stages)) {
      const up = yield* resolveStage(env, stage.name);
      for (const artifact of up?.artifacts ?? []) {
        const error = yield* up!.read(artifact.name).pipe(
          Effect.as(undefined),
          Effect.catchTag("IntegrityError", (e) => Effect.succeed(e)),
        );
        if (error) damaged.push({ stage: stage.name, error });
      }
    }
    return damaged;
  });

/** Fails with the first damaged final output's IntegrityError (exit 65). */
export const checkFinalOutputs = (env: RunEnv) =>
  Effect.gen(function* () {
    const [first] = yield* damagedFinalOutputs(env);
    if (first) return yield* first.error;
  });
