/**
 * augment (CMEMS): weak and strong views are drawn on the fly inside training from seeded
 * augmenters, not materialised: a view costs well under a millisecond to make, while storing
 * them would multiply the data by the number of steps. This stage checks that the recipe builds
 * and renders what training will see, for the report: a few labelled slices (the exemplar or
 * labelled volumes, then synthetic samples) as they are, their weak view and their strong view,
 * label contours moved with the views. For a 3D model: patches of labelled volumes centred on
 * their foreground, as is, weak and strong (3D views), each shown by its middle slice.
 */
import { Effect, Schema } from "effect";
import { AugmentConfig, ModelConfig } from "../../schemas/config.ts";
import { AugmentOutput } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { Rng } from "../../random/rng.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { allocViewBatch, ViewAugmenter } from "../../transforms/views.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import { type OverlayImage, renderOverlay, tilePng } from "../../report/overlay.ts";
import {
  inputSize,
  loadCase,
  normalizedCases,
  type NormalizedSource,
} from "../../training/cases.ts";
import { cropWindow, type Dims3, windowAround } from "../../deploy/sliding_window.ts";
import { applyStrong3, applyWeak3, sampleStrong3, sampleWeak3 } from "../../transforms/views3d.ts";

/** Rows of the preview: real labelled slices first, synthetic samples after. */
const REAL_ROWS = 2, ROWS = 4;

export const augment = defineStage({
  name: "augment",
  version: 3,
  needs: ["normalize", "synthesize"],
  shardable: false,
  select: (c) => ({ augment: c.augment, seed: c.seed, patch: c.train.model.patch }),
  input: Schema.Struct({
    augment: AugmentConfig,
    seed: Schema.Int,
    patch: ModelConfig.fields.patch,
  }),
  output: AugmentOutput,
  run: (ctx, { augment, seed, patch }) =>
    Effect.gen(function* () {
      const views = new ViewAugmenter(augment); // fails early on a recipe the transforms reject
      const norm = ctx.input("normalize"), synth = ctx.input("synthesize");
      const [w, h] = inputSize(norm) ?? [0, 0];
      const plane = w * h;
      const panel = (image: Float32Array, label: Uint8Array, pw = w, ph = h): OverlayImage =>
        renderOverlay(image, label, new Uint8Array(pw * ph), pw, ph, {
          scale: Math.max(1, Math.ceil(160 / pw)),
        });
      if (patch) {
        const rows = yield* patchRows(norm, augment, seed, [patch[2], patch[1], patch[0]], panel);
        if (!rows.length) return { preview: null };
        yield* ctx.write("views.png", tilePng(rows));
        return { preview: "views.png" };
      }
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

/**
 * Preview rows of a 3D model: a patch of each of the first labelled volumes, centred on its
 * foreground, as is, weak and strong (CutMix from the next row's patch); middle slices shown.
 */
function patchRows(
  norm: NormalizedSource,
  augment: typeof AugmentConfig.Type,
  seed: number,
  patch: Dims3,
  panel: (image: Float32Array, label: Uint8Array, w: number, h: number) => OverlayImage,
) {
  return Effect.gen(function* () {
    const [w, h] = inputSize(norm) ?? [0, 0];
    const size = patch[0] * patch[1] * patch[2];
    const patches: { image: Float32Array; label: Uint8Array }[] = [];
    for (const info of normalizedCases(norm)) {
      if (patches.length === ROWS) break;
      if (info.role === "validation" || info.role === "test" || !info.trainLabels.length) continue;
      const c = yield* loadCase(norm, info);
      const dims: Dims3 = [info.slices, h, w];
      const label = new Uint8Array(info.slices * w * h);
      for (const z of info.trainLabels) label.set(c.label(z)!, z * w * h);
      // The centre of the foreground's bounding box (the volume's centre without foreground).
      const lo = [...dims], hi = [0, 0, 0];
      label.forEach((v, i) => {
        if (!v) return;
        const at = [Math.floor(i / (w * h)), Math.floor(i / w) % h, i % w];
        at.forEach((a, k) => (lo[k] = Math.min(lo[k], a), hi[k] = Math.max(hi[k], a)));
      });
      const centre = dims.map((n, k) => (hi[k] >= lo[k] ? (lo[k] + hi[k]) >> 1 : n >> 1));
      const at = windowAround(centre as unknown as Dims3, dims, patch);
      const p = { image: new Float32Array(size), label: new Uint8Array(size) };
      cropWindow(c.image, dims, at, patch, p.image);
      cropWindow(label, dims, at, patch, p.label);
      patches.push(p);
    }
    const rng = new Rng(seed).fork("augment-preview");
    const mid = (x: Float32Array | Uint8Array) => {
      const plane = patch[1] * patch[2], z = patch[0] >> 1;
      return x.subarray(z * plane, (z + 1) * plane);
    };
    return patches.map((p, i) => {
      const weak = new Float32Array(size), weakLabel = new Uint8Array(size);
      const move = sampleWeak3(rng, patch, augment.weak);
      applyWeak3(move, p.image, patch, weak);
      applyWeak3(move, p.label, patch, weakLabel);
      const strong = weak.slice();
      const partner = patches[(i + 1) % patches.length].image;
      applyStrong3(sampleStrong3(rng, patch, augment.strong, 0), strong, patch, partner);
      return [
        panel(mid(p.image) as Float32Array, mid(p.label) as Uint8Array, patch[2], patch[1]),
        panel(mid(weak) as Float32Array, mid(weakLabel) as Uint8Array, patch[2], patch[1]),
        panel(mid(strong) as Float32Array, mid(weakLabel) as Uint8Array, patch[2], patch[1]),
      ];
    });
  });
}
