/**
 * `deno task pipeline annotate --data DIR [--config FILE] [--port N] [--out DIR]`: a local web
 * page to paint the exemplar slice (annotate/server.ts) until Ctrl-C. Saving writes the label and
 * a case list into --out (default `<DIR>/exemplar`) and updates --config (default
 * `<out>/config.json`), so `pipeline run --config FILE` trains from it (annotate/exemplar.ts).
 * After a run, the page overlays that run's exported model's masks (`--store`, `--run-id` as
 * for `run`).
 */
import { Effect, Option } from "effect";
import { Command, Flag } from "effect/cli";
import { dirname, join, resolve } from "node:path";
import { discoverCases } from "../../io/dataset.ts";
import { Catalogue } from "../../annotate/catalogue.ts";
import { decodeRaw, readRawConfig } from "../../annotate/exemplar.ts";
import { HttpError } from "../../annotate/http.ts";
import { startAnnotate } from "../../annotate/server.ts";
import { discoverOptions, readOptions } from "../../schemas/data_options.ts";
import { ConfigError, IoError, ioErrorOf } from "../errors.ts";
import { storeFromUri } from "../store_uri.ts";
import { StageRegistry } from "../runner.ts";

/** Creates `dir` and proves it writable now, rather than failing at the user's first save. */
function writableFolder(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.removeSync(Deno.makeTempFileSync({ dir, prefix: ".duet-write-test-" }));
  } catch (e) {
    const io = ioErrorOf(dir, e, "--out");
    throw io instanceof IoError ? io : new IoError({ path: dir, problem: String(e) });
  }
}

const usage = (e: unknown) =>
  e instanceof ConfigError
    ? e
    : e instanceof HttpError
    ? new ConfigError({ problems: [e.message] })
    : e instanceof Error
    ? e
    : new Error(String(e));

export const makeAnnotateCommand = (signal: AbortSignal) =>
  Command.make("annotate", {
    data: Flag.String("data").pipe(
      Flag.withDescription("folder (or list file) of the scans, discovered as ingest does"),
    ),
    config: Flag.String("config").pipe(
      Flag.withDescription("run config to read data.classes from and to update (created)"),
      Flag.optional,
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription("port on 127.0.0.1 (default: any free one)"),
      Flag.withDefault(0),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("folder for the painted label and the case list (default DIR/exemplar)"),
      Flag.optional,
    ),
    store: Flag.String("store").pipe(
      Flag.withDescription("store of the runs whose predictions the page shows (default .duet)"),
      Flag.optional,
    ),
    runId: Flag.String("run-id").pipe(
      Flag.withDescription("run whose model the page shows (default: the config's run)"),
      Flag.optional,
    ),
  }, (flags) =>
    Effect.gen(function* () {
      if (!(flags.port >= 0 && flags.port <= 65535)) {
        return yield* new ConfigError({ problems: [`--port ${flags.port}: not in 0..65535`] });
      }
      const data = resolve(flags.data);
      const dataIsDir = yield* Effect.try({
        try: () => Deno.statSync(data).isDirectory,
        catch: () => new ConfigError({ problems: [`--data: ${data} does not exist`] }),
      });
      const out = resolve(
        Option.getOrElse(flags.out, () => join(dataIsDir ? data : dirname(data), "exemplar")),
      );
      yield* Effect.try({ try: () => writableFolder(out), catch: usage });
      const configPath = resolve(Option.getOrElse(flags.config, () => join(out, "config.json")));
      const config = yield* Effect.try({
        try: () => decodeRaw(readRawConfig(configPath), configPath),
        catch: usage,
      });
      const store = yield* Effect.try({
        try: () => storeFromUri(Option.getOrElse(flags.store, () => ".duet")),
        catch: (e) => new ConfigError({ problems: [`--store: ${(e as Error).message}`] }),
      });
      // As `run` reads it: the config's data.source (a folder or list file) under --data.
      const source = dataIsDir && config.data.source !== "phantoms"
        ? resolve(data, config.data.source)
        : data;
      const discover = discoverOptions(config.data);
      const specs = yield* Effect.tryPromise({
        try: () => discoverCases(source, discover),
        catch: usage,
      });
      const server = startAnnotate({
        catalogue: new Catalogue(specs, readOptions(config.data)),
        classes: config.data.classes,
        out,
        configPath,
        discover,
        port: flags.port,
        predictions: {
          store,
          configPath,
          stages: yield* Effect.service(StageRegistry),
          ...(Option.isSome(flags.runId) ? { runId: flags.runId.value } : {}),
        },
      });
      console.log(
        `annotate: ${specs.length} cases of ${source}; classes ${config.data.classes.join(", ")}`,
      );
      console.log(`annotate: saving into ${out} and ${configPath}`);
      console.log(`open ${server.url}`);
      yield* Effect.promise(() =>
        new Promise<void>((done) => {
          if (signal.aborted) done();
          signal.addEventListener("abort", () => done(), { once: true });
        })
      );
      yield* Effect.promise(() => server.close());
      console.error("annotate: stopped");
    })).pipe(
      Command.withDescription("paint the exemplar slice in the browser (a local page)"),
    );
