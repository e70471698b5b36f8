/**
 * Where each stage of a run stands, derived from the store alone (no local state). A committed
 * final output whose bytes no longer match its digest makes its stage "corrupted".
 */
import { Effect } from "effect";
import { hostname } from "node:os";
import { decodeJson } from "./digest.ts";
import { describeError } from "./errors.ts";
import { damagedFinalOutputs } from "./final_outputs.ts";
import { committedMarkers, type RunEnv, stageKey, stagePrefix } from "./runner.ts";
import { objectUri } from "./store.ts";
import type { StageName } from "./stage.ts";

export type StageState = "pending" | "running" | "failed" | "committed" | "corrupted";

export interface StageStatus {
  readonly stage: StageName;
  readonly state: StageState;
  readonly key: string | null;
  readonly attempts: number;
  readonly artifacts: ReadonlyArray<string>;
  readonly error?: string;
}

const alive = (pid: number) => {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
};

export const runStatus = (env: RunEnv) =>
  Effect.gen(function* () {
    const out: StageStatus[] = [];
    for (const stage of env.stages) {
      const key = yield* stageKey(env, stage.name);
      if (key === undefined) {
        out.push({ stage: stage.name, state: "pending", key: null, attempts: 0, artifacts: [] });
        continue;
      }
      const prefix = `${stagePrefix(env.runId, stage.name)}/${key}/`;
      const keys = yield* env.store.list(prefix);
      const starts = keys.filter((k) => k.endsWith("/_STARTED.json"));
      const markers = yield* committedMarkers(env, stage.name, key);
      if (markers) {
        out.push({
          stage: stage.name,
          state: "committed",
          key,
          attempts: starts.length,
          artifacts: markers.flatMap((m) => m.artifacts.map((a) => objectUri(env.store, a.key))),
        });
        continue;
      }
      let state: StageState = starts.length ? "running" : "pending";
      let error: string | undefined;
      for (const start of starts) {
        const failed = yield* env.store.get(start.replace("_STARTED.json", "_FAILED.json"));
        if (failed) {
          error = (decodeJson(failed) as { error: string }).error;
          continue;
        }
        const claim = decodeJson((yield* env.store.get(start))!) as { pid: number; host: string };
        // A claim without a failure record whose process is gone on this host was killed.
        if (claim.host === hostname() && !alive(claim.pid)) error ??= "attempt was killed";
        else state = "running";
      }
      if (state !== "running" && error) state = "failed";
      out.push({
        stage: stage.name,
        state,
        key,
        attempts: starts.length,
        artifacts: [],
        ...(error ? { error } : {}),
      });
    }
    const damaged = yield* damagedFinalOutputs(env);
    return out.map((row) => {
      const hit = damaged.find((d) => d.stage === row.stage);
      return hit ? { ...row, state: "corrupted" as const, error: describeError(hit.error) } : row;
    });
  });
