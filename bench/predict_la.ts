/**
 * `predict` on the 80 LA volumes vs PyTorch inference of the same U-Net (bench/predict_torch.py:
 * same preprocessing, slice batches, argmax, mapping back, .nii.gz writing). Rounds alternate
 * Duet / PyTorch (ABBA) on this noisy shared machine; minimum and median wall times are reported.
 *
 *   deno run -A bench/predict_la.ts [--rounds 2] [--channels 8,16,32,64] [--up transpose]
 *     [--size 128] [--threads 2] [--data /work/shared/data/la2018/train] [--limit N] [--json]
 *
 * The network's weights are random (speed does not depend on them): Duet's model is exported with
 * exportSegmentation, PyTorch's is bench/torch_reference.py's UNet with the same configuration.
 */
import { parseArgs } from "node:util";
import { UNet } from "../engine/models/unet.ts";
import { Rng } from "../random/rng.ts";
import { exportSegmentation } from "../deploy/onnx_model.ts";

const { values: o } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    channels: { type: "string", default: "8,16,32,64" },
    up: { type: "string", default: "transpose" },
    size: { type: "string", default: "128" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "16" },
    data: { type: "string", default: "/work/shared/data/la2018/train" },
    limit: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
  },
});
const channels = o.channels!.split(",").map(Number);
const size = Number(o.size);
const up = o.up as "transpose" | "bilinear";
const files = [...Deno.readDirSync(o.data!)].filter((e) => e.name.endsWith(".h5"))
  .map((e) => `${o.data}/${e.name}`).sort().slice(0, Number(o.limit) || undefined);
const dir = Deno.makeTempDirSync({ prefix: "duet-bench-predict-" });
const root = new URL("../", import.meta.url).pathname;

const net = new UNet(
  { numClasses: 2, channels, dropout: [0.05, 0.1, 0.2, 0.3, 0.5].slice(0, channels.length), up },
  new Rng(1),
);
Deno.writeFileSync(
  `${dir}/model.onnx`,
  exportSegmentation(net, {
    classes: ["background", "left atrium"],
    inputSize: [size, size],
    normalize: { intensity: { kind: "zscore" }, size: [size, size] },
    configDigest: "bench",
  }),
);

async function timed(cmd: string, args: string[]) {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  const wall = (performance.now() - t0) / 1000;
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} failed: ${text.decode(out.stderr)}`);
  return { wall, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

const duetArgs = [
  "run",
  "-A",
  "--quiet",
  "pipeline/main.ts",
  "predict",
  "--model",
  `${dir}/model.onnx`,
  "--out",
  `${dir}/duet`,
  "--threads",
  o.threads!,
  "--batch",
  o.batch!,
  "--input",
  ...files,
];
const torchArgs = [
  "bench/predict_torch.py",
  "--out",
  `${dir}/torch`,
  "--threads",
  o.threads!,
  "--size",
  o.size!,
  "--channels",
  o.channels!,
  "--up",
  up,
  "--batch",
  o.batch!,
  ...files,
];
const duet = async () => {
  const r = await timed(Deno.execPath(), duetArgs);
  const m = r.stderr.match(/in ([\d.]+) s \(([\d.]+) s in onnxruntime\)/);
  return { wall: r.wall, infer: Number(m?.[2]) };
};
const torch = async () => {
  const r = await timed("/usr/bin/python3", torchArgs);
  return { wall: r.wall, infer: JSON.parse(r.stdout).infer_s as number };
};

const results: Record<string, { wall: number; infer: number }[]> = { duet: [], torch: [] };
for (let r = 0; r < Number(o.rounds); r++) {
  const order = r % 2 === 0 ? [["duet", duet], ["torch", torch]] as const : [
    ["torch", torch],
    ["duet", duet],
  ] as const;
  for (const [name, fn] of order) {
    const x = await fn();
    results[name].push(x);
    if (!o.json) {
      console.error(
        `round ${r + 1} ${name}: ${x.wall.toFixed(1)} s wall, ${x.infer.toFixed(1)} s network`,
      );
    }
  }
}
Deno.removeSync(dir, { recursive: true });

const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)] };
};
const summary = {
  volumes: files.length,
  model: { channels, up, size, params: net.store.numParams },
  threads: Number(o.threads),
  duet: {
    wall_s: stat(results.duet.map((x) => x.wall)),
    network_s: stat(results.duet.map((x) => x.infer)),
  },
  torch: {
    wall_s: stat(results.torch.map((x) => x.wall)),
    network_s: stat(results.torch.map((x) => x.infer)),
  },
};
if (o.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `${files.length} volumes, U-Net ${
      channels.join("-")
    } ${up} at ${size}x${size} (${summary.model.params} params), ${o.threads} threads`,
  );
  for (const k of ["duet", "torch"] as const) {
    const s = summary[k];
    console.log(
      `${k.padEnd(6)} wall min ${s.wall_s.min.toFixed(1)} s (median ${
        s.wall_s.median.toFixed(1)
      }), network min ${s.network_s.min.toFixed(1)} s`,
    );
  }
}
