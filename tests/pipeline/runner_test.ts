/** Runner semantics on toy stages and an in-memory store: keys, caching, digests, races. */
import { Effect, Exit, Schema } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { defaults } from "../../schemas/defaults.ts";
import { type AnyStage, defineStage } from "../../pipeline/stage.ts";
import { failureOf, type RunEnv, runUnit, stageKey, unitPrefix } from "../../pipeline/runner.ts";
import { runPipeline } from "../../pipeline/run.ts";
import { runStatus } from "../../pipeline/status.ts";
import { makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { exitCodeOf } from "../../pipeline/errors.ts";
import type { Config } from "../../schemas/config.ts";

const Count = Schema.Struct({ runs: Schema.Number });

function toyStages(calls: Record<string, number>, delayMs = 0): AnyStage[] {
  const first = defineStage({
    name: "ingest",
    version: 1,
    needs: [],
    shardable: false,
    select: (c: Config) => ({ seed: c.seed }),
    input: Schema.Struct({ seed: Schema.Number }),
    output: Count,
    run: (ctx, input) =>
      Effect.gen(function* () {
        calls.ingest = (calls.ingest ?? 0) + 1;
        if (delayMs) yield* Effect.sleep(delayMs);
        yield* ctx.write("numbers.txt", new TextEncoder().encode(`seed ${input.seed}`));
        return { runs: calls.ingest };
      }),
  });
  const second = defineStage({
    name: "normalize",
    version: 1,
    needs: ["ingest"],
    shardable: true,
    select: (c: Config) => c.normalize.size,
    input: Schema.Tuple([Schema.Number, Schema.Number]),
    output: Count,
    run: (ctx) =>
      Effect.gen(function* () {
        calls.normalize = (calls.normalize ?? 0) + 1;
        const text = new TextDecoder().decode(yield* ctx.input("ingest").read("numbers.txt"));
        yield* ctx.write(
          `out-${ctx.shard.index}.txt`,
          new TextEncoder().encode(text.toUpperCase()),
        );
        return { runs: calls.normalize };
      }),
  });
  return [first, second];
}

const makeEnv = (
  store: ObjectStoreShape,
  stages: AnyStage[],
  config: Config = defaults,
): RunEnv => ({
  store,
  runId: "test",
  config,
  reporter: makeMemoryReporter(),
  device: "cpu",
  signal: new AbortController().signal,
  stages,
  cache: new Map(),
});

Deno.test("a committed stage is cached: rerunning executes nothing", async () => {
  const calls: Record<string, number> = {};
  const store = makeMemoryStore();
  const first = await Effect.runPromise(runPipeline(makeEnv(store, toyStages(calls))));
  assertEquals(first.map((o) => o.result), ["committed", "committed"]);
  const again = await Effect.runPromise(runPipeline(makeEnv(store, toyStages(calls))));
  assertEquals(again.map((o) => o.result), ["cached", "cached"]);
  assertEquals(calls, { ingest: 1, normalize: 1 });
});

Deno.test("the key changes with the config slice, the version and upstream digests", async () => {
  const store = makeMemoryStore();
  const stages = toyStages({});
  const key = (config: Config, s = stages) =>
    Effect.runPromise(Effect.gen(function* () {
      const env = makeEnv(store, s, config);
      yield* runPipeline(env);
      return [yield* stageKey(env, "ingest"), yield* stageKey(env, "normalize")];
    }));
  const base = await key(defaults);
  const otherTrain = await key({ ...defaults, train: { ...defaults.train, steps: 7 } });
  assertEquals(otherTrain, base, "train.steps is not read by these stages");
  const otherSeed = await key({ ...defaults, seed: 99 });
  assert(
    otherSeed[0] !== base[0] && otherSeed[1] !== base[1],
    "seed feeds ingest, and through its digest normalize",
  );
  const otherSize = await key({
    ...defaults,
    normalize: { ...defaults.normalize, size: [32, 32] },
  });
  assert(otherSize[0] === base[0] && otherSize[1] !== base[1]);
  const bumped = toyStages({});
  bumped[0] = { ...bumped[0], version: 2 };
  assert((await key(defaults, bumped))[0] !== base[0]);
});

Deno.test("a corrupted committed artifact fails the reader with exit 65 naming the artifact", async () => {
  const store = makeMemoryStore();
  const calls: Record<string, number> = {};
  const env = makeEnv(store, toyStages(calls));
  await Effect.runPromise(runUnit(env, "ingest", { index: 0, count: 1 }));
  const artifact = (await Effect.runPromise(store.list("runs/"))).find((k) =>
    k.endsWith("numbers.txt")
  )!;
  await Effect.runPromise(store.put(artifact, new TextEncoder().encode("seed 2")));
  const exit = await Effect.runPromiseExit(
    runUnit(makeEnv(store, toyStages(calls)), "normalize", { index: 0, count: 1 }),
  );
  assert(Exit.isFailure(exit));
  const error = failureOf(exit.cause) as { _tag: string; artifact: string };
  assertEquals(error._tag, "IntegrityError");
  assert(error.artifact.endsWith(artifact), error.artifact);
  assertEquals(exitCodeOf(error), 65);
  assertEquals(calls.ingest, 1, "the corrupted stage is not silently rerun");
});

Deno.test("an attempt without a commit marker is ignored and the stage reruns", async () => {
  const store = makeMemoryStore();
  const calls: Record<string, number> = {};
  const env = makeEnv(store, toyStages(calls));
  const key = (await Effect.runPromise(stageKey(env, "ingest")))!;
  const unit = unitPrefix("test", "ingest", key, { index: 0, count: 1 });
  await Effect.runPromise(
    store.put(`${unit}/attempt-1/_STARTED.json`, new TextEncoder().encode("{}")),
  );
  await Effect.runPromise(
    store.put(`${unit}/attempt-1/numbers.txt`, new TextEncoder().encode("trunc")),
  );
  assertEquals(
    await Effect.runPromise(runUnit(env, "ingest", { index: 0, count: 1 })),
    "committed",
  );
  const text = new TextDecoder().decode(
    await Effect.runPromise(
      makeEnv(store, toyStages(calls)).cache.get("ingest")?.read("numbers.txt") ??
        Effect.gen(function* () {
          const e = makeEnv(store, toyStages(calls));
          yield* stageKey(e, "normalize");
          return yield* e.cache.get("ingest")!.read("numbers.txt");
        }),
    ),
  );
  assertEquals(text, "seed 1");
});

Deno.test("two processes racing on the same unit: exactly one commit wins, the other reports cached", async () => {
  const store = makeMemoryStore();
  const calls: Record<string, number> = {};
  const results = await Promise.all([
    Effect.runPromise(
      runUnit(makeEnv(store, toyStages(calls, 20)), "ingest", { index: 0, count: 1 }),
    ),
    Effect.runPromise(
      runUnit(makeEnv(store, toyStages(calls, 20)), "ingest", { index: 0, count: 1 }),
    ),
  ]);
  assertEquals(results.sort(), ["cached", "committed"]);
  const keys = await Effect.runPromise(store.list("runs/"));
  assertEquals(keys.filter((k) => k.endsWith("_SUCCESS.json")).length, 1);
  assertEquals(
    keys.filter((k) => k.endsWith("_STARTED.json")).length,
    2,
    "each got its own attempt",
  );
});

Deno.test("sharded stage: committed only when every shard is; status reports states and artifacts", async () => {
  const store = makeMemoryStore();
  const env = makeEnv(store, toyStages({}));
  await Effect.runPromise(runUnit(env, "ingest", { index: 0, count: 1 }));
  await Effect.runPromise(runUnit(env, "normalize", { index: 1, count: 2 }));
  let status = await Effect.runPromise(runStatus(makeEnv(store, toyStages({}))));
  assertEquals(status.map((s) => s.state), ["committed", "running"], "one of two shards committed");
  await Effect.runPromise(
    runUnit(makeEnv(store, toyStages({})), "normalize", { index: 0, count: 2 }),
  );
  status = await Effect.runPromise(runStatus(makeEnv(store, toyStages({}))));
  assertEquals(status.map((s) => s.state), ["committed", "committed"]);
  assertEquals(status[1].artifacts.length, 2);
  assert(
    status[1].artifacts.every((a) => a.startsWith("memory://test/runs/test/stages/normalize/")),
  );
});

Deno.test("a stage whose upstream is not committed fails with exit 64", async () => {
  const exit = await Effect.runPromiseExit(
    runUnit(makeEnv(makeMemoryStore(), toyStages({})), "normalize", { index: 0, count: 1 }),
  );
  assert(Exit.isFailure(exit));
  assertEquals(exitCodeOf(failureOf(exit.cause)), 64);
});
