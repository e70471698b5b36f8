/**
 * `deno task bench [--json] [--rounds R] [--steps N] [--threads T] [--no-methods] [--no-3d]`
 *
 * Duet's benchmark U-Net training step, inference batch and dual-model step, and the 3D V-Net
 * step and sliding-window inference of one LA volume (bench/volume.ts), against PyTorch 1.13 CPU
 * (bench/torch_reference.py, same model, batch, loss, optimizer and thread count) in the same
 * run. The machine may be shared, so the workloads alternate over several rounds
 * after warm-up, and each figure is the median over all samples (minimums are in the JSON).
 */
import { cpus } from "node:os";
import { dualStep, inference, singleStep, type Workload } from "./steps.ts";
import { methodStep, type MethodVariant, VARIANTS } from "./methods.ts";
import { TorchReference } from "./torch_client.ts";
import { vnetStep, VOLUME_BENCH, windowInference } from "./volume.ts";

function flag(name: string, dflt: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
}

const json = Deno.args.includes("--json");
const rounds = flag("rounds", 3);
const steps = flag("steps", 8);
const warmup = flag("warmup", 3);
const threads = flag("threads", cpus().length);
const log = (msg: string) => json ? console.error(msg) : console.log(msg);

async function timed(fn: () => Promise<unknown>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

log(`threads ${threads}, ${rounds} rounds x ${steps} timed calls (after ${warmup} warm-up)`);
const work: Record<string, Workload> = {
  train: await singleStep(threads),
  infer: await inference(threads),
  dual: await dualStep(threads),
};
log(`single step: ${work.train.describe}; dual step: ${work.dual.describe}`);
const torch = await TorchReference.start(threads);
if (!torch.available) {
  log(`PyTorch reference unavailable: ${torch.reason}. Reporting Duet's numbers only.`);
}

for (const w of Object.values(work)) await timed(w.run, warmup);
if (torch.available) {
  await torch.run("train", warmup);
  await torch.run("infer", warmup);
}
const samples: Record<string, number[]> = {
  train: [],
  infer: [],
  dual: [],
  torchTrain: [],
  torchInfer: [],
  vnetTrain: [],
  vnetInfer: [],
  torchVnetTrain: [],
  torchVnetInfer: [],
};
// Duet's single and dual steps alternate call by call (their ratio sees the same noise); the
// engines alternate in blocks of `steps` calls, so neither one's idle spinning threads land in
// the other's timings.
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < steps; i++) {
    // ABBA order: neither series always runs right after the other.
    const order = i % 2 === 0 ? ["train", "dual"] : ["dual", "train"];
    for (const k of order) samples[k].push(...await timed(work[k].run, 1));
  }
  if (torch.available) samples.torchTrain.push(...await torch.run("train", steps));
  samples.infer.push(...await timed(work.infer.run, steps));
  if (torch.available) samples.torchInfer.push(...await torch.run("infer", steps));
  log(
    `round ${r + 1}/${rounds}: train ${median(samples.train).toFixed(1)} ms, torch ${
      median(samples.torchTrain).toFixed(1)
    } ms, dual ${median(samples.dual).toFixed(1)} ms`,
  );
}
await torch.stop();
for (const w of Object.values(work)) await w.release();

// Methods and their optional modules, group by group (a base method and what adds to it), each
// group's steps alternating call by call; `--no-methods` skips them.
const methodSamples: Record<string, number[]> = {};
if (!Deno.args.includes("--no-methods")) {
  const methodSteps = flag("method-steps", 4);
  for (const base of VARIANTS.filter((v) => v.base === "")) {
    /** The base method a variant adds to, through any variant between. */
    const root = (v: MethodVariant): string =>
      v.base ? root(VARIANTS.find((b) => b.name === v.base)!) : v.name;
    const group = VARIANTS.filter((v) => root(v) === base.name);
    const steps = await Promise.all(group.map((v) => methodStep(v, threads)));
    for (const s of steps) await timed(s.run, warmup);
    for (let r = 0; r < rounds * methodSteps; r++) {
      const order = r % 2 === 0 ? steps : [...steps].reverse();
      for (const [i, s] of order.entries()) {
        const name = group[r % 2 === 0 ? i : group.length - 1 - i].name;
        (methodSamples[name] ??= []).push(...await timed(s.run, 1));
      }
    }
    for (const s of steps) await s.release();
    log(group.map((v) => `${v.name} ${median(methodSamples[v.name]).toFixed(1)} ms`).join(", "));
  }
}

// The 3D workloads against PyTorch, engines alternating in blocks as above; `--no-3d` skips them.
if (!Deno.args.includes("--no-3d")) {
  const volumeSteps = flag("steps-3d", 3);
  const vnet = { train: await vnetStep(threads), infer: await windowInference(threads) };
  const { filters, patch, volume, batch } = VOLUME_BENCH;
  const torch3d = await TorchReference.start(threads, [
    "--vnet",
    [filters, ...patch].join(","),
    "--volume",
    volume.join(","),
    "--batch",
    String(batch),
  ]);
  // As many warm-up calls as in 2D: the first V-Net steps of both engines run ~40% slow.
  for (const w of Object.values(vnet)) await timed(w.run, warmup);
  if (torch3d.available) {
    for (const k of ["train", "infer"] as const) await torch3d.run(k, warmup);
  }
  for (let r = 0; r < rounds; r++) {
    samples.vnetTrain.push(...await timed(vnet.train.run, volumeSteps));
    if (torch3d.available) samples.torchVnetTrain.push(...await torch3d.run("train", volumeSteps));
    samples.vnetInfer.push(...await timed(vnet.infer.run, 1));
    if (torch3d.available) samples.torchVnetInfer.push(...await torch3d.run("infer", 1));
    log(
      `3D round ${r + 1}/${rounds}: V-Net step ${median(samples.vnetTrain).toFixed(0)} ms, torch ${
        median(samples.torchVnetTrain).toFixed(0)
      } ms; windows ${median(samples.vnetInfer).toFixed(0)} ms, torch ${
        median(samples.torchVnetInfer).toFixed(0)
      } ms`,
    );
  }
  await torch3d.stop();
  for (const w of Object.values(vnet)) await w.release();
}

const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
const lo = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [k, v.length ? Math.min(...v) : NaN]),
);
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? a / b : null);
const round = (
  x: number | null,
) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
const result = {
  unet: {
    train_ms: round(m.train),
    infer_ms: round(m.infer),
    train_min_ms: round(lo.train),
    infer_min_ms: round(lo.infer),
  },
  dual: {
    train_ms: round(m.dual),
    vs_single: round(ratio(m.dual, m.train)),
    train_min_ms: round(lo.dual),
  },
  torch: {
    train_ms: round(m.torchTrain),
    infer_ms: round(m.torchInfer),
    train_min_ms: round(lo.torchTrain),
    infer_min_ms: round(lo.torchInfer),
    version: torch.version ?? null,
  },
  vnet: {
    train_ms: round(m.vnetTrain),
    infer_ms: round(m.vnetInfer),
    torch_train_ms: round(m.torchVnetTrain),
    torch_infer_ms: round(m.torchVnetInfer),
  },
  ratio: {
    train: round(ratio(m.train, m.torchTrain)),
    infer: round(ratio(m.infer, m.torchInfer)),
    vnet_train: round(ratio(m.vnetTrain, m.torchVnetTrain)),
    vnet_infer: round(ratio(m.vnetInfer, m.torchVnetInfer)),
    dual_vs_single: round(ratio(m.dual, m.train)),
  },
  methods: Object.fromEntries(
    VARIANTS.filter((v) => methodSamples[v.name]).map((v) => {
      const ms = median(methodSamples[v.name]);
      const base = v.base ? median(methodSamples[v.base] ?? []) : NaN;
      return [v.name, { train_ms: round(ms), added_ms: v.base ? round(ms - base) : null }];
    }),
  ),
  targets: { train: 1.0, infer: 0.6, dual_vs_single: 2.2, vnet_train: 1.0, vnet_infer: 0.8 },
  setup: {
    threads,
    rounds,
    steps,
    warmup,
    model: "U-Net 16-32-64-128 transposed-conv up",
    batch: "4x1x128x128",
    optimizer: "Adam",
    classes: 2,
    vnet: `V-Net ${VOLUME_BENCH.filters} filters, ${VOLUME_BENCH.batch}x1x${
      VOLUME_BENCH.patch.join("x")
    } patches; windows over ${VOLUME_BENCH.volume.join("x")} at overlap ${VOLUME_BENCH.overlap}`,
  },
};

if (json) {
  console.log(JSON.stringify(result));
} else {
  const f = (x: number | null) => (x === null ? "n/a" : x.toFixed(1));
  const rf = (x: number | null) => (x === null ? "n/a" : x.toFixed(2));
  const rows = [
    [
      "U-Net train step (ms)",
      f(result.unet.train_ms),
      f(result.torch.train_ms),
      rf(result.ratio.train),
      "<= 1.0",
    ],
    [
      "U-Net inference batch (ms)",
      f(result.unet.infer_ms),
      f(result.torch.infer_ms),
      rf(result.ratio.infer),
      "<= 0.6",
    ],
    [
      "dual-model step (ms)",
      f(result.dual.train_ms),
      "",
      `${rf(result.ratio.dual_vs_single)} x single`,
      "<= 2.2",
    ],
    [
      "V-Net train step, 4x32x64x64 (ms)",
      f(result.vnet.train_ms),
      f(result.vnet.torch_train_ms),
      rf(result.ratio.vnet_train),
      "<= 1.0",
    ],
    [
      "V-Net sliding windows, one LA volume (ms)",
      f(result.vnet.infer_ms),
      f(result.vnet.torch_infer_ms),
      rf(result.ratio.vnet_infer),
      "<= 0.8",
    ],
  ];
  const head = ["", "Duet", "PyTorch", "ratio", "target"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(head));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
  const methodRows = Object.entries(result.methods).map(([name, r]) => [
    name,
    f(r.train_ms),
    r.added_ms === null ? "" : `${r.added_ms >= 0 ? "+" : ""}${f(r.added_ms)}`,
  ]);
  if (methodRows.length) {
    const mh = ["method step, 2+2 slices (ms)", "Duet", "added"];
    const mw = mh.map((h, i) => Math.max(h.length, ...methodRows.map((r) => r[i].length)));
    const mline = (r: string[]) => "| " + r.map((c, i) => c.padEnd(mw[i])).join(" | ") + " |";
    console.log("\n" + mline(mh));
    console.log("|" + mw.map((w) => "-".repeat(w + 2)).join("|") + "|");
    for (const r of methodRows) console.log(mline(r));
  }
}
