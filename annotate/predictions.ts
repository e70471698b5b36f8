/**
 * The exported model's predictions on a case, for the page's overlay: computed here, on the
 * server, with `predict`'s own Segmenter (deploy/segment.ts), so the overlay is exactly
 * the mask `pipeline predict` would write: same recipe (crop, resampling, intensity), same
 * onnxruntime, same mapping back to the image's grid. (In the browser it would need
 * onnxruntime-web's wasm served from here and a second copy of the normalization recipe.)
 *
 * The model is the committed export of the run: `--run-id`, or the default run ID of the config
 * as saved now (what `pipeline run --config FILE` uses). The run's manifest gives the config the
 * run actually used (`--set` overrides included), from which the export stage's key follows.
 */
import { Effect, Result } from "effect";
import type { Volume } from "../io/volume.ts";
import type { LabelVolume } from "../io/volume.ts";
import { defaultRunId, readManifest } from "../pipeline/manifest.ts";
import { makeMemoryReporter } from "../pipeline/progress.ts";
import { resolveStage, type RunEnv } from "../pipeline/runner.ts";
import type { ObjectStoreShape } from "../pipeline/store.ts";
import type { AnyStage } from "../pipeline/stage.ts";
import { parseDuetModel } from "../deploy/onnx_model.ts";
import { Segmenter } from "../deploy/segment.ts";
import { decodeRaw, readRawConfig } from "./exemplar.ts";
import { HttpError } from "./http.ts";

export interface PredictionSource {
  readonly store: ObjectStoreShape;
  /** Explicit run; otherwise the default run ID of the config file as it is now. */
  readonly runId?: string;
  readonly configPath: string;
  /** The pipeline's stages (stages/registry.ts), to find the run's exported model. */
  readonly stages: ReadonlyArray<AnyStage>;
}

export interface Prediction {
  readonly label: LabelVolume;
  readonly runId: string;
  /** Where the model lives in the store. */
  readonly model: string;
}

/** Segmenters by model digest, and the last few predictions by (digest, case). */
export class Predictions {
  private segmenter?: { digest: string; segmenter: Promise<Segmenter> };
  private readonly cache = new Map<string, Promise<LabelVolume>>();

  constructor(private readonly source: PredictionSource) {}

  /** The run's exported model, or a 404 saying what to run. */
  private async model() {
    const { store, configPath } = this.source;
    const runId = this.source.runId ??
      defaultRunId(decodeRaw(readRawConfig(configPath), configPath));
    const how = `run \`deno task pipeline run --config ${configPath}\` first`;
    const manifest = await Effect.runPromise(Effect.result(readManifest(store, runId)));
    if (Result.isFailure(manifest)) {
      if (manifest.failure._tag !== "ConfigError") throw manifest.failure;
      throw new HttpError(404, `no run "${runId}" in ${store.uri} yet: ${how}`);
    }
    const env: RunEnv = {
      store,
      runId,
      config: manifest.success.config,
      reporter: makeMemoryReporter(),
      device: "cpu",
      signal: new AbortController().signal,
      stages: this.source.stages,
      cache: new Map(),
    };
    const exported = await Effect.runPromise(resolveStage(env, "export"));
    if (!exported) {
      throw new HttpError(404, `run "${runId}" has no exported model yet: ${how} to its end`);
    }
    const out = exported.summaries[0];
    const ref = exported.artifacts.find((a) => a.name === out.model)!;
    const read = () => Effect.runPromise(exported.read(out.model));
    return { runId, uri: exported.uri(out.model), digest: ref.digest, read };
  }

  async forCase(id: string, image: Volume): Promise<Prediction> {
    const m = await this.model();
    if (this.segmenter?.digest !== m.digest) {
      const old = this.segmenter?.segmenter;
      this.cache.clear();
      this.segmenter = {
        digest: m.digest,
        segmenter: m.read().then((bytes) => Segmenter.create(parseDuetModel(m.uri, bytes))),
      };
      this.segmenter.segmenter.catch(() => (this.segmenter = undefined));
      old?.then((s) => s.release()).catch(() => {});
    }
    const segmenter = this.segmenter!.segmenter;
    let label = this.cache.get(id);
    if (!label) {
      label = segmenter.then(async (s) => (await s.segment(image, id)).label);
      label.catch(() => this.cache.delete(id));
      this.cache.set(id, label);
      while (this.cache.size > 3) this.cache.delete(this.cache.keys().next().value!);
    }
    return { label: await label, runId: m.runId, model: m.uri };
  }

  async close(): Promise<void> {
    const s = this.segmenter?.segmenter;
    this.segmenter = undefined;
    if (s) await s.then((x) => x.release()).catch(() => {});
  }
}
