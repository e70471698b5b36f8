/**
 * refine: both models predict the unlabelled pool (slice by slice, or through 3D windows, as
 * they were trained); their probabilities are averaged and pixels below the confidence
 * threshold τ are left out (255). τ is also the pair's disagreement (uncertainty) filter: a mean
 * of two probabilities ≥ τ needs each ≥ 2τ − 1 (0.8 at the default 0.9), so for τ > 0.75 both
 * models' argmax agree wherever a pixel is kept. Each class is cleaned to its largest 3D
 * connected component (`largestComponent`). With `secondRoundSteps` > 0 both models then train
 * on labelled + pseudo-labelled slices or patches (ELSNet stage 2 / Semi-CML PReL) and evaluate
 * and export use the refined pair; with `soft` (2D) they re-learn the fused probabilities
 * (sharpened, confidence-weighted: Semi-CML's PReL) instead of the filtered hard labels.
 * Disabled by default (the pass-through keeps the pipeline shape fixed).
 */
import { Effect, Schema } from "effect";
import { AugmentConfig, RefineConfig, TrainConfig } from "../../schemas/config.ts";
import { RefineOutput } from "../../schemas/outputs.ts";
import { CHECKPOINT_GRACE_MS, defineStage } from "../../pipeline/stage.ts";
import { caseArtifact } from "../../pipeline/artifact_name.ts";
import { encodeArrays } from "../../io/array_container.ts";
import { encodeJson } from "../../pipeline/digest.ts";
import { keepLargestComponent } from "../../metrics/components.ts";
import { Predictor } from "../../engine/predict.ts";
import { decodeModel, type Inference, withMirror } from "../../deploy/weights.ts";
import { predictorSpatial, predictVolume } from "../../deploy/predict_volume.ts";
import { trainPair } from "../../training/train_pair.ts";
import { relearn, relearnSoft } from "../../training/methods.ts";
import { loadPool } from "../../training/pool.ts";
import { sliceData } from "../../training/batches.ts";
import { foregroundVoxels, loadVolumePool } from "../../training/volume_pool.ts";
import { patchData, type PseudoLabelledVolume } from "../../training/patches.ts";
import type { TrainingData } from "../../training/data.ts";
import { inputSize, loadCase, normalizedCases } from "../../training/cases.ts";
import { meanDice } from "../../training/validate.ts";
import type { SliceCase } from "../../schemas/outputs.ts";

/** The output when refine has no pseudo-labels to make (off, or no unlabelled case). */
const nothing = (enabled: boolean) => ({
  enabled,
  pseudoLabelledSlices: 0,
  quality: null,
  secondRound: null,
  models: [],
});

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * Mean over foreground classes of the 3D Dice pooled over volumes, counting only the pixels the
 * prediction keeps (255: left out, as refine leaves out unsure pixels); a class absent from both
 * counts as 1.
 */
function keptDice(cases: readonly (readonly [Uint8Array, Uint8Array])[], classes: number) {
  let total = 0;
  for (let k = 1; k < classes; k++) {
    let inter = 0, sum = 0;
    for (const [truth, pred] of cases) {
      for (let i = 0; i < truth.length; i++) {
        if (pred[i] === 255) continue;
        const t = truth[i] === k, p = pred[i] === k;
        if (t && p) inter++;
        sum += Number(t) + Number(p);
      }
    }
    total += sum === 0 ? 1 : 2 * inter / sum;
  }
  return total / (classes - 1);
}

export const refine = defineStage({
  name: "refine",
  version: 10,
  needs: ["normalize", "synthesize", "train"],
  // Not sharded: the second round trains on the pseudo-labels of the whole pool.
  shardable: false,
  stopGraceMs: CHECKPOINT_GRACE_MS,
  select: (c) => ({
    refine: c.refine,
    classes: c.data.classes.length,
    train: c.train,
    augment: c.augment,
    seed: c.seed,
    // The gate scores both rounds as evaluate will (largest component, test-time mirroring).
    largestComponent: c.evaluate.largestComponent,
    mirror: c.evaluate.mirror,
  }),
  input: Schema.Struct({
    refine: RefineConfig,
    classes: Schema.Int,
    train: TrainConfig,
    augment: AugmentConfig,
    seed: Schema.Int,
    largestComponent: Schema.Boolean,
    mirror: Schema.Boolean,
  }),
  output: RefineOutput,
  run: (ctx, { refine: config, classes, train, augment, seed, largestComponent, mirror }) =>
    Effect.gen(function* () {
      if (!config.enabled) return nothing(false);
      const norm = ctx.input("normalize");
      const trained = ctx.input("train");
      const pool = normalizedCases(norm).filter((c) => c.role === "unlabelled");
      if (!pool.length) return nothing(true);
      const pseudo = new Map<string, Uint8Array>();
      // Fused probabilities [slices, K, H, W] quantised to 0..255, for a soft second round.
      const fused = new Map<string, Uint8Array>();
      const [W, H] = inputSize(norm)!;
      /** A model artifact's predictor, over slices or 3D windows as it was trained (recorded). */
      const predictorOf = (bytes: Uint8Array) => {
        const decoded = decodeModel(bytes);
        const spatial = predictorSpatial(decoded.inference, W, H);
        return Effect.promise(async () => ({
          predictor: await Predictor.create(decoded.model, { spatial }),
          inference: decoded.inference,
        }));
      };
      const predictors: Predictor[] = [];
      let inference: Inference = { kind: "slices" };
      for (const artifact of trained.summaries[0].models) {
        const made = yield* predictorOf(yield* trained.read(artifact));
        inference = made.inference;
        predictors.push(made.predictor);
      }
      /** The pair's fused pseudo-labels of a case (255 where unsure), and the fused probabilities. */
      const pseudoLabel = (info: SliceCase) =>
        Effect.gen(function* () {
          const c = yield* loadCase(norm, info);
          const plane = c.width * c.height;
          const probs = predictors.map(() => new Float32Array(info.slices * classes * plane));
          const argmax: Uint8Array[] = [];
          for (const [k, p] of predictors.entries()) {
            argmax.push(
              yield* Effect.promise(() =>
                predictVolume(p, inference, c.image, info.slices, c.width, c.height, probs[k])
              ),
            );
          }
          const labels = new Uint8Array(info.slices * plane);
          const soft = config.soft ? new Uint8Array(info.slices * classes * plane) : undefined;
          for (let z = 0; z < info.slices; z++) {
            for (let q = 0; q < plane; q++) {
              let best = 0, bestP = -1;
              for (let k = 0; k < classes; k++) {
                const i = (z * classes + k) * plane + q;
                const mean = probs.reduce((s, pr) => s + pr[i], 0) / probs.length;
                if (soft) soft[i] = Math.round(mean * 255);
                if (mean > bestP) [best, bestP] = [k, mean];
              }
              labels[z * plane + q] = bestP >= config.confidence ? best : 255;
            }
          }
          const cleaned = config.largestComponent
            ? keepLargestComponent(labels, [c.width, c.height, info.slices], {
              classes: Array.from({ length: classes - 1 }, (_, k) => k + 1),
            })
            : labels;
          return { c, labels: cleaned, soft, argmax };
        });

      let slices = 0;
      const bar = ctx.reporter.progress("refine", pool.length);
      for (const info of pool) {
        const { c, labels, soft } = yield* pseudoLabel(info);
        slices += info.slices;
        pseudo.set(info.id, labels);
        if (soft) fused.set(info.id, soft);
        yield* ctx.write(
          caseArtifact("pseudo", info.id, ".bin"),
          encodeArrays({ id: info.id }, {
            label: { data: labels, shape: [info.slices, c.height, c.width] },
          }),
        );
        bar.tick();
      }
      bar.done();

      // Are the pseudo-labels better than the models that made them? Measured on the validation
      // cases: Dice of the kept pseudo-labels against each model's Dice, both 3D over volumes.
      const validation = normalizedCases(norm).filter((c) => c.role === "validation");
      // The first round as the gate (and evaluate) sees it: mirrored where evaluate mirrors.
      const gate = withMirror(inference, mirror);
      const scored: {
        labels: Uint8Array;
        pseudo: Uint8Array;
        models: Uint8Array[];
        gated: Uint8Array[];
      }[] = [];
      for (const info of validation) {
        const { c, labels, argmax } = yield* pseudoLabel(info);
        const plane = c.width * c.height, truth = new Uint8Array(info.slices * plane);
        for (let z = 0; z < info.slices; z++) truth.set(c.label(z)!, z * plane);
        const gated = gate === inference
          ? argmax
          : yield* Effect.forEach(predictors, (p) =>
            Effect.promise(() =>
              predictVolume(p, gate, c.image, info.slices, c.width, c.height)
            ));
        scored.push({ labels: truth, pseudo: labels, models: argmax, gated });
      }
      yield* Effect.promise(() => Promise.all(predictors.map((p) => p.release())));
      const quality = scored.length
        ? {
          pseudo: keptDice(scored.map((s) => [s.labels, s.pseudo]), classes),
          kept: scored.reduce((n, s) => n + s.pseudo.filter((v) => v !== 255).length, 0) /
            scored.reduce((n, s) => n + s.pseudo.length, 0),
          models: predictors.map((_, k) =>
            keptDice(scored.map((s) => [s.labels, s.models[k]]), classes)
          ),
        }
        : null;
      if (quality) {
        ctx.reporter.info(
          `refine: pseudo-labels ${pct(quality.pseudo)} Dice on the ${
            pct(quality.kept)
          } of validation pixels they keep; models ${
            quality.models.map(pct).join(" / ")
          } over every pixel`,
        );
      }
      const worse = quality !== null && quality.pseudo <= Math.max(...quality.models);
      if (config.secondRoundSteps > 0 && worse && config.onlyIfBetter) {
        ctx.reporter.warn(
          "refine: no second round: the pseudo-labels are not better than the models that made " +
            "them on the validation split (refine.onlyIfBetter); evaluate and export keep the " +
            "first round's models",
        );
      }
      if (config.secondRoundSteps === 0 || (worse && config.onlyIfBetter)) {
        return {
          enabled: true,
          pseudoLabelledSlices: slices,
          quality,
          secondRound: null,
          models: [],
        };
      }
      // Second round: both models continue from their trained weights on the labelled slices
      // (or patches) plus pseudo-labelled ones (every batch position after the first).
      const summary = trained.summaries[0];
      const start = [
        yield* trained.read(summary.models[0]),
        yield* trained.read(summary.models[1]),
      ] as const;
      let data: TrainingData;
      let extra: Parameters<typeof trainPair>[1]["extra"];
      if (inference.kind === "windows") {
        const volumes = yield* loadVolumePool(norm);
        const pseudoVolumes: PseudoLabelledVolume[] = [];
        volumes.unlabelled.forEach((v, index) => {
          const label = pseudo.get(v.id);
          if (label) pseudoVolumes.push({ index, label, foreground: foregroundVoxels(label) });
        });
        data = patchData(volumes, inference, train.foregroundPatches, pseudoVolumes);
      } else {
        const slices2d = yield* loadPool(
          norm,
          config.synthetic ? ctx.input("synthesize") : undefined,
          undefined,
          inference.context,
        );
        const refs = slices2d.unlabelled.filter((r) => pseudo.has(slices2d.caseIds[r.c]));
        const plane = slices2d.width * slices2d.height;
        data = sliceData(slices2d);
        extra = (rng) =>
          Effect.gen(function* () {
            const ref = refs[rng.int(0, refs.length)];
            const id = slices2d.caseIds[ref.c], labels = pseudo.get(id)!, probs = fused.get(id);
            return {
              image: yield* slices2d.unlabelledSlice(ref),
              label: labels.subarray(ref.z * plane, (ref.z + 1) * plane),
              probs: probs?.subarray(ref.z * classes * plane, (ref.z + 1) * classes * plane),
            };
          });
      }
      // The second round's models, kept as they are written, to score them below.
      const written = new Map<string, Uint8Array>();
      const host = {
        ...ctx,
        write: (name: string, bytes: Uint8Array) => {
          written.set(name, bytes);
          return ctx.write(name, bytes);
        },
      };
      const out = yield* trainPair(host, {
        config: {
          ...train,
          steps: config.secondRoundSteps,
          optimizer: { ...train.optimizer, lr: config.secondRoundLr ?? train.optimizer.lr },
        },
        augment,
        seed,
        classes,
        data,
        method: {
          ...(config.soft ? relearnSoft(config.softTemperature) : relearn),
          synthetic: config.synthetic,
        },
        start,
        extra,
      });
      // ... and is the second round better than the first? Both are scored on the validation
      // cases as evaluate scores them (largest component per class and test-time mirroring when
      // evaluate uses them); a gate on training's own validation Dice (no post-processing) once
      // kept a worse round.
      const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const score = (volumes: readonly Uint8Array[]) =>
        meanDice(
          scored.map((s, i) => ({
            labels: s.labels,
            pred: largestComponent
              ? keepLargestComponent(volumes[i], [W, H, s.labels.length / (W * H)])
              : volumes[i],
          })),
          classes,
        );
      const before = scored.length
        ? predictors.map((_, k) => score(scored.map((s) => s.gated[k])))
        : [];
      const second: { predictor: Predictor; inference: Inference }[] = [];
      for (const name of scored.length ? out.models : []) {
        second.push(yield* predictorOf(written.get(name)!));
      }
      const preds = second.map((): Uint8Array[] => []);
      for (const info of second.length ? validation : []) {
        const c = yield* loadCase(norm, info);
        for (const [k, m] of second.entries()) {
          preds[k].push(
            yield* Effect.promise(() =>
              predictVolume(
                m.predictor,
                withMirror(m.inference, mirror),
                c.image,
                info.slices,
                c.width,
                c.height,
              )
            ),
          );
        }
      }
      yield* Effect.promise(() => Promise.all(second.map((m) => m.predictor.release())));
      const after = preds.map(score);
      const kept = !config.onlyIfBetter || !after.length || !before.length ||
        mean(after) > mean(before);
      ctx.reporter.info(
        `refine: second round ${after.map(pct).join(" / ")} validation Dice, first round ${
          before.map(pct).join(" / ")
        }`,
      );
      if (!kept) {
        ctx.reporter.warn(
          "refine: the second round is worse than the first on the validation split " +
            "(refine.onlyIfBetter); evaluate and export keep the first round's models",
        );
      }
      const models = kept ? out.models : [];
      // Which models downstream uses is an artifact too, so evaluate's and export's keys (which
      // hash artifacts, not summaries) change with the decision.
      yield* ctx.write("models.json", encodeJson({ models, secondRound: { after, before, kept } }));
      return {
        enabled: true,
        pseudoLabelledSlices: slices,
        quality,
        secondRound: { validationDice: after, firstRoundDice: before, kept },
        models,
      };
    }),
});
