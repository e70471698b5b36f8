/**
 * Benchmark: read + normalise all LA volumes into 128x128 slices and encode them as shards.
 *
 *   /usr/bin/time -v deno run -A preprocess/bench_la.ts [LIST_OR_FOLDER] [OUT_DIR]
 *
 * Prints JSON: case count, slices, h5 read ms per volume (image + label), normalise ms per
 * volume, total seconds, and the peak RSS / heap seen between cases (Deno.memoryUsage).
 */
import { discoverCases } from "../io/dataset.ts";
import { readCase } from "../io/cases.ts";
import { normalizeCase, type NormalizeRecipe, type Slice2D } from "./normalize.ts";
import { encodeShard } from "./shard.ts";

const source = Deno.args[0] ?? "/work/shared/data/la2018/train.list";
const outDir = Deno.args[1];
const recipe: NormalizeRecipe = { intensity: { kind: "zscore" }, size: [128, 128], slices: "all" };
const casesPerShard = 10;

const t0 = performance.now();
const specs = await discoverCases(source);
const tDiscover = performance.now() - t0;
let readMs = 0, normMs = 0, encodeMs = 0, slicesOut = 0, shardBytes = 0, shards = 0;
let peakRss = 0, peakHeap = 0;
let pending: Slice2D[] = [];
const flush = () => {
  if (pending.length === 0) return;
  const t = performance.now();
  const bytes = encodeShard(pending, { recipe });
  encodeMs += performance.now() - t;
  if (outDir) Deno.writeFileSync(`${outDir}/shard-${String(shards).padStart(3, "0")}.bin`, bytes);
  shardBytes += bytes.length;
  shards++;
  pending = [];
};
for (const [k, spec] of specs.entries()) {
  const t1 = performance.now();
  const { image, label } = await readCase(spec, { classes: [0, 1] });
  const t2 = performance.now();
  const { slices } = normalizeCase(spec.id, image, label, recipe);
  const t3 = performance.now();
  readMs += t2 - t1;
  normMs += t3 - t2;
  slicesOut += slices.length;
  pending.push(...slices);
  if ((k + 1) % casesPerShard === 0) flush();
  const m = Deno.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed + m.external);
}
flush();
const total = performance.now() - t0;
const MB = 1024 * 1024;
console.log(JSON.stringify({
  cases: specs.length,
  slices: slicesOut,
  shards,
  shardMB: +(shardBytes / MB).toFixed(1),
  discoverMs: +tDiscover.toFixed(0),
  readMsPerVolume: +(readMs / specs.length).toFixed(1),
  normalizeMsPerVolume: +(normMs / specs.length).toFixed(1),
  encodeMsTotal: +encodeMs.toFixed(0),
  totalSeconds: +(total / 1000).toFixed(2),
  peakRssMB: +(peakRss / MB).toFixed(0),
  peakHeapPlusExternalMB: +(peakHeap / MB).toFixed(0),
}));
