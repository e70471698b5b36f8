/**
 * The run manifest: `runs/<runId>/manifest.json`, written once when a run starts. It pins the
 * config (so `resume` and `stage` invocations on other machines read the same one) and the
 * thread count (onnxruntime's results are bit-identical only with the same intra-op threads).
 */
import { Effect } from "effect";
import type { Config } from "../schemas/config.ts";
import { decodeConfig } from "./config.ts";
import { canonicalJson, decodeJson, encodeJson, sha256 } from "./digest.ts";
import { ConfigError } from "./errors.ts";
import type { ObjectStoreShape } from "./store.ts";
import { duetVersion } from "./version.ts";

export interface Manifest {
  readonly runId: string;
  readonly duetVersion: string;
  readonly createdAt: string;
  readonly configDigest: string;
  readonly config: Config;
  readonly threads: number;
}

export const manifestKey = (runId: string) => `runs/${runId}/manifest.json`;

export const configDigest = (config: Config) => sha256(canonicalJson(config));

/** Default run ID: the config name plus a digest, so re-running the same config finds its run. */
export const defaultRunId = (config: Config) =>
  `${config.name}-${configDigest(config).slice(0, 8)}`;

export const validRunId = (runId: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId);

/** A run ID that is not a safe store key segment: a usage error, whatever the command. */
const badRunId = (runId: string) =>
  new ConfigError({
    problems: [`--run-id "${runId}": use letters, digits, '.', '_' and '-'`],
  });

/** Creates the manifest, or checks that an existing run has the same config. */
export const ensureManifest = (
  store: ObjectStoreShape,
  runId: string,
  config: Config,
  threads: number,
) =>
  Effect.gen(function* () {
    if (!validRunId(runId)) return yield* badRunId(runId);
    const manifest: Manifest = {
      runId,
      duetVersion,
      createdAt: new Date().toISOString(),
      configDigest: configDigest(config),
      config,
      threads,
    };
    if (yield* store.putIfAbsent(manifestKey(runId), encodeJson(manifest))) return manifest;
    const existing = yield* readManifest(store, runId);
    if (existing.configDigest !== manifest.configDigest) {
      return yield* new ConfigError({
        problems: [
          `run "${runId}" already exists in ${store.uri} with a different config; ` +
          `use \`resume --run-id ${runId}\` to continue it, or a new --run-id`,
        ],
      });
    }
    return existing;
  });

export const readManifest = (store: ObjectStoreShape, runId: string) =>
  Effect.gen(function* () {
    if (!validRunId(runId)) return yield* badRunId(runId);
    const bytes = yield* store.get(manifestKey(runId));
    if (!bytes) {
      return yield* new ConfigError({
        problems: [`no run "${runId}" in ${store.uri} (start it with \`run\`)`],
      });
    }
    const raw = decodeJson(bytes) as Manifest;
    const config = yield* decodeConfig(raw.config);
    return { ...raw, config } satisfies Manifest;
  });
