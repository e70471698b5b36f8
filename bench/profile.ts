/**
 * `deno run -A bench/profile.ts [single|dual|vnet] [steps]`: onnxruntime's per-op profile of the
 * benchmark step, aggregated by op type (where the milliseconds go).
 */
import { cpus } from "node:os";
import { dualStep, singleStep } from "./steps.ts";
import { vnetStep } from "./volume.ts";

const steps = Number(Deno.args[1] ?? 10);
const prefix = await Deno.makeTempFile({ prefix: "duet-prof" });
const build = { single: singleStep, dual: dualStep, vnet: vnetStep }[Deno.args[0] ?? "single"];
if (!build) throw new Error(`unknown workload ${Deno.args[0]}: single, dual or vnet`);
const work = await build(cpus().length, prefix);
const wall: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  await work.run();
  wall.push(performance.now() - t0);
}
work.step!.session.endProfiling();
await work.release();

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
if (Deno.env.get("DUET_PROFILE_OP")) {
  const want = Deno.env.get("DUET_PROFILE_OP");
  const nodes = new Map<string, { ms: number; shape: string }>();
  for (
    const e of events as {
      cat: string;
      name: string;
      dur: number;
      args: { op_name?: string; input_type_shape?: unknown };
    }[]
  ) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || e.args.op_name !== want) continue;
    const v = nodes.get(e.name) ?? { ms: 0, shape: JSON.stringify(e.args.input_type_shape) };
    v.ms += e.dur / 1000 / runs;
    nodes.set(e.name, v);
  }
  for (const [k, v] of [...nodes.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(`  ${k.padEnd(34)} ${v.ms.toFixed(2)} ms ${v.shape.slice(0, 100)}`);
  }
}
for (const f of files) Deno.removeSync(`${dir}/${f.name}`);
Deno.removeSync(prefix);
