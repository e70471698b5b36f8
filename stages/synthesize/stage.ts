/**
 * synthesize (ELSNet): annotated samples made from the exemplar / labelled slices by a global
 * affine + elastic deformation, cut-and-paste of each labelled region (touching classes as one)
 * with its own transform onto the deformed exemplar or an unlabelled background, and an
 * intensity change (transforms/synthesis.ts). Sample i is drawn from rng.fork(i), so shards produce the same
 * samples as a single process.
 */
import { Effect, Schema, Struct } from "effect";
import { SynthesizeConfig } from "../../schemas/config.ts";
import { SynthesizeOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { Rng } from "../../random/rng.ts";
import { type Image2D, image2d, label2d } from "../../transforms/image2d.ts";
import { synthesizeStack } from "../../transforms/synthesis.ts";
import { sliceWithNeighbours } from "../../deploy/slices.ts";
import { encodeArrays } from "../../io/array_container.ts";
import { loadCase, normalizedCases } from "../../training/cases.ts";

/** Unlabelled slices offered as backgrounds (a seeded sample keeps memory bounded). */
const BACKGROUNDS = 64;

export const synthesize = defineStage({
  name: "synthesize",
  version: 5,
  needs: ["normalize"],
  shardable: true,
  // A 2.5D model's samples carry the exemplar's neighbouring slices too (absent: single slices).
  // Fields added later key the stage only when set away from their default, so the samples
  // (and every stage after) of configs that leave them alone keep their keys.
  select: (c) => {
    const { backgroundLabels, ...synthesize } = c.synthesize;
    return {
      synthesize,
      seed: c.seed,
      ...(c.train.model.context ? { context: c.train.model.context } : {}),
      ...(backgroundLabels !== "background" ? { backgroundLabels } : {}),
    };
  },
  input: Schema.Struct({
    synthesize: SynthesizeConfig.mapFields(Struct.omit(["backgroundLabels"])),
    seed: Schema.Int,
    context: Schema.optionalKey(Schema.Int),
    backgroundLabels: Schema.optionalKey(SynthesizeConfig.fields.backgroundLabels),
  }),
  output: SynthesizeOutput,
  run: (ctx, { synthesize: config, seed, context = 0, backgroundLabels = "background" }) =>
    Effect.gen(function* () {
      const mine = Array.from({ length: config.count }, (_, i) => i).filter((i) =>
        i % ctx.shard.count === ctx.shard.index
      );
      const up = ctx.input("normalize");
      const cases = normalizedCases(up);
      const labelled = cases.filter((c) => c.trainLabels.length > 0);
      if (!labelled.length || !mine.length) return { samples: 0, artifacts: [] };
      const root = new Rng(seed).fork("synthesize");
      /** Slice z and its `context` neighbours on each side, as planes (a copy: the case is freed). */
      const planes = (
        c: { image: Float32Array; width: number; height: number },
        slices: number,
        z: number,
      ) => {
        const plane = c.width * c.height;
        const stack = sliceWithNeighbours(c.image, slices, plane, z, context).slice();
        return Array.from(
          { length: 2 * context + 1 },
          (_, k) => image2d(c.width, c.height, stack.subarray(k * plane, (k + 1) * plane)),
        );
      };
      const sources: { planes: Image2D[]; label: ReturnType<typeof label2d> }[] = [];
      for (const info of labelled) {
        const c = yield* loadCase(up, info);
        for (const z of info.trainLabels) {
          sources.push({
            planes: planes(c, info.slices, z),
            label: label2d(c.width, c.height, c.label(z)!),
          });
        }
      }
      const pool = cases.filter((c) => c.role === "unlabelled");
      const pick = root.fork("backgrounds");
      const wanted = new Map<string, number[]>();
      for (let k = 0; pool.length && k < BACKGROUNDS; k++) {
        const info = pool[pick.int(0, pool.length)];
        wanted.set(info.id, [...(wanted.get(info.id) ?? []), pick.int(0, info.slices)]);
      }
      // backgrounds[k]: plane k of every background (k = context: the background slices).
      const backgrounds: Image2D[][] = Array.from({ length: 2 * context + 1 }, () => []);
      for (const info of pool.filter((c) => wanted.has(c.id))) {
        const c = yield* loadCase(up, info);
        for (const z of wanted.get(info.id)!) {
          planes(c, info.slices, z).forEach((p, k) => backgrounds[k].push(p));
        }
      }
      const { width: w, height: h } = sources[0].label;
      const bar = ctx.reporter.progress("synthesize", mine.length);
      const artifacts: string[] = [];
      for (const i of mine) {
        const rng = root.fork(i);
        const exemplar = sources[rng.int(0, sources.length)];
        const s = synthesizeStack(exemplar.planes, exemplar.label, backgrounds, rng, {
          affine: { scale: config.scale, rotationDeg: config.rotateDegrees },
          elastic: { alpha: config.elastic.alpha, sigma: config.elastic.sigma },
          backgroundProbability: config.backgroundProbability,
          backgroundLabels,
          pasteProbability: config.pasteProbability,
          pasteGroups: config.pasteGroups,
          pasteScale: config.scale,
          pasteRotationDeg: config.rotateDegrees,
          pasteGain: config.gain,
          intensityProbability: config.intensity.probability,
          contrast: config.intensity.contrast,
          gamma: config.intensity.gamma,
          noiseStd: config.intensity.noise,
          curveProbability: config.intensity.curve,
          curvePoints: config.intensity.curvePoints,
        });
        // One artifact per sample: the stage's outputs do not depend on the shard count.
        const artifact = `synthetic-${String(i).padStart(5, "0")}.bin`;
        yield* ctx.write(
          artifact,
          encodeArrays({ index: i }, {
            image: context
              ? { data: s.planes, shape: [1, 2 * context + 1, h, w] }
              : { data: s.image.data, shape: [1, h, w] },
            label: { data: s.label.data, shape: [1, h, w] },
          }),
        );
        artifacts.push(artifact);
        bar.tick();
      }
      bar.done();
      return { samples: mine.length, artifacts };
    }),
});
