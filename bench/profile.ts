/**
 * `deno run -A bench/profile.ts [single|dual] [steps]`: onnxruntime's per-op profile of the
 * benchmark step, aggregated by op type (where the milliseconds go).
 */
import { cpus } from "node:os";
import * as L from "../engine/losses.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { TrainStep } from "../engine/train.ts";
import { Rng } from "../random/rng.ts";
import { BENCH, benchUNet } from "./steps.ts";

const steps = Number(Deno.args[1] ?? 10);
const { batch: B, size: S, classes: K } = BENCH;
const prefix = await Deno.makeTempFile({ prefix: "duet-prof" });
const step = await TrainStep.build({
  models: { net: benchUNet(1) },
  inputs: { image: [B, 1, S, S], label: { shape: [B, S, S], dtype: "int32" } },
  optimizer: adam(),
  session: { threads: cpus().length, profilePrefix: prefix },
  loss: (g) => {
    const z = g.forward("net", g.input("image")).logits;
    const t = L.oneHot(g.input("label"), K);
    return { loss: op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t)) };
  },
});
const rng = new Rng(2);
const image = new Float32Array(B * S * S).map(() => rng.normal());
const label = Int32Array.from(image, (v) => (v > 0.5 ? 1 : 0));
const wall: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  await step.run({ image, label, lr: 1e-3 });
  wall.push(performance.now() - t0);
}
step.session.endProfiling();
await step.release();

const dir = prefix.slice(0, prefix.lastIndexOf("/"));
const files = [...Deno.readDirSync(dir)].filter((f) =>
  f.name.startsWith(prefix.slice(dir.length + 1)) && f.name.endsWith(".json")
);
const events = JSON.parse(Deno.readTextFileSync(`${dir}/${files[0].name}`)) as {
  cat: string;
  name: string;
  dur: number;
  args: { op_name?: string };
}[];
const runs = events.filter((e) => e.name === "model_run").length;
const byOp = new Map<string, { ms: number; n: number }>();
for (const e of events) {
  if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
  const k = e.args.op_name ?? "?";
  const v = byOp.get(k) ?? { ms: 0, n: 0 };
  v.ms += e.dur / 1000 / runs;
  v.n += 1 / runs;
  byOp.set(k, v);
}
const total = [...byOp.values()].reduce((a, b) => a + b.ms, 0);
wall.sort((a, b) => a - b);
console.log(
  `median wall ${wall[Math.floor(steps / 2)].toFixed(1)} ms/step, kernels ${
    total.toFixed(1)
  } ms/step`,
);
for (const [k, v] of [...byOp.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
  console.log(`${k.padEnd(22)} ${v.ms.toFixed(2).padStart(7)} ms  x${Math.round(v.n)}`);
}
for (const f of files) Deno.removeSync(`${dir}/${f.name}`);
Deno.removeSync(prefix);
