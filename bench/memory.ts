/**
 * `deno run -A bench/memory.ts [--steps 1000] [--json]`: resident memory over a long training
 * run of a small U-Net (16-32-64, batch 4x1x64x64, Adam, dropout, BatchNorm updates, an
 * output fetched every step). Passes when RSS after step 50 never exceeds the step-50 value by
 * more than 5 % (and 16 MiB), i.e. the run does not grow.
 */
import { cpus } from "node:os";
import * as L from "../engine/losses.ts";
import { UNet } from "../engine/models/unet.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { TrainStep } from "../engine/train.ts";
import { Rng } from "../random/rng.ts";

const i = Deno.args.indexOf("--steps");
const steps = i >= 0 ? Number(Deno.args[i + 1]) : 1000;
const json = Deno.args.includes("--json");
const B = 4, S = 64, K = 2;

function peakRss(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
}

const step = await TrainStep.build({
  models: { net: new UNet({ numClasses: K, channels: [16, 32, 64] }, new Rng(1)) },
  inputs: { image: [B, 1, S, S], label: { shape: [B, S, S], dtype: "int32" } },
  optimizer: adam(),
  session: { threads: cpus().length },
  loss: (g) => {
    const z = g.forward("net", g.input("image")).logits;
    const t = L.oneHot(g.input("label"), K);
    return {
      loss: op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t)),
      outputs: { probs: op.softmax(z, 1) },
    };
  },
});
const rng = new Rng(2);
const image = new Float32Array(B * S * S);
const label = new Int32Array(B * S * S);
const MiB = 1024 * 1024;
const rss: number[] = [];
const t0 = performance.now();
for (let s = 1; s <= steps; s++) {
  for (let j = 0; j < image.length; j++) image[j] = rng.normal();
  for (let j = 0; j < label.length; j++) label[j] = image[j] > 0.5 ? 1 : 0;
  await step.run({ image, label, lr: 1e-3 });
  rss.push(Deno.memoryUsage().rss);
}
const secs = (performance.now() - t0) / 1000;
const at = (s: number) => rss[Math.min(s, steps) - 1];
const after50 = rss.slice(50);
const maxAfter = Math.max(...after50);
const growth = maxAfter - at(50);
const flat = growth <= Math.max(0.05 * at(50), 16 * MiB);
const report = {
  steps,
  seconds: Math.round(secs * 10) / 10,
  rss_mib: Object.fromEntries(
    [1, 10, 50, 100, 250, 500, 750, 1000].filter((s) => s <= steps).map((
      s,
    ) => [s, +(at(s) / MiB).toFixed(1)]),
  ),
  max_rss_after_50_mib: +(maxAfter / MiB).toFixed(1),
  growth_after_50_mib: +(growth / MiB).toFixed(1),
  last_minus_step50_mib: +((at(steps) - at(50)) / MiB).toFixed(1),
  peak_rss_vmhwm_mib: +(peakRss() / MiB).toFixed(1),
  flat,
};
await step.release();
if (json) console.log(JSON.stringify(report));
else {
  console.log(`${steps} steps in ${report.seconds} s`);
  for (const [s, v] of Object.entries(report.rss_mib)) {
    console.log(`RSS at step ${s.padStart(4)}: ${v} MiB`);
  }
  console.log(
    `max RSS after step 50: ${report.max_rss_after_50_mib} MiB (growth ${report.growth_after_50_mib} MiB); peak (VmHWM) ${report.peak_rss_vmhwm_mib} MiB`,
  );
  console.log(flat ? "flat: yes" : "flat: NO (memory grows)");
}
if (!flat) Deno.exit(1);
