/**
 * The training loop of the pair, shared by train, the supervised baseline and refine's second
 * round: the method (training/methods.ts) decides the losses; this loop draws batches and views
 * from a seeded Rng, feeds the ramped weights, validates, and checkpoints everything (weights,
 * optimizer state, both Rngs, curves, best models) every N steps so a retried attempt continues
 * from the newest checkpoint and ends bit-identical.
 */
import { Effect } from "effect";
import { AugmentConfig, TrainConfig } from "../schemas/config.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { encodeJson } from "../pipeline/digest.ts";
import { abortSignalName, ConfigError, Interrupted, StageFailed } from "../pipeline/errors.ts";
import { Rng } from "../random/rng.ts";
import { emaUpdate } from "../engine/perturb.ts";
import { Predictor } from "../engine/predict.ts";
import { PreciseBatchNorm } from "../engine/precise_bn.ts";
import { loadCheckpoint, saveCheckpoint } from "../engine/checkpoint.ts";
import { allocViewBatch, ViewAugmenter } from "../transforms/views.ts";
import { image2d, label2d } from "../transforms/image2d.ts";
import { pasteBox } from "../transforms/intensity.ts";
import { encodeModel } from "../deploy/weights.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import type { LabelledSlice, Pool } from "./pool.ts";
import { buildPairStep } from "./pair_step.ts";
import { fillSoftTargets } from "./soft_targets.ts";
import { validationDice } from "./validate.ts";

interface CurvePoint {
  step: number;
  loss: number;
  logs: Record<string, number>;
  dice?: number[];
}

const failed = (message: string) => new StageFailed({ stage: "train", message, transient: false });

export interface TrainPairOptions {
  readonly config: typeof TrainConfig.Type;
  readonly augment: typeof AugmentConfig.Type;
  readonly seed: number;
  readonly classes: number;
  readonly pool: Pool;
  readonly method: MethodSpec;
  /** Model artifacts to start from (a second round) instead of a fresh initialisation. */
  readonly start?: readonly [Uint8Array, Uint8Array];
  /** Extra labelled slices for batch positions after the first (pseudo-labelled ones). */
  readonly extra?: (rng: Rng) => Effect.Effect<LabelledSlice, unknown>;
}

/**
 * The training loop shared by train and refine's second round: builds the pair and the step
 * graph, resumes from the stage's checkpoints, trains, validates, and writes model-a/b,
 * best-a/b and curves.json.
 */
export function trainPair(ctx: StageContext, opts: TrainPairOptions) {
  const { config, augment, seed, classes, pool, method } = opts;
  return Effect.gen(function* () {
    const started = performance.now();
    if (!pool.labelled.length) {
      return yield* new ConfigError({
        problems: [
          "data.roles: no labelled slice to train on; set an exemplar or labelled volumes",
        ],
      });
    }
    if (method.unlabelled && (!pool.unlabelled.length || config.batch.unlabelled === 0)) {
      return yield* new ConfigError({
        problems: [
          `train.method: ${method.name} learns from unlabelled slices, but ${
            pool.unlabelled.length ? "train.batch.unlabelled is 0" : "the pool has none"
          }; use train.method=supervised`,
        ],
      });
    }
    const { width: w, height: h } = pool;
    const s: Shapes = {
      bl: config.batch.labelled,
      bu: method.unlabelled ? config.batch.unlabelled : 0,
      h,
      w,
      classes,
    };
    const plane = w * h;

    // Models and the step graph. Model b: a second network, or a's EMA teacher.
    let rng = new Rng(seed).fork("train");
    const { a, b, step } = yield* Effect.tryPromise({
      try: () =>
        buildPairStep({
          config,
          classes,
          shapes: s,
          method,
          seed,
          device: ctx.device,
          start: opts.start,
        }),
      catch: (e) => failed(`building the ${method.name} step: ${(e as Error).message}`),
    });

    // Resume: weights, optimizer state, step count and both Rngs from the newest checkpoint.
    let curves: CurvePoint[] = [];
    const best = { dice: [-1, -1], models: [encodeModel(a), encodeModel(b)] };
    const saved = yield* ctx.checkpoints.load("latest.safetensors");
    if (saved) {
      const meta = loadCheckpoint(step, saved) as {
        curves: CurvePoint[];
        rng: number[];
        bestDice: number[];
      };
      curves = meta.curves;
      rng = new Rng(Uint32Array.from(meta.rng));
      best.dice = meta.bestDice;
      for (const k of [0, 1]) {
        const bytes = yield* ctx.checkpoints.load(`best-${"ab"[k]}.safetensors`);
        if (bytes) best.models[k] = bytes;
      }
      ctx.reporter.info(`train: resuming from checkpoint at step ${step.step}`);
    }
    const checkpoint = Effect.gen(function* () {
      for (const k of [0, 1]) {
        yield* ctx.checkpoints.save(`best-${"ab"[k]}.safetensors`, best.models[k]);
      }
      yield* ctx.checkpoints.save(
        "latest.safetensors",
        saveCheckpoint(step, { curves, rng: [...rng.state()], bestDice: best.dice }),
      );
    });

    const predictors = yield* Effect.promise(() =>
      Promise.all(
        [a, b].map((m) =>
          Predictor.create(m, { spatial: [h, w], session: { device: ctx.device } })
        ),
      )
    );
    // Precise BatchNorm statistics for validation and the saved models, from fixed batches;
    // training keeps its own running averages, so the trajectory does not depend on them.
    const bnImages = yield* preciseBnImages(pool, s, method, config.preciseBn);
    const bnStats = yield* Effect.promise(() =>
      Promise.all(
        bnImages.length
          ? [a, b].map((m) =>
            PreciseBatchNorm.create(m, {
              spatial: [h, w],
              batch: s.bl + s.bu,
              session: { device: ctx.device },
            })
          )
          : [],
      )
    );
    /** Puts model k's precise statistics in place; returns the function that undoes it. */
    const usePreciseBn = (k: number) =>
      Effect.promise(async () => {
        const buffers = [a, b][k].store.buffers.data, training = buffers.slice();
        if (bnStats.length) buffers.set(await bnStats[k].compute(bnImages));
        return () => buffers.set(training);
      });
    const views = new ViewAugmenter(augment);
    const lb = allocViewBatch(s.bl, h, w, true);
    const ub = allocViewBatch(Math.max(s.bu, 1), h, w);
    const yl = new Int32Array(s.bl * plane);
    const ql = method.softTargets ? new Float32Array(s.bl * classes * plane) : undefined;
    const mixPerm = new Float32Array(s.bu * s.bu);
    const mixBox = new Float32Array(s.bu * plane);
    const ones = new Float32Array(plane).fill(1);
    // Labelled batches: a real labelled slice first; the other positions draw from synthetic
    // samples and real labelled slices alike (with a single exemplar slice: synthetic only, the
    // CMEMS reconstruction), or from the caller's pseudo-labelled slices.
    const mixed = method.synthetic && pool.synthetic.length
      ? [...(pool.labelled.length > 1 ? pool.labelled : []), ...pool.synthetic]
      : [];
    const drawLabelled = (i: number): Effect.Effect<LabelledSlice, unknown> =>
      i > 0 && opts.extra ? opts.extra(rng) : Effect.succeed(
        i > 0 && mixed.length
          ? mixed[rng.int(0, mixed.length)]
          : pool.labelled[rng.int(0, pool.labelled.length)],
      );

    const bar = ctx.reporter.progress(`train ${method.name}`, config.steps);
    bar.tick(step.step);
    while (step.step < config.steps) {
      if (ctx.signal.aborted) {
        yield* checkpoint;
        return yield* new Interrupted({ signal: abortSignalName(ctx.signal) });
      }
      const t = step.step;
      const batch: LabelledSlice[] = [];
      for (let i = 0; i < s.bl; i++) batch.push(yield* drawLabelled(i));
      const moved = views.batch(
        batch.map((x) => image2d(w, h, x.image)),
        rng,
        lb,
        batch.map((x) => label2d(w, h, x.label)),
      );
      for (let i = 0; i < yl.length; i++) yl[i] = lb.weakLabels![i];
      if (ql) fillSoftTargets(ql, batch, moved, lb.weakLabels!, classes, w, h);
      const feeds: Parameters<typeof step.run>[0] = {
        xl: lb.weak,
        yl,
        lr: config.optimizer.lr *
          (config.optimizer.schedule === "poly" ? Math.pow(1 - t / config.steps, 0.9) : 1),
        ...method.weights(t, config),
        ...(ql ? { ql } : {}),
      };
      if (method.unlabelled) {
        const picks = [];
        for (let i = 0; i < s.bu; i++) {
          const ref = pool.unlabelled[rng.int(0, pool.unlabelled.length)];
          picks.push(yield* pool.unlabelledSlice(ref));
        }
        const params = views.batch(picks.map((x) => image2d(w, h, x)), rng, ub);
        mixPerm.fill(0);
        mixBox.fill(0);
        params.forEach((p, i) => {
          const cm = p.strong.cutmix;
          mixPerm[i * s.bu + (cm && cm.partner >= 0 ? cm.partner : i)] = 1;
          if (cm && cm.partner >= 0) {
            pasteBox(mixBox.subarray(i * plane, (i + 1) * plane), ones, w, h, cm.box, 1);
          }
        });
        Object.assign(feeds, { xw: ub.weak, xs: ub.strong, mix_perm: mixPerm, mix_box: mixBox });
      }
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
        pool.validation.length &&
        (step.step % config.validateEvery === 0 || step.step === config.steps)
      ) {
        point.dice = [];
        for (const [k, m] of [a, b].entries()) {
          const restore = yield* usePreciseBn(k);
          const dice = yield* Effect.promise(() =>
            validationDice(predictors[k], pool.validation, w, h)
          );
          point.dice.push(dice);
          if (dice > best.dice[k]) {
            best.dice[k] = dice;
            best.models[k] = encodeModel(m, { step: step.step, validationDice: dice });
          }
          restore();
        }
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
    for (const k of [0, 1]) yield* usePreciseBn(k);
    yield* Effect.promise(() =>
      Promise.all([...predictors, ...bnStats, step].map((x) => x.release()))
    );
    const names = ["model-a.safetensors", "model-b.safetensors"];
    const bestNames = ["best-a.safetensors", "best-b.safetensors"];
    for (const [k, m] of [a, b].entries()) {
      yield* ctx.write(names[k], encodeModel(m, { step: step.step, method: method.name }));
      yield* ctx.write(bestNames[k], best.dice[k] < 0 ? encodeModel(m) : best.models[k]);
    }
    yield* ctx.write("curves.json", encodeJson(curves));
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

/**
 * `batches` fixed, unaugmented batches of the training composition for precise BatchNorm:
 * `bl` labelled slices (real, plus synthetic where the method trains on them) and `bu`
 * unlabelled ones each, evenly spaced over the pool.
 */
function preciseBnImages(pool: Pool, s: Shapes, method: MethodSpec, batches: number) {
  return Effect.gen(function* () {
    const plane = s.w * s.h, images = new Float32Array(batches * (s.bl + s.bu) * plane);
    const labelled = [...pool.labelled, ...(method.synthetic ? pool.synthetic : [])];
    /** Item i of n evenly spaced over `list`. */
    const spaced = <T>(list: readonly T[], i: number, n: number) =>
      list[Math.floor(((i + 0.5) * list.length) / n)];
    let at = 0;
    for (let j = 0; j < batches; j++) {
      for (let i = 0; i < s.bl; i++, at += plane) {
        images.set(spaced(labelled, j * s.bl + i, batches * s.bl).image, at);
      }
      for (let i = 0; i < s.bu; i++, at += plane) {
        const ref = spaced(pool.unlabelled, j * s.bu + i, batches * s.bu);
        images.set(yield* pool.unlabelledSlice(ref), at);
      }
    }
    return images;
  });
}
