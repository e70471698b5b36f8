/**
 * normalize: each ingested case through preprocess/normalize.ts normalizeCase with the recipe of
 * the `normalize` config (recipe.ts recipeOf): in-plane body crop, intensity, resampling, resize
 * to `size`, every z-slice emitted. The full CaseTransform is recorded per case in the summary
 * (params.transform), so predict/export repeat it (applyRecorded) and evaluation maps
 * predictions back to the original grid (deploy/restore.ts restoreLabels).
 *
 * Labels stored per role: the exemplar's ONE annotated slice; labelled cases all slices, or only
 * those with foreground (`slices: "foreground"`); validation and test all slices (evaluation);
 * unlabelled none (ingest never had them).
 *
 * Artifact `slices-<id>.bin`, one per case, in the io/array_container.ts container: readers
 * (training/cases.ts loadCase) want the case's whole nz x H x W image as one contiguous
 * Float32Array, which the container holds as is. One artifact per case is what train streams: it
 * loads one case at a time.
 */
import { Effect } from "effect";
import { NormalizeConfig } from "../../schemas/config.ts";
import { NormalizeOutput, type SliceCase } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { caseArtifact } from "../../pipeline/artifact_name.ts";
import { byId } from "../../training/cases.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { normalizeCase } from "../../preprocess/normalize.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { decodeArrays, encodeArrays } from "../../io/array_container.ts";
import { recipeOf } from "../../schemas/normalize_recipe.ts";
import { stretchProblem, stretchProblems } from "./stretch_guard.ts";

export const normalize = defineStage({
  name: "normalize",
  version: 4,
  needs: ["ingest"],
  shardable: true,
  select: (c) => c.normalize,
  input: NormalizeConfig,
  output: NormalizeOutput,
  run: (ctx, config) =>
    Effect.gen(function* () {
      const upstream = ctx.input("ingest");
      const all = upstream.summaries.flatMap((s) => s.cases).sort(byId);
      const mine = all.filter((_, i) => i % ctx.shard.count === ctx.shard.index);
      const recipe = recipeOf(config);
      if (recipe.spacing?.length === 3 && all.some((c) => c.role === "exemplar")) {
        return yield* new ConfigError({
          problems: [
            "normalize.spacing: an exemplar's slice index must stay valid: give [x, y] (keeps z)",
          ],
        });
      }
      const stretched = stretchProblems(all, recipe, config.maxStretch);
      if (stretched.length) return yield* new ConfigError({ problems: stretched });
      const bar = ctx.reporter.progress("normalize", mine.length);
      const cases: SliceCase[] = [];
      for (const c of mine) {
        const { meta, arrays } = decodeArrays(yield* upstream.read(c.artifact));
        const image: Volume = {
          data: arrays.image.data as Float32Array,
          shape: c.shape,
          spacing: c.spacing,
          affine: c.affine,
        };
        const [nx, ny, nz] = c.shape;
        const stored = (meta.labelSlices as number[] | undefined) ?? [];
        const source = arrays.label?.data as Uint8Array | undefined;
        // The exemplar's one slice goes into an otherwise empty volume; labelledZ keeps the
        // other slices label-free.
        let label: LabelVolume | undefined;
        if (source && stored.length > 0) {
          let data = source;
          if (stored.length !== nz) {
            data = new Uint8Array(nx * ny * nz);
            stored.forEach((z, k) =>
              data.set(source.subarray(k * nx * ny, (k + 1) * nx * ny), z * nx * ny)
            );
          }
          label = { data, shape: c.shape, spacing: c.spacing, affine: c.affine };
        }
        const { slices, transform } = yield* Effect.try({
          try: () =>
            normalizeCase(
              c.id,
              image,
              label,
              recipe,
              label && stored.length !== nz ? { labelledZ: stored } : {},
            ),
          catch: (e) => e,
        });
        const [W, H] = [transform.output.shape[0], transform.output.shape[1]];
        // A body crop can shrink a slice further than its recorded shape showed.
        const cropped = config.maxStretch === null
          ? undefined
          : stretchProblem(c, transform.resampled.shape, [W, H], config.maxStretch);
        if (cropped) return yield* new ConfigError({ problems: [cropped] });
        const plane = W * H;
        const out = new Float32Array(slices.length * plane);
        slices.forEach((s, k) => out.set(s.image, k * plane));
        // Slices (output z) whose label is stored; loadCase's label(z) indexes the same z.
        const hasForeground = (l: Uint8Array) => l.some((v) => v !== 0);
        const keep = slices.filter((s) =>
          s.label !== undefined &&
          (c.role !== "labelled" || config.slices === "all" || hasForeground(s.label))
        );
        const labels = new Uint8Array(keep.length * plane);
        keep.forEach((s, k) => labels.set(s.label!, k * plane));
        const labelSlices = keep.map((s) => s.z);
        const artifact = caseArtifact("slices", c.id, ".bin");
        yield* ctx.write(
          artifact,
          // The transform rides in the header too, so the artifact's digest (what every
          // downstream key hashes) changes whenever the recorded transform does.
          encodeArrays({ id: c.id, labelSlices, transform }, {
            image: { data: out, shape: [slices.length, H, W] },
            ...(keep.length ? { label: { data: labels, shape: [keep.length, H, W] } } : {}),
          }),
        );
        cases.push({
          id: c.id,
          role: c.role,
          artifact,
          slices: slices.length,
          trainLabels: c.role === "exemplar" || c.role === "labelled" ? labelSlices : [],
          params: { size: [W, H], transform },
        });
        bar.tick();
      }
      bar.done();
      return { cases };
    }),
});
