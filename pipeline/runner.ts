/**
 * The stage runner. A stage unit (stage, key, shard) is committed at most once: the runner
 * claims a fresh attempt prefix, runs the stage, writes its artifacts there, and then creates
 * the commit marker `_SUCCESS.json` (create-only) listing every artifact with its sha256.
 * Readers trust only what a marker lists, and check the digest on every read.
 *
 * Store layout: runs/<runId>/stages/<stage>/<key>[/shard-<i>-of-<n>]/
 *   attempt-<a>/<artifact>      outputs of one attempt (garbage unless the marker names them)
 *   attempt-<a>/_STARTED.json   the claim of attempt a; attempt-<a>/_FAILED.json when it failed
 *   checkpoints/<name>          survives attempts (train resumes from here)
 *   _SUCCESS.json               the commit marker
 *
 * Stage results are shared by every run of a store: a committed unit's marker is also copied to
 * shared/<stage>/<key>[/shard-<i>-of-<n>]/_SUCCESS.json, and another run that reaches the same
 * key (same stage version, same config slice, same upstream digests: the same result) adopts it
 * by writing that marker into its own unit, instead of computing it again. The adopted marker's
 * artifacts stay in the folder of the run that made them.
 */
import { Context, Effect, Schema } from "effect";
import { hostname } from "node:os";
import type { Config } from "../schemas/config.ts";
import type { StageOutputs } from "../schemas/outputs.ts";
import { canonicalJson, decodeJson, encodeJson, sha256 } from "./digest.ts";
import {
  abortSignalName,
  ConfigError,
  describeError,
  exitCodeOf,
  IntegrityError,
  Interrupted,
  StageFailed,
} from "./errors.ts";
import type { Reporter } from "./progress.ts";
import type {
  AnyStage,
  ArtifactRef,
  Device,
  Shard,
  StageContext,
  StageName,
  Upstream,
} from "./stage.ts";
import { type ObjectStoreShape, objectUri, type StoreError } from "./store.ts";

/** The stages the pipeline runs: stages/registry.ts, provided by main.ts (tests provide their own). */
export const StageRegistry = Context.Service<ReadonlyArray<AnyStage>>("duet/StageRegistry");

export interface RunEnv {
  readonly store: ObjectStoreShape;
  readonly runId: string;
  readonly config: Config;
  readonly reporter: Reporter;
  readonly device: Device;
  readonly signal: AbortSignal;
  readonly stages: ReadonlyArray<AnyStage>;
  /** Resolved keys and upstream outputs, filled as stages are looked up. */
  readonly cache: Map<StageName, Upstream | null>;
}

export interface CommitMarker {
  readonly stage: StageName;
  readonly version: number;
  readonly key: string;
  readonly shard: Shard;
  readonly attempt: number;
  readonly artifacts: ReadonlyArray<ArtifactRef>;
  readonly summary: unknown;
  readonly committedAt: string;
}

export type UnitResult = "committed" | "cached";

export const stagePrefix = (runId: string, stage: StageName) => `runs/${runId}/stages/${stage}`;

const shardSuffix = (shard: Shard) =>
  shard.count > 1 ? `/shard-${shard.index}-of-${shard.count}` : "";

export const unitPrefix = (runId: string, stage: StageName, key: string, shard: Shard) =>
  `${stagePrefix(runId, stage)}/${key}${shardSuffix(shard)}`;

/** Where every run of the store finds the marker of a unit some run committed (a copy). */
const sharedMarkerKey = (stage: StageName, key: string, shard: Shard) =>
  `shared/${stage}/${key}${shardSuffix(shard)}/${MARKER}`;

const MARKER = "_SUCCESS.json";
const unitPattern = /^(?:shard-(\d+)-of-(\d+)\/)?_SUCCESS\.json$/;

export const stageByName = (env: Pick<RunEnv, "stages">, name: string): AnyStage => {
  const stage = env.stages.find((s) => s.name === name);
  if (!stage) {
    throw new ConfigError({
      problems: [
        `unknown stage "${name}"; stages are: ${env.stages.map((s) => s.name).join(", ")}`,
      ],
    });
  }
  return stage;
};

const readMarker = (env: RunEnv, key: string) =>
  Effect.gen(function* () {
    const bytes = yield* env.store.get(key);
    if (!bytes) return undefined;
    return yield* Effect.try({
      try: () => decodeJson(bytes) as CommitMarker,
      catch: () =>
        new IntegrityError({
          artifact: objectUri(env.store, key),
          problem: "commit marker is not valid JSON",
        }),
    });
  });

/** The committed markers of a stage key: a complete set of shards (smallest count wins), or none. */
export const committedMarkers = (env: RunEnv, stage: StageName, key: string) =>
  Effect.gen(function* () {
    const prefix = `${stagePrefix(env.runId, stage)}/${key}/`;
    const byCount = new Map<number, Map<number, string>>();
    for (const k of yield* env.store.list(prefix)) {
      const m = k.slice(prefix.length).match(unitPattern);
      if (!m) continue;
      const count = m[2] ? Number(m[2]) : 1;
      const index = m[1] ? Number(m[1]) : 0;
      if (!byCount.has(count)) byCount.set(count, new Map());
      byCount.get(count)!.set(index, k);
    }
    for (const count of [...byCount.keys()].sort((a, b) => a - b)) {
      const shards = byCount.get(count)!;
      if (shards.size !== count) continue;
      const markers: CommitMarker[] = [];
      for (let i = 0; i < count; i++) markers.push((yield* readMarker(env, shards.get(i)!))!);
      return markers;
    }
    return undefined;
  });

const artifactReader = (env: RunEnv, stage: StageName, artifacts: ReadonlyArray<ArtifactRef>) => {
  const byName = new Map(artifacts.map((a) => [a.name, a]));
  return (name: string) =>
    Effect.gen(function* () {
      const ref = byName.get(name);
      if (!ref) {
        return yield* new IntegrityError({
          artifact: `${stage}/${name}`,
          problem: `stage ${stage} committed no artifact named "${name}"`,
        });
      }
      const uri = objectUri(env.store, ref.key);
      const bytes = yield* env.store.get(ref.key);
      if (!bytes) {
        return yield* new IntegrityError({
          artifact: uri,
          problem: "listed in the commit marker but missing",
        });
      }
      if (bytes.length !== ref.size || sha256(bytes) !== ref.digest) {
        return yield* new IntegrityError({
          artifact: uri,
          problem:
            `sha256 does not match the commit marker (expected ${ref.digest.slice(0, 12)}…, ` +
            `${bytes.length} bytes vs ${ref.size}); delete the stage folder to recompute it`,
        });
      }
      return bytes;
    });
};

/**
 * A stage's key and committed outputs, or null when it (or something upstream) is not committed.
 * The key hashes the stage name and version, its decoded config slice, and the upstream digests.
 */
export const resolveStage = <S extends StageName>(
  env: RunEnv,
  name: S,
): Effect.Effect<Upstream<StageOutputs[S]> | null, StoreError | IntegrityError | ConfigError> =>
  Effect.gen(function* () {
    // Summaries are decoded with the registered stage's output schema, which StageOutputs names.
    if (env.cache.has(name)) return env.cache.get(name) as Upstream<StageOutputs[S]> | null;
    const key = yield* stageKey(env, name);
    let result: Upstream | null = null;
    if (key !== undefined) {
      const markers = yield* committedMarkers(env, name, key);
      if (markers) {
        const stage = stageByName(env, name);
        // By name, so the digest (and every downstream key) does not depend on the shard count.
        const artifacts = markers.flatMap((m) => m.artifacts)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const summaries: unknown[] = [];
        for (const m of markers) {
          summaries.push(
            yield* Effect.mapError(
              Schema.decodeUnknownEffect(stage.output)(m.summary),
              (issue) =>
                new IntegrityError({
                  artifact: `${name}/${MARKER}`,
                  problem: `summary does not match schema: ${issue}`,
                }),
            ),
          );
        }
        const read = artifactReader(env, name, artifacts);
        const byName = new Map(artifacts.map((a) => [a.name, a]));
        result = {
          stage: name,
          key,
          summaries,
          artifacts,
          digest: sha256(canonicalJson(artifacts.map((a) => [a.name, a.digest]))),
          read,
          uri: (n) =>
            objectUri(
              env.store,
              byName.get(n)?.key ?? `${stagePrefix(env.runId, name)}/${key}/?${n}`,
            ),
        };
      }
    }
    env.cache.set(name, result);
    return result as Upstream<StageOutputs[S]> | null;
  });

/** The key of a stage, or undefined when an upstream stage is not committed yet. */
export const stageKey = (
  env: RunEnv,
  name: StageName,
): Effect.Effect<string | undefined, StoreError | IntegrityError | ConfigError> =>
  Effect.gen(function* () {
    const stage = stageByName(env, name);
    const upstream: Array<[string, string]> = [];
    for (const need of stage.needs) {
      const up = yield* resolveStage(env, need);
      if (!up) return undefined;
      upstream.push([need, up.digest]);
    }
    const slice = yield* decodeSlice(stage, env.config);
    return sha256(canonicalJson({ stage: name, version: stage.version, slice, upstream })).slice(
      0,
      16,
    );
  });

const decodeSlice = (stage: AnyStage, config: Config) =>
  Effect.mapError(
    Schema.decodeUnknownEffect(stage.input)(stage.select(config)),
    (issue) => new ConfigError({ problems: [`${stage.name}: ${issue}`] }),
  );

/**
 * Adopts the unit another run of the store committed with the same key, when its artifacts are
 * all still there (that run may have been deleted since): true when `unit` is now committed.
 */
const adoptShared = (env: RunEnv, name: StageName, key: string, shard: Shard, unit: string) =>
  Effect.gen(function* () {
    const marker = yield* readMarker(env, sharedMarkerKey(name, key, shard));
    if (!marker) return false;
    const folders = new Set(
      marker.artifacts.map((a) => a.key.slice(0, a.key.lastIndexOf("/") + 1)),
    );
    const present = new Set<string>();
    for (const folder of folders) for (const k of yield* env.store.list(folder)) present.add(k);
    if (!marker.artifacts.every((a) => present.has(a.key))) return false;
    yield* env.store.putIfAbsent(`${unit}/${MARKER}`, encodeJson(marker));
    return true;
  });

/** Runs one unit (stage, shard) unless it is committed already, in this run or another. */
export const runUnit = (
  env: RunEnv,
  name: StageName,
  shard: Shard,
): Effect.Effect<UnitResult, unknown> =>
  Effect.gen(function* () {
    const stage = stageByName(env, name);
    if (env.signal.aborted) return yield* new Interrupted({ signal: abortSignalName(env.signal) });
    const key = yield* stageKey(env, name);
    if (key === undefined) {
      const missing = [];
      for (const need of stage.needs) if (!(yield* resolveStage(env, need))) missing.push(need);
      return yield* new ConfigError({
        problems: [
          `stage ${name} needs ${missing.join(", ")}, not committed in run ${env.runId}; run ${
            missing[0]
          } first`,
        ],
      });
    }
    const unit = unitPrefix(env.runId, name, key, shard);
    if (yield* env.store.get(`${unit}/${MARKER}`)) return "cached" as const;
    if (yield* adoptShared(env, name, key, shard, unit)) {
      env.cache.delete(name);
      return "cached" as const;
    }

    const attempt = yield* claimAttempt(env, unit);
    const attemptPrefix = `${unit}/attempt-${attempt}`;
    const written = new Map<string, ArtifactRef>();
    const ctx: StageContext = {
      runId: env.runId,
      config: env.config,
      shard,
      attempt,
      device: env.device,
      signal: env.signal,
      reporter: env.reporter,
      input: <S extends StageName>(up: S) => {
        const resolved = env.cache.get(up);
        if (!resolved) throw new Error(`stage ${name} reads ${up}, which is not in its needs`);
        return resolved as Upstream<StageOutputs[S]>;
      },
      write: (artifact, bytes) =>
        Effect.gen(function* () {
          // '%' for case IDs encoded by pipeline/artifact_name.ts.
          if (!/^[A-Za-z0-9][A-Za-z0-9._%-]*$/.test(artifact) || written.has(artifact)) {
            return yield* Effect.die(
              new Error(`stage ${name}: bad or duplicate artifact name "${artifact}"`),
            );
          }
          const objectKey = `${attemptPrefix}/${artifact}`;
          yield* env.store.put(objectKey, bytes);
          written.set(artifact, {
            name: artifact,
            key: objectKey,
            digest: sha256(bytes),
            size: bytes.length,
          });
        }),
      checkpoints: {
        load: (n) => env.store.get(`${unit}/checkpoints/${n}`),
        save: (n, bytes) => env.store.put(`${unit}/checkpoints/${n}`, bytes),
      },
    };
    const input = yield* decodeSlice(stage, env.config);
    const exit = yield* Effect.exit(
      Effect.gen(function* () {
        const output = yield* Effect.raceFirst(
          stage.run(ctx, input),
          stopOnSignal(env.signal, stage.stopGraceMs ?? 0),
        );
        const summary = yield* Effect.mapError(
          Schema.encodeUnknownEffect(stage.output)(output),
          (issue) =>
            new StageFailed({
              stage: name,
              message: `output does not match its schema: ${issue}`,
              transient: false,
            }),
        );
        const marker: CommitMarker = {
          stage: name,
          version: stage.version,
          key,
          shard,
          attempt,
          artifacts: [...written.values()].sort((a, b) => a.name.localeCompare(b.name)),
          summary,
          committedAt: new Date().toISOString(),
        };
        const bytes = encodeJson(marker);
        const committed = yield* env.store.putIfAbsent(`${unit}/${MARKER}`, bytes);
        if (committed) yield* env.store.putIfAbsent(sharedMarkerKey(name, key, shard), bytes);
        return committed;
      }),
    );
    if (exit._tag === "Failure") {
      const error = failureOf(exit.cause);
      yield* Effect.ignore(env.store.put(
        `${attemptPrefix}/_FAILED.json`,
        encodeJson({
          error: describeError(error),
          exitCode: exitCodeOf(error),
          at: new Date().toISOString(),
        }),
      ));
      return yield* Effect.failCause(exit.cause);
    }
    env.cache.delete(name);
    return exit.value ? "committed" as const : "cached" as const;
  });

/** The first failure in a cause (or the defect), for the failure record. */
// deno-lint-ignore no-explicit-any
export const failureOf = (cause: any): unknown => {
  for (const reason of cause.reasons ?? []) {
    if (reason._tag === "Fail") return reason.error;
    if (reason._tag === "Die") return reason.defect;
    if (reason._tag === "Interrupt") return new Interrupted({ signal: "SIGTERM" });
  }
  return cause;
};

/** Claims the next free attempt number with a create-only marker, so racing processes never share one. */
const claimAttempt = (env: RunEnv, unit: string) =>
  Effect.gen(function* () {
    const existing = yield* env.store.list(`${unit}/attempt-`);
    let n = 1 + Math.max(
      0,
      ...existing.map((k) => Number(k.slice(unit.length).match(/attempt-(\d+)/)?.[1] ?? 0)),
    );
    const claim = encodeJson({
      pid: Deno.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
    });
    while (!(yield* env.store.putIfAbsent(`${unit}/attempt-${n}/_STARTED.json`, claim))) n++;
    return n;
  });

/**
 * Fails with Interrupted once the signal is aborted plus a grace period. Raced against a stage:
 * short stages stop at once; training stages get `stopGraceMs` to write a checkpoint and stop.
 */
const stopOnSignal = (signal: AbortSignal, graceMs: number): Effect.Effect<never, Interrupted> =>
  Effect.callback<void>((resume) => {
    if (signal.aborted) return resume(Effect.void);
    signal.addEventListener("abort", () => resume(Effect.void), { once: true });
  }).pipe(
    Effect.andThen(Effect.sleep(graceMs)),
    Effect.andThen(
      Effect.suspend(() => Effect.fail(new Interrupted({ signal: abortSignalName(signal) }))),
    ),
  );
