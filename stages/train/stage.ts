/**
 * train: two models learn together. Each step: both fit the labelled batch (exemplar/labelled
 * slices + synthetic samples, weak views); for the mutual-learning methods each model's confident
 * predictions on weak views of unlabelled slices supervise the OTHER model on strong views
 * (weight ramped with sigmoid_rampup). Checkpoints every N steps (weights, optimizer state, RNG,
 * curves); a retried attempt continues from the newest and ends bit-identical.
 */
import { Effect, Schema } from "effect";
import { TrainConfig } from "../../schemas/config.ts";
import { type SynthesizeOutput, TrainOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { Interrupted } from "../../pipeline/errors.ts";
import { abortSignalName } from "../../pipeline/runner.ts";
import { Rng } from "../../random/rng.ts";
import { allocViewBatch, mixLikeStrong, ViewAugmenter } from "../../transforms/views.ts";
import { AugmentConfig } from "../../schemas/config.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import { decodeArrays, encodeArrays } from "../codec.ts";
import { loadCase, normalizedCases } from "../slices.ts";
import { FEATURES, pixelFeatures, PixelModel } from "./pixel_model.ts";
import { sigmoidRampup } from "./ramps.ts";
import { diceScores, predictVolume } from "./predict.ts";

interface Sample {
  image: Float32Array;
  label?: Uint8Array;
}

export const train = defineStage({
  name: "train",
  version: 1,
  needs: ["normalize", "synthesize", "augment"],
  shardable: false,
  select: (c) => ({
    train: c.train,
    augment: c.augment,
    seed: c.seed,
    classes: c.data.classes.length,
  }),
  input: Schema.Struct({
    train: TrainConfig,
    augment: AugmentConfig,
    seed: Schema.Int,
    classes: Schema.Int,
  }),
  output: TrainOutput,
  run: (ctx, { train: config, augment, seed, classes }) =>
    Effect.gen(function* () {
      const started = performance.now();
      const norm = ctx.input("normalize");
      const labelled: Sample[] = [];
      const unlabelled: Sample[] = [];
      const validation: { image: Float32Array; labels: Uint8Array; slices: number }[] = [];
      let w = 0, h = 0;
      for (const info of normalizedCases(norm)) {
        if (info.role === "test") continue;
        const c = yield* loadCase(norm, info);
        [w, h] = [c.width, c.height];
        const plane = w * h;
        if (info.role === "validation") {
          const labels = new Uint8Array(info.slices * plane);
          for (let z = 0; z < info.slices; z++) labels.set(c.label(z)!, z * plane);
          validation.push({ image: c.image, labels, slices: info.slices });
          continue;
        }
        for (let z = 0; z < info.slices; z++) {
          const image = c.image.subarray(z * plane, (z + 1) * plane);
          if (info.trainLabels.includes(z)) labelled.push({ image, label: c.label(z) });
          else unlabelled.push({ image });
        }
      }
      const synth = ctx.input("synthesize");
      for (const name of (synth.summaries as SynthesizeOutput[]).flatMap((s) => s.artifacts)) {
        const { arrays } = decodeArrays(yield* synth.read(name));
        const n = arrays.image.shape[0], plane = w * h;
        for (let i = 0; i < n; i++) {
          labelled.push({
            image: (arrays.image.data as Float32Array).subarray(i * plane, (i + 1) * plane),
            label: (arrays.label.data as Uint8Array).subarray(i * plane, (i + 1) * plane),
          });
        }
      }
      const mutual = config.method !== "supervised" && unlabelled.length > 0 &&
        config.batch.unlabelled > 0;

      // State: restored from the newest checkpoint when a previous attempt left one.
      let rng = new Rng(seed).fork("train");
      const init = rng.fork("init");
      const models = [
        new PixelModel(classes, () => init.normal()),
        new PixelModel(classes, () => init.normal()),
      ];
      let step = 0;
      let curves: { step: number; loss: number[]; dice?: number[] }[] = [];
      const saved = yield* ctx.checkpoints.load("latest.bin");
      if (saved) {
        const { meta, arrays } = decodeArrays(saved);
        step = meta.step as number;
        curves = meta.curves as typeof curves;
        rng = new Rng(Uint32Array.from(meta.rng as number[]));
        models.forEach((m, k) => {
          m.weights.set(arrays[`w${k}`].data as Float32Array);
          m.velocity.set(arrays[`v${k}`].data as Float32Array);
        });
        ctx.reporter.info(`train: resuming from checkpoint at step ${step}`);
      }
      const checkpoint = () =>
        ctx.checkpoints.save(
          "latest.bin",
          encodeArrays(
            { step, curves, rng: [...rng.state()] },
            Object.fromEntries(models.flatMap((m, k) => [
              [`w${k}`, { data: m.weights, shape: [m.weights.length] }],
              [`v${k}`, { data: m.velocity, shape: [m.velocity.length] }],
            ])),
          ),
        );

      const plane = w * h;
      const views = new ViewAugmenter(augment);
      const lb = allocViewBatch(config.batch.labelled, h, w, true);
      const ub = allocViewBatch(Math.max(config.batch.unlabelled, 1), h, w, true);
      const features = new Float32Array(FEATURES * plane);
      const probs = new Float32Array(classes * plane);
      const pseudo = [new Uint8Array(ub.n * plane), new Uint8Array(ub.n * plane)];
      const pseudoStrong = [new Uint8Array(ub.n * plane), new Uint8Array(ub.n * plane)];
      const grads = models.map(() => new Float32Array(classes * FEATURES));
      const bar = ctx.reporter.progress(`train ${config.method}`, config.steps);
      bar.tick(step);
      while (step < config.steps) {
        // A macrotask turn per step, so SIGTERM/SIGINT listeners run during the synchronous math.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 0)));
        if (ctx.signal.aborted) {
          yield* checkpoint();
          return yield* new Interrupted({ signal: abortSignalName(ctx.signal) });
        }
        const lr = config.optimizer.lr *
          (config.optimizer.schedule === "poly" ? Math.pow(1 - step / config.steps, 0.9) : 1);
        const weight = config.consistency *
          sigmoidRampup(Math.floor(step / config.rampupEpoch), config.rampup);
        grads.forEach((g) => g.fill(0));
        const loss = [0, 0];
        const batch = Array.from({ length: lb.n }, () => labelled[rng.int(0, labelled.length)]);
        views.batch(
          batch.map((s) => image2d(w, h, s.image)),
          rng,
          lb,
          batch.map((s) => label2d(w, h, s.label!)),
        );
        for (let i = 0; i < lb.n; i++) {
          pixelFeatures(lb.weak.subarray(i * plane, (i + 1) * plane), w, h, features);
          models.forEach((m, k) =>
            loss[k] += m.accumulate(
              features,
              plane,
              lb.weakLabels!.subarray(i * plane, (i + 1) * plane),
              1,
              grads[k],
              probs,
            ) / plane
          );
        }
        let count = lb.n * plane;
        if (mutual) {
          const batchU = Array.from({ length: ub.n }, () =>
            unlabelled[rng.int(0, unlabelled.length)]);
          const params = views.batch(
            batchU.map((s) =>
              image2d(w, h, s.image)
            ),
            rng,
            ub,
          );
          for (let i = 0; i < ub.n; i++) {
            pixelFeatures(ub.weak.subarray(i * plane, (i + 1) * plane), w, h, features);
            models.forEach((m, k) => {
              m.predict(features, plane, probs);
              const out = pseudo[k].subarray(i * plane, (i + 1) * plane);
              for (let p = 0; p < plane; p++) {
                let best = 0;
                for (
                  let c = 1;
                  c < classes;
                  c++
                ) if (probs[c * plane + p] > probs[best * plane + p]) best = c;
                out[p] = probs[best * plane + p] >= config.confidence ? best : 255;
              }
            });
          }
          models.forEach((_, k) => mixLikeStrong(pseudo[k], pseudoStrong[k], params, 1, h, w));
          for (let i = 0; i < ub.n; i++) {
            pixelFeatures(ub.strong.subarray(i * plane, (i + 1) * plane), w, h, features);
            models.forEach((m, k) => {
              const teacher = pseudoStrong[1 - k].subarray(i * plane, (i + 1) * plane);
              loss[k] += m.accumulate(features, plane, teacher, weight, grads[k], probs) / plane;
            });
          }
          count += ub.n * plane;
        }
        models.forEach((m, k) => m.step(grads[k], count, lr * 50, config.optimizer.momentum));
        step++;
        const point: (typeof curves)[number] = { step, loss: loss.map((l) => l / lb.n) };
        if (validation.length && (step % config.validateEvery === 0 || step === config.steps)) {
          point.dice = models.map((m) =>
            diceScores(
              validation.map((v) => ({
                labels: v.labels,
                pred: predictVolume(m, v.image, v.slices, w, h),
              })),
              classes,
            )
          );
        }
        curves.push(point);
        if (step % config.checkpointEvery === 0) yield* checkpoint();
        bar.tick(1, `loss ${point.loss.map((l) => l.toFixed(3)).join(" / ")}`);
      }
      bar.done();
      const names = ["model-a.bin", "model-b.bin"];
      for (const [k, m] of models.entries()) {
        yield* ctx.write(
          names[k],
          encodeArrays({ kind: "pixel-softmax", classes, features: FEATURES }, {
            weights: { data: m.weights, shape: [classes, FEATURES] },
          }),
        );
      }
      yield* ctx.write("curves.json", encodeJson(curves));
      const last = [...curves].reverse().find((c) => c.dice);
      return {
        method: config.method,
        steps: step,
        models: names,
        curves: "curves.json",
        validationDice: last?.dice ?? [],
        seconds: (performance.now() - started) / 1000,
      };
    }),
});
