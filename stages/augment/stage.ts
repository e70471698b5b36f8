/**
 * augment (CMEMS): weak and strong views are drawn on the fly inside training from seeded
 * augmenters, not materialised: a view costs well under a millisecond to make, while storing
 * them would multiply the data by the number of steps. This stage checks that the recipe builds
 * and renders what training will see, for the report: a few labelled slices (the exemplar or
 * labelled volumes, then synthetic samples) as they are, their weak view and their strong view,
 * label contours moved with the views.
 */
import { Effect, Schema } from "effect";
import { AugmentConfig } from "../../schemas/config.ts";
import { AugmentOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { Rng } from "../../random/rng.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { allocViewBatch, ViewAugmenter } from "../../transforms/views.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import { type OverlayImage, renderOverlay, tilePng } from "../../report/overlay.ts";
import { inputSize, loadCase, normalizedCases } from "../../training/cases.ts";

/** Rows of the preview: real labelled slices first, synthetic samples after. */
const REAL_ROWS = 2, ROWS = 4;

export const augment = defineStage({
  name: "augment",
  version: 2,
  needs: ["normalize", "synthesize"],
  shardable: false,
  select: (c) => ({ augment: c.augment, seed: c.seed }),
  input: Schema.Struct({ augment: AugmentConfig, seed: Schema.Int }),
  output: AugmentOutput,
  run: (ctx, { augment, seed }) =>
    Effect.gen(function* () {
      const views = new ViewAugmenter(augment); // fails early on a recipe the transforms reject
      const norm = ctx.input("normalize"), synth = ctx.input("synthesize");
      const [w, h] = inputSize(norm) ?? [0, 0];
      const plane = w * h;
      const slices: { image: Float32Array; label: Uint8Array }[] = [];
      for (const info of normalizedCases(norm)) {
        if (info.role === "validation" || info.role === "test" || !info.trainLabels.length) {
          continue;
        }
        const c = yield* loadCase(norm, info);
        for (const z of info.trainLabels.slice(0, REAL_ROWS - slices.length)) {
          slices.push({ image: c.image.slice(z * plane, (z + 1) * plane), label: c.label(z)! });
        }
        if (slices.length === REAL_ROWS) break;
      }
      for (const name of synth.summaries.flatMap((s) => s.artifacts).sort()) {
        if (slices.length === ROWS) break;
        const { arrays } = decodeArrays(yield* synth.read(name));
        const images = arrays.image.data as Float32Array, labels = arrays.label.data as Uint8Array;
        for (let i = 0; slices.length < ROWS && i < arrays.image.shape[0]; i++) {
          const at = i * plane;
          slices.push({
            image: images.subarray(at, at + plane),
            label: labels.subarray(at, at + plane),
          });
        }
      }
      if (!slices.length) return { preview: null };
      const out = allocViewBatch(slices.length, h, w, true);
      views.batch(
        slices.map((s) => image2d(w, h, s.image)),
        new Rng(seed).fork("augment-preview"),
        out,
        slices.map((s) => label2d(w, h, s.label)),
      );
      const none = new Uint8Array(plane);
      const panel = (image: Float32Array, label: Uint8Array): OverlayImage =>
        renderOverlay(image, label, none, w, h, { scale: Math.max(1, Math.ceil(160 / w)) });
      const rows = slices.map((s, i) => {
        const at = i * plane;
        return [
          panel(s.image, s.label),
          panel(out.weak.subarray(at, at + plane), out.weakLabels!.subarray(at, at + plane)),
          panel(out.strong.subarray(at, at + plane), out.strongLabels!.subarray(at, at + plane)),
        ];
      });
      yield* ctx.write("views.png", tilePng(rows));
      return { preview: "views.png" };
    }),
});
