/**
 * What a stage is: declared once with its name, version, the config slice it reads (its input
 * Schema), the Schema of its output summary, and an Effect that talks to the world only through
 * the StageContext. The runner does everything else: keys, attempts, digests, commits.
 */
import type { Effect, Schema } from "effect";
import type { Config } from "../schemas/config.ts";
import type { StageOutputs } from "../schemas/outputs.ts";
import type { StoreError } from "./store.ts";
import type { IntegrityError } from "./errors.ts";
import type { Reporter } from "./progress.ts";

export const stageNames = [
  "ingest",
  "normalize",
  "synthesize",
  "augment",
  "train",
  "baseline",
  "refine",
  "evaluate",
  "export",
] as const;
export type StageName = typeof stageNames[number];

export type Device = "cpu" | "cuda" | "webgpu";

export interface Shard {
  readonly index: number;
  readonly count: number;
}

export interface ArtifactRef {
  readonly name: string;
  /** Store key of the bytes. */
  readonly key: string;
  readonly digest: string;
  readonly size: number;
}

/** The committed outputs of an upstream stage (all its shards), read with digest checks. */
export interface Upstream<Out = unknown> {
  readonly stage: StageName;
  readonly key: string;
  /** One summary per shard, in shard order. */
  readonly summaries: ReadonlyArray<Out>;
  readonly artifacts: ReadonlyArray<ArtifactRef>;
  /** Digest over every artifact of every shard: what downstream keys hash. */
  readonly digest: string;
  readonly read: (name: string) => Effect.Effect<Uint8Array, IntegrityError | StoreError>;
  readonly uri: (name: string) => string;
}

/** Storage that outlives an attempt (same stage key and shard): where checkpoints go. */
export interface CheckpointStore {
  readonly load: (name: string) => Effect.Effect<Uint8Array | undefined, StoreError>;
  readonly save: (name: string, bytes: Uint8Array) => Effect.Effect<void, StoreError>;
}

export interface StageContext {
  readonly runId: string;
  readonly config: Config;
  readonly shard: Shard;
  readonly attempt: number;
  readonly device: Device;
  /** Aborted on SIGTERM/SIGINT: long loops checkpoint and fail with Interrupted. */
  readonly signal: AbortSignal;
  readonly input: <S extends StageName>(stage: S) => Upstream<StageOutputs[S]>;
  readonly write: (name: string, bytes: Uint8Array) => Effect.Effect<void, StoreError>;
  readonly checkpoints: CheckpointStore;
  readonly reporter: Reporter;
}

export interface Stage<In = unknown, Out = unknown> {
  readonly name: StageName;
  /** Bump when the stage's code changes what it produces: changes the key. */
  readonly version: number;
  readonly needs: ReadonlyArray<StageName>;
  readonly shardable: boolean;
  /**
   * How long the runner waits after SIGTERM/SIGINT for the stage to stop by itself (a training
   * loop writes its checkpoint first); 0 or absent: it is stopped at once.
   */
  readonly stopGraceMs?: number;
  /** The part of the config this stage reads (all of what its key depends on). */
  readonly select: (config: Config) => unknown;
  readonly input: Schema.Codec<In, unknown>;
  readonly output: Schema.Codec<Out, unknown>;
  readonly run: (ctx: StageContext, input: In) => Effect.Effect<Out, unknown>;
}

// deno-lint-ignore no-explicit-any
export type AnyStage = Stage<any, any>;

/** Grace for stages that checkpoint on a signal: a checkpoint of the pair is written well within it. */
export const CHECKPOINT_GRACE_MS = 25_000;

export const defineStage = <In, Out>(stage: Stage<In, Out>): Stage<In, Out> => stage;
