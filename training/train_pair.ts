/**
 * The training loop of the pair, shared by train, the supervised baseline and refine's second
 * round: the method (training/methods.ts) decides the losses, the batch sampler
 * (training/batches.ts) what each step sees, BestModels (training/best_models.ts) validation and
 * the best model of each side, training/checkpoints.ts what is saved and resumed. This loop feeds
 * the LR schedule and ramped weights, keeps the EMA teacher, and checkpoints every N steps and on
 * a stop signal, so a retried attempt continues from the newest checkpoint and ends bit-identical.
 */
import { Effect, Schema } from "effect";
import { AugmentConfig, TrainConfig } from "../schemas/config.ts";
import { encodeJson } from "../pipeline/digest.ts";
import { abortSignalName, ConfigError, ExitCode, Interrupted } from "../pipeline/errors.ts";
import { Rng } from "../random/rng.ts";
import type { Device } from "../engine/session.ts";
import { emaUpdate } from "../engine/perturb.ts";
import { encodeModel, inputChannels } from "../deploy/weights.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { LabelledSlice } from "./pool.ts";
import type { TrainingData } from "./data.ts";
import { buildPairStep } from "./pair_step.ts";
import { BestModels } from "./best_models.ts";
import { type CheckpointStorage, type CurvePoint, resume, save } from "./checkpoints.ts";

/** Training that cannot go on: the step graph failed to build or run, or the loss diverged. */
export class TrainingFailed extends Schema.TaggedError<TrainingFailed>()("TrainingFailed", {
  method: Schema.String,
  message: Schema.String,
}) {
  get exitCode(): number {
    return ExitCode.bug;
  }
  get line(): string {
    return `training ${this.method} failed: ${this.message}`;
  }
}

/**
 * What the loop needs from whoever runs it (a pipeline stage's context is one): the device, the
 * stop signal, storage for checkpoints that outlives an attempt, the final outputs, progress.
 */
export interface TrainHost {
  readonly device: Device;
  /** Aborted on SIGTERM/SIGINT: the loop checkpoints and fails with Interrupted. */
  readonly signal: AbortSignal;
  readonly checkpoints: CheckpointStorage;
  readonly write: (name: string, bytes: Uint8Array) => Effect.Effect<void, unknown>;
  readonly reporter: {
    readonly info: (message: string) => void;
    readonly progress: (label: string, total: number) => {
      readonly tick: (n?: number, detail?: string) => void;
      readonly done: (detail?: string) => void;
    };
  };
}

export interface TrainPairOptions {
  readonly config: typeof TrainConfig.Type;
  readonly augment: typeof AugmentConfig.Type;
  readonly seed: number;
  readonly classes: number;
  /** Slices (training/batches.ts sliceData) or patches (training/patches.ts patchData). */
  readonly data: TrainingData;
  readonly method: MethodSpec;
  /** Model artifacts to start from (a second round) instead of a fresh initialisation. */
  readonly start?: readonly [Uint8Array, Uint8Array];
  /** Extra labelled slices for batch positions after the first (pseudo-labelled ones). */
  readonly extra?: (rng: Rng) => Effect.Effect<LabelledSlice, unknown>;
}

/**
 * Builds the pair and the step graph, resumes from the host's checkpoints, trains, validates,
 * and writes model-a/b, best-a/b and curves.json.
 */
export function trainPair(host: TrainHost, opts: TrainPairOptions) {
  const { config, augment, seed, classes, data, method } = opts;
  const failed = (message: string) => new TrainingFailed({ method: method.name, message });
  return Effect.gen(function* () {
    const started = performance.now();
    yield* checkData(data, method, config);
    const [h, w] = data.spatial.slice(-2);
    const s: Shapes = {
      bl: config.batch.labelled,
      bu: method.unlabelled ? config.batch.unlabelled : 0,
      ...(data.spatial.length === 3 ? { d: data.spatial[0] } : {}),
      h,
      w,
      classes,
      inChannels: inputChannels(data.inference),
    };
    // A 3D model records its windows and a 2.5D one its neighbouring slices (evaluate and export
    // run them so); single slices are the default, so 2D artifacts stay as they were.
    const meta = data.inference.kind === "windows" || inputChannels(data.inference) > 1
      ? { inference: data.inference }
      : {};

    // Models and the step graph. Model b: a second network, or a's EMA teacher.
    const { a, b, step } = yield* Effect.tryPromise({
      try: () =>
        buildPairStep({
          config,
          classes,
          shapes: s,
          method,
          seed,
          device: host.device,
          start: opts.start,
        }),
      catch: (e) => failed(`building the step: ${(e as Error).message}`),
    });
    const best = yield* BestModels.create(
      [a, b],
      data,
      s,
      method,
      config.preciseBn,
      host.device,
      meta,
    );

    // Resume: weights, optimizer state, step count and both Rngs from the newest checkpoint.
    const { state, resumed } = yield* resume(host.checkpoints, step, best, {
      rng: new Rng(seed).fork("train"),
      curves: [],
    });
    if (resumed) host.reporter.info(`train: resuming from checkpoint at step ${step.step}`);
    const { rng, curves } = state;
    const checkpoint = save(host.checkpoints, step, best, state);

    const batches = data.batches(s, method, augment, opts.extra);
    const bar = host.reporter.progress(`train ${method.name}`, config.steps);
    bar.tick(step.step);
    while (step.step < config.steps) {
      if (host.signal.aborted) {
        yield* checkpoint;
        return yield* new Interrupted({ signal: abortSignalName(host.signal) });
      }
      const t = step.step;
      const feeds = {
        ...yield* batches.next(rng),
        lr: config.optimizer.lr *
          (config.optimizer.schedule === "poly" ? Math.pow(1 - t / config.steps, 0.9) : 1),
        ...method.weights(t, config),
      };
      const result = yield* Effect.tryPromise({
        try: () => step.run(feeds),
        catch: (e) => failed(`step ${t + 1}: ${(e as Error).message}`),
      });
      if (!Number.isFinite(result.loss)) {
        return yield* failed(
          `the loss became ${result.loss} at step ${t + 1}; lower train.optimizer.lr`,
        );
      }
      if (method.teacher) {
        emaUpdate(b.store, a.store, config.ema, t);
        // Eval-mode teacher: BatchNorm statistics follow the student (buffers are not averaged).
        b.store.buffers.data.set(a.store.buffers.data);
      }
      const point: CurvePoint = { step: step.step, loss: result.loss, logs: result.logs };
      if (
        data.validation.length &&
        (step.step % config.validateEvery === 0 || step.step === config.steps)
      ) {
        point.dice = yield* best.validate(step.step);
      }
      curves.push(point);
      if (step.step % config.checkpointEvery === 0 && step.step < config.steps) yield* checkpoint;
      bar.tick(
        1,
        `loss ${result.loss.toFixed(3)}${
          point.dice ? ` dice ${point.dice.map((d) => d.toFixed(3)).join("/")}` : ""
        }`,
      );
    }
    bar.done();
    // The saved models carry the precise BatchNorm statistics.
    for (const k of [0, 1]) yield* best.usePreciseBn(k);
    yield* best.release();
    yield* Effect.promise(() => step.release());
    const names = ["model-a.safetensors", "model-b.safetensors"];
    const bestNames = ["best-a.safetensors", "best-b.safetensors"];
    for (const [k, m] of [a, b].entries()) {
      yield* host.write(
        names[k],
        encodeModel(m, { ...meta, step: step.step, method: method.name }),
      );
      yield* host.write(bestNames[k], best.dice[k] < 0 ? encodeModel(m, meta) : best.models[k]);
    }
    yield* host.write("curves.json", encodeJson(curves));
    const last = [...curves].reverse().find((c) => c.dice);
    return {
      method: method.name,
      steps: step.step,
      models: names,
      best: bestNames,
      curves: "curves.json",
      validationDice: last?.dice ?? [],
      seconds: (performance.now() - started) / 1000,
    };
  });
}

/** Data the method can train on, or the config problem that says what to set. */
function checkData(data: TrainingData, method: MethodSpec, config: typeof TrainConfig.Type) {
  if (!data.labelledCount) {
    return new ConfigError({
      problems: ["data.roles: no labelled slice to train on; set an exemplar or labelled volumes"],
    });
  }
  if (method.unlabelled && (!data.unlabelledCount || config.batch.unlabelled === 0)) {
    return new ConfigError({
      problems: [
        `train.method: ${method.name} learns from unlabelled slices, but ${
          data.unlabelledCount ? "train.batch.unlabelled is 0" : "the pool has none"
        }; use train.method=supervised`,
      ],
    });
  }
  return Effect.void;
}
