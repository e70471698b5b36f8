/** Running a whole pipeline (or from one stage on) in order, one process, every stage unsharded. */
import { Effect } from "effect";
import { ConfigError } from "./errors.ts";
import { checkFinalOutputs } from "./final_outputs.ts";
import { resolveStage, type RunEnv, runUnit, stageKey } from "./runner.ts";
import type { StageName } from "./stage.ts";

export interface StageOutcome {
  readonly stage: StageName;
  readonly result: "committed" | "cached";
  readonly seconds: number;
}

export const runPipeline = (env: RunEnv, from?: StageName) =>
  Effect.gen(function* () {
    const names = env.stages.map((s) => s.name);
    const start = from === undefined ? 0 : names.indexOf(from);
    if (start < 0) {
      return yield* new ConfigError({
        problems: [`--from ${from}: unknown stage; stages are: ${names.join(", ")}`],
      });
    }
    for (const name of names.slice(0, start)) {
      if (!(yield* resolveStage(env, name))) {
        return yield* new ConfigError({
          problems: [
            `--from ${from}: stage ${name} is not committed in run ${env.runId}; run it first`,
          ],
        });
      }
    }
    const outcomes: StageOutcome[] = [];
    for (const name of names.slice(start)) {
      const t0 = performance.now();
      const result = yield* runUnit(env, name, { index: 0, count: 1 });
      const seconds = (performance.now() - t0) / 1000;
      const key = yield* stageKey(env, name);
      env.reporter.info(
        result === "cached"
          ? `• ${name.padEnd(10)} cached     (key ${key})`
          : `✓ ${name.padEnd(10)} committed  (${seconds.toFixed(1)} s, key ${key})`,
        { stage: name, result, seconds, key },
      );
      outcomes.push({ stage: name, result, seconds });
    }
    // A cached run is only as good as its final outputs: a damaged one is exit 65, not "done".
    yield* checkFinalOutputs(env);
    return outcomes;
  });
