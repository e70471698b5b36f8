/**
 * The command line (CLI contract in DESIGN.md): run, resume, status, stage. Each command builds a
 * RunEnv from flags and hands it to the runner; exit codes are decided in main.ts.
 */
import { Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import type { Config } from "../schemas/config.ts";
import { loadConfig } from "./config.ts";
import { ConfigError, IntegrityError } from "./errors.ts";
import { defaultRunId, ensureManifest, readManifest } from "./manifest.ts";
import { type LogFormat, makeReporter } from "./progress.ts";
import { runPipeline } from "./run.ts";
import { type RunEnv, runUnit, stageByName, StageRegistry } from "./runner.ts";
import { type Device, type StageName, stageNames } from "./stage.ts";
import { runStatus } from "./status.ts";
import { storeFromUri as openStore } from "./store_uri.ts";
import { attemptFromEnv, describeSchedulerContext, shardFromEnv } from "./plan/scheduler_env.ts";
import { planInputFromArgs, renderPlan } from "./plan/render.ts";
import { PLAN_TARGETS, planStages } from "./plan/common.ts";
import { printRunSummary } from "./summary.ts";
import { metricsCommand } from "./commands/metrics.ts";
import { makePredictCommand } from "./commands/predict.ts";
import { makeAnnotateCommand } from "./commands/annotate.ts";

/** Set by main.ts; aborted on SIGTERM/SIGINT. */
export const shutdown = new AbortController();

const storeFlag = Flag.String("store").pipe(
  Flag.withDescription(
    "object store URI: a path, file://..., s3://bucket/prefix, memory://name (default .duet)",
  ),
  Flag.optional,
);
const runIdFlag = Flag.String("run-id").pipe(Flag.withDescription("run identifier"));
const logFormatFlag = Flag.Literals("log-format", ["auto", "plain", "json"]).pipe(
  Flag.withDescription("auto: progress bars on a terminal, plain lines otherwise"),
  Flag.withDefault("auto" as const),
);
const deviceFlag = Flag.Literals("device", ["cpu", "cuda", "webgpu"]).pipe(
  Flag.withDescription("execution provider for training and inference"),
  Flag.withDefault("cpu" as const),
);

const storeFromUri = (uri: string) =>
  Effect.try({
    try: () => openStore(uri),
    catch: (e) =>
      new ConfigError({ problems: [`--store: ${(e as { message?: string }).message ?? e}`] }),
  });

/** The `--store` flag's store (default `.duet`). */
const openStoreFlag = (store: Option.Option<string>) =>
  storeFromUri(Option.getOrElse(store, () => ".duet"));

const makeEnv = (opts: {
  store: RunEnv["store"];
  runId: string;
  config: Config;
  logFormat: LogFormat;
  device: Device;
}) =>
  Effect.gen(function* () {
    const stages = yield* Effect.service(StageRegistry);
    return {
      store: opts.store,
      runId: opts.runId,
      config: opts.config,
      reporter: makeReporter(opts.logFormat),
      device: opts.device,
      signal: shutdown.signal,
      stages,
      cache: new Map(),
    } satisfies RunEnv;
  });

/** The env of a run already in the store, with the config its manifest recorded. */
const storedRunEnv = (opts: {
  store: Option.Option<string>;
  runId: string;
  logFormat: LogFormat;
  device: Device;
}) =>
  Effect.gen(function* () {
    const store = yield* openStoreFlag(opts.store);
    const manifest = yield* readManifest(store, opts.runId);
    return yield* makeEnv({ ...opts, store, config: manifest.config });
  });

const threads = () => navigator.hardwareConcurrency;

const finish = (env: RunEnv, from?: StageName) =>
  Effect.gen(function* () {
    env.reporter.info(`run ${env.runId} in ${env.store.uri}`);
    yield* runPipeline(env, from);
    yield* printRunSummary(env);
  });

const run = Command.make("run", {
  config: Flag.String("config").pipe(
    Flag.withDescription("JSON config file (default: the embedded phantom run)"),
    Flag.optional,
  ),
  data: Flag.String("data").pipe(
    Flag.withDescription("folder that data.source is relative to"),
    Flag.optional,
  ),
  set: Flag.String("set").pipe(
    Flag.withDescription("override a config field: path=value (repeatable)"),
    Flag.atLeast(0),
  ),
  runId: runIdFlag.pipe(Flag.optional),
  store: storeFlag,
  from: Flag.Literals("from", stageNames).pipe(
    Flag.withDescription("start at this stage (earlier ones must be committed)"),
    Flag.optional,
  ),
  device: deviceFlag,
  logFormat: logFormatFlag,
}, (flags) =>
  Effect.gen(function* () {
    const sets = [...flags.set];
    if (Option.isSome(flags.data)) sets.unshift(`data.root=${flags.data.value}`);
    const config = yield* loadConfig(Option.getOrUndefined(flags.config), sets);
    const runId = Option.getOrElse(flags.runId, () => defaultRunId(config));
    const store = yield* openStoreFlag(flags.store);
    const env = yield* makeEnv({ ...flags, store, runId, config });
    yield* ensureManifest(env.store, runId, config, threads());
    yield* finish(env, Option.getOrUndefined(flags.from));
  })).pipe(Command.withDescription("run the pipeline (embedded phantom default without --config)"));

const resume = Command.make("resume", {
  runId: runIdFlag,
  store: storeFlag,
  device: deviceFlag,
  logFormat: logFormatFlag,
}, (flags) =>
  Effect.gen(function* () {
    yield* finish(yield* storedRunEnv(flags));
  })).pipe(Command.withDescription("continue a run from where it stopped"));

const status = Command.make("status", {
  runId: runIdFlag,
  store: storeFlag,
  json: Flag.Boolean("json").pipe(
    Flag.withDefault(false),
    Flag.withDescription("one JSON object on stdout"),
  ),
}, (flags) =>
  Effect.gen(function* () {
    const env = yield* storedRunEnv({ ...flags, logFormat: "plain", device: "cpu" });
    const rows = yield* runStatus(env);
    if (flags.json) {
      console.log(
        JSON.stringify({ runId: flags.runId, store: env.store.uri, stages: rows }, null, 2),
      );
    } else {
      console.log(`run ${flags.runId} in ${env.store.uri}`);
      for (const r of rows) {
        console.log(
          `${r.stage.padEnd(10)} ${r.state.padEnd(9)} key ${
            r.key ?? "-".padEnd(16)
          } attempts ${r.attempts}` +
            (r.error ? `  (${r.error.split("\n")[0]})` : ""),
        );
      }
    }
    const corrupted = rows.filter((r) => r.state === "corrupted").map((r) => r.stage);
    if (corrupted.length) {
      return yield* new IntegrityError({
        artifact: `run ${flags.runId}`,
        problem: `final outputs of ${corrupted.join(", ")} are damaged (listed above); delete ` +
          "those stage folders and `resume` to recompute them",
      });
    }
  })).pipe(Command.withDescription("per stage: state, key, attempts, artifact URIs"));

const stage = Command.make("stage", {
  name: Argument.String("name").pipe(Argument.withDescription("stage name")),
  runId: runIdFlag,
  store: storeFlag,
  shardIndex: Flag.Int("shard-index").pipe(Flag.optional),
  shardCount: Flag.Int("shard-count").pipe(Flag.optional),
  device: deviceFlag,
  logFormat: logFormatFlag,
}, (flags) =>
  Effect.gen(function* () {
    const env = yield* storedRunEnv(flags);
    const stageDef = yield* Effect.try({
      try: () => stageByName(env, flags.name),
      catch: (e) => e as ConfigError,
    });
    const shard = yield* Effect.try({
      try: () =>
        shardFromEnv(Deno.env.toObject(), {
          shardIndex: Option.getOrUndefined(flags.shardIndex),
          shardCount: Option.getOrUndefined(flags.shardCount),
        }),
      catch: (e) => new ConfigError({ problems: [(e as Error).message] }),
    });
    const effective = stageDef.shardable
      ? { index: shard.index, count: shard.count }
      : { index: 0, count: 1 };
    if (!stageDef.shardable && shard.count > 1 && shard.index > 0) {
      env.reporter.info(
        `stage ${stageDef.name} is not shardable; shard ${shard.index} has nothing to do`,
      );
      return;
    }
    const attempt = attemptFromEnv(Deno.env.toObject());
    env.reporter.info(
      `stage ${stageDef.name} of run ${flags.runId}: ${describeSchedulerContext(shard, attempt)}`,
    );
    const t0 = performance.now();
    const result = yield* runUnit(env, stageDef.name, effective);
    env.reporter.info(
      result === "cached"
        ? `• ${stageDef.name} cached (committed already)`
        : `✓ ${stageDef.name} committed (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  })).pipe(
    Command.withDescription("run one stage (or one shard of it) alone, for a batch scheduler"),
  );

const plan = Command.make("plan", {
  target: Flag.Literals("target", PLAN_TARGETS).pipe(
    Flag.withDescription("scheduler to emit manifests for"),
  ),
  config: Flag.String("config").pipe(Flag.optional),
  set: Flag.String("set").pipe(Flag.atLeast(0)),
  image: Flag.String("image").pipe(
    Flag.withDescription("container image (default duet:latest)"),
    Flag.optional,
  ),
  store: Flag.String("store").pipe(Flag.withDescription("s3://bucket/prefix every stage shares")),
  runId: runIdFlag.pipe(Flag.optional),
  shards: Flag.Int("shards").pipe(
    Flag.withDescription("shards per shardable stage"),
    Flag.withDefault(4),
  ),
}, (flags) =>
  Effect.gen(function* () {
    const config = yield* loadConfig(Option.getOrUndefined(flags.config), flags.set);
    const runId = Option.getOrElse(flags.runId, () => defaultRunId(config));
    const store = yield* storeFromUri(flags.store);
    yield* ensureManifest(store, runId, config, threads());
    const stages = planStages(yield* Effect.service(StageRegistry));
    const text = yield* Effect.try({
      try: () =>
        renderPlan(planInputFromArgs({
          target: flags.target,
          image: Option.getOrUndefined(flags.image),
          store: flags.store,
          runId,
          shards: flags.shards,
        }, stages)),
      catch: (e) => new ConfigError({ problems: [(e as Error).message] }),
    });
    console.log(text);
  })).pipe(
    Command.withDescription("write the run manifest to the store and print scheduler manifests"),
  );

export const pipelineCommand = Command.make("pipeline").pipe(
  Command.withDescription("Duet: label-efficient medical image segmentation"),
  Command.withSubcommands([
    run,
    resume,
    status,
    stage,
    plan,
    makePredictCommand(shutdown.signal),
    metricsCommand,
    makeAnnotateCommand(shutdown.signal),
  ]),
);
