/**
 * normalize: z-score intensities per volume, resize each z-slice to the network size, and store
 * the slices of each case with the labels training may read (the exemplar's one slice; labelled
 * cases' slices) or evaluation needs (validation, test). Parameters are recorded per case.
 */
import { Effect } from "effect";
import { NormalizeConfig } from "../../schemas/config.ts";
import { type IngestOutput, NormalizeOutput, type SliceCase } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { decodeArrays, encodeArrays } from "../codec.ts";
import { resizeBilinear, resizeNearest } from "./resize.ts";

export const normalize = defineStage({
  name: "normalize",
  version: 1,
  needs: ["ingest"],
  shardable: true,
  select: (c) => c.normalize,
  input: NormalizeConfig,
  output: NormalizeOutput,
  run: (ctx, config) =>
    Effect.gen(function* () {
      const upstream = ctx.input("ingest");
      const all = upstream.summaries.flatMap((s) => (s as IngestOutput).cases);
      const mine = all.filter((_, i) => i % ctx.shard.count === ctx.shard.index);
      const [W, H] = config.size;
      const bar = ctx.reporter.progress("normalize", mine.length);
      const cases: SliceCase[] = [];
      for (const c of mine) {
        const { arrays } = decodeArrays(yield* upstream.read(c.artifact));
        const image = arrays.image.data as Float32Array;
        const [nx, ny, nz] = c.shape;
        let sum = 0, sq = 0;
        for (const v of image) (sum += v), (sq += v * v);
        const mean = config.intensity === "none" ? 0 : sum / image.length;
        const std = config.intensity === "none"
          ? 1
          : Math.sqrt(Math.max(sq / image.length - mean * mean, 1e-12));
        const slices = new Float32Array(nz * W * H);
        const plane = new Float32Array(nx * ny);
        for (let z = 0; z < nz; z++) {
          for (let i = 0; i < nx * ny; i++) plane[i] = (image[z * nx * ny + i] - mean) / std;
          resizeBilinear(plane, nx, ny, W, H, slices.subarray(z * W * H, (z + 1) * W * H));
        }
        const labelSlices = c.role === "exemplar"
          ? [c.exemplarSlice!]
          : c.hasLabel
          ? Array.from({ length: nz }, (_, z) => z)
          : [];
        const labels = new Uint8Array(labelSlices.length * W * H);
        const source = arrays.label?.data as Uint8Array | undefined;
        labelSlices.forEach((z, k) =>
          resizeNearest(
            source!.subarray(z * nx * ny, (z + 1) * nx * ny),
            nx,
            ny,
            W,
            H,
            labels.subarray(k * W * H, (k + 1) * W * H),
          )
        );
        const hasForeground = (k: number) =>
          labels.subarray(k * W * H, (k + 1) * W * H).some((v) => v !== 0);
        const trainLabels = c.role === "exemplar"
          ? labelSlices
          : c.role === "labelled"
          ? labelSlices.filter((_, k) => config.slices === "all" || hasForeground(k))
          : [];
        const artifact = `slices-${c.id}.bin`;
        yield* ctx.write(
          artifact,
          encodeArrays({ id: c.id, labelSlices }, {
            image: { data: slices, shape: [nz, H, W] },
            ...(labelSlices.length
              ? { label: { data: labels, shape: [labelSlices.length, H, W] } }
              : {}),
          }),
        );
        cases.push({
          id: c.id,
          role: c.role,
          artifact,
          slices: nz,
          trainLabels,
          params: { mean, std, originalShape: c.shape, size: [W, H] },
        });
        bar.tick();
      }
      bar.done();
      return { cases };
    }),
});
