/**
 * Stage results shared across the runs of a store: a second run whose stages reach the same keys
 * adopts the first run's committed units instead of computing them, ends with the same outputs as
 * a run on a fresh store, and computes again what the first run's deletion took away.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { committedMarkers, resolveStage, type RunEnv } from "../../pipeline/runner.ts";
import { makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";
import type { StageName } from "../../pipeline/stage.ts";
import { runTiny } from "../stages/tiny_run.ts";

const FAST = ["train.steps=8", "train.validateEvery=4", "train.checkpointEvery=4"];

async function run(store: ObjectStoreShape, runId: string, sets: readonly string[]) {
  const { env, exit } = await runTiny([...FAST, ...sets], { store, runId });
  assert(Exit.isSuccess(exit), String(exit));
  return env;
}

/** The run folder each committed artifact of `stage` lives in, and their digests. */
async function artifactsOf(env: RunEnv, stage: StageName) {
  const up = (await Effect.runPromise(resolveStage(env, stage)))!;
  const markers = (await Effect.runPromise(committedMarkers(env, stage, up.key)))!;
  const refs = markers.flatMap((m) => m.artifacts);
  return {
    runs: [...new Set(refs.map((a) => a.key.split("/")[1]))],
    digests: refs.map((a) => `${a.name}:${a.digest}`),
  };
}

Deno.test("a second run adopts the stages another run of the store committed with the same keys", async () => {
  const store = makeMemoryStore();
  await run(store, "first", ["train.method=supervised"]);
  const second = await run(store, "second", ["train.method=cps"]);
  // Same data, same seed: ingest and normalize are the first run's; train (another method) is new.
  for (const stage of ["ingest", "normalize"] as const) {
    assertEquals((await artifactsOf(second, stage)).runs, ["first"], stage);
  }
  assertEquals((await artifactsOf(second, "train")).runs, ["second"]);
  // ... and everything ends as on a store of its own.
  const alone = await run(makeMemoryStore(), "second", ["train.method=cps"]);
  for (const stage of ["ingest", "normalize", "train", "evaluate", "export"] as const) {
    assertEquals(
      (await artifactsOf(second, stage)).digests,
      (await artifactsOf(alone, stage)).digests,
      stage,
    );
  }
});

Deno.test("a shared unit whose artifacts were deleted with their run is computed again", async () => {
  const store = makeMemoryStore();
  await run(store, "first", ["train.method=supervised"]);
  for (const key of await Effect.runPromise(store.list("runs/first/stages/ingest/"))) {
    await Effect.runPromise(store.remove(key));
  }
  const later = await run(store, "later", ["train.method=supervised"]);
  assertEquals((await artifactsOf(later, "ingest")).runs, ["later"]);
  assertEquals((await artifactsOf(later, "normalize")).runs, ["first"]);
});

Deno.test("evaluate and export keys hash what they read: a setting nothing reads keeps them", async () => {
  const store = makeMemoryStore();
  await run(store, "first", ["train.method=supervised"]);
  // refine is off, so its temperature changes refine's key but not its (empty) outputs.
  const second = await run(store, "second", [
    "train.method=supervised",
    "refine.softTemperature=0.3",
  ]);
  for (const stage of ["train", "evaluate", "export"] as const) {
    assertEquals((await artifactsOf(second, stage)).runs, ["first"], stage);
  }
});
