/** The tiny phantom config (tests/pipeline/tiny.json) run in-process on a memory store. */
import { Effect } from "effect";
import { loadConfig } from "../../pipeline/config.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { runPipeline } from "../../pipeline/run.ts";
import type { RunEnv } from "../../pipeline/runner.ts";
import type { AnyStage } from "../../pipeline/stage.ts";
import { makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";
import { stages as registry } from "../../stages/registry.ts";

export const TINY = new URL("../pipeline/tiny.json", import.meta.url).pathname;

/** The tiny config as a 3D run: labelled phantom volumes, a small V-Net on 16³ patches. */
export const TINY_VNET = [
  "data.phantoms.shape=[32,32,16]",
  "data.roles.exemplar=null",
  "data.roles.labelled=4",
  "train.model.arch=vnet3d",
  "train.model.channels=[2,4,8,16,32]",
  "train.model.dropout=[0,0,0,0,0]",
  "train.model.patch=[16,16,16]",
];

/** Stages of the registry up to and including `last`. */
export const stagesThrough = (last: string): AnyStage[] =>
  registry.slice(0, registry.findIndex((s) => s.name === last) + 1);

/** Runs `stages` on the tiny config with `sets` applied; returns the env and the exit. */
export async function runTiny(
  sets: readonly string[],
  o: { stages?: readonly AnyStage[]; runId?: string; store?: ObjectStoreShape } = {},
) {
  const config = await Effect.runPromise(loadConfig(TINY, sets));
  const env: RunEnv = {
    store: o.store ?? makeMemoryStore(),
    runId: o.runId ?? "t",
    config,
    reporter: makeMemoryReporter(),
    device: "cpu",
    signal: new AbortController().signal,
    stages: o.stages ?? registry,
    cache: new Map(),
  };
  return { env, exit: await Effect.runPromiseExit(runPipeline(env)) };
}

/** The committed files of one stage of run "t" in `store`, by file name. */
export async function stageFiles(store: ObjectStoreShape, stage: string) {
  const files: Record<string, Uint8Array> = {};
  for (const key of await Effect.runPromise(store.list(`runs/t/stages/${stage}/`))) {
    files[key.split("/").pop()!] = (await Effect.runPromise(store.get(key)))!;
  }
  return files;
}
