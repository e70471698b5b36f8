/**
 * `deno run -A bench/model_checks.ts [unet] [vnet] [--no-tfjs]`: the paper-size models.
 * - SSL4MIS 2-D U-Net (16-32-64-128-256, dropout, bilinear up, 4 classes: 1.81 M) at 256x256:
 *   builds, trains a few steps (batch 4), and one step's full gradient (batch 1) is compared
 *   with a tfjs replica (cpu backend: several minutes).
 * - UA-MT/CAML V-Net (16 filters): builds and trains a few steps at 112x112x80 (batch 2), and
 *   its gradient is compared with tfjs at a reduced 32x32x16 patch.
 * Gradients are compared with a float64 PyTorch run of the published architecture (same
 * weights, masks, batch and loss; bench/torch_f64_grads.py) and with the tfjs replica.
 * Relative error = max|a-b| / max|b| over the flat gradient (and the L2 version). At these
 * sizes any float32 engine (PyTorch's included) lands some activations on the other side of a
 * ReLU/LeakyReLU kink than exact arithmetic does, which moves a few gradient entries by ~1e-3;
 * the float32 PyTorch figure printed next to Duet's shows that floor.
 */
import { cpus } from "node:os";
import * as L from "../engine/losses.ts";
import type { SegmentationModel } from "../engine/models/context.ts";
import { UNet } from "../engine/models/unet.ts";
import { VNet } from "../engine/models/vnet.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { TrainStep } from "../engine/train.ts";
import { encodeSafetensors, type StTensor } from "../engine/checkpoint.ts";
import { Rng } from "../random/rng.ts";
import { ceDiceLoss, unetForward, vnetForward, weightsOf } from "../tests/engine/tf_models.ts";
import * as tf from "@tensorflow/tfjs";

// Arguments: unet, vnet (both parts), or unet-train, unet-grad, vnet-train, vnet-grad, small.
const which = Deno.args.filter((a) => !a.startsWith("--"));
const runAll = which.length === 0;
const withTf = !Deno.args.includes("--no-tfjs");
const threads = Number(Deno.env.get("DUET_THREADS") ?? cpus().length);

async function buildStep(
  model: SegmentationModel,
  shape: number[],
  classes: number,
  grads = false,
) {
  return await TrainStep.build({
    models: { net: model },
    inputs: { image: shape, label: { shape: [shape[0], ...shape.slice(2)], dtype: "int32" } },
    optimizer: adam(),
    outputGradients: grads,
    seed: 1,
    session: { threads },
    loss: (g) => {
      const z = g.forward("net", g.input("image")).logits;
      const t = L.oneHot(g.input("label"), classes);
      return { loss: op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t)) };
    },
  });
}

function batch(shape: number[], classes: number, seed: number) {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const image = new Float32Array(n);
  for (let i = 0; i < n; i++) image[i] = rng.normal();
  const label = Int32Array.from(
    image,
    (v) => Math.min(classes - 1, Math.max(0, Math.floor(v + 1.5))),
  );
  return { image, label };
}

async function trainFew(
  name: string,
  model: SegmentationModel,
  shape: number[],
  classes: number,
  steps = 3,
) {
  const t0 = performance.now();
  const step = await buildStep(model, shape, classes);
  const built = performance.now() - t0;
  const d = batch(shape, classes, 7);
  const times: number[] = [], losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    const r = await step.run({ ...d, lr: 1e-3 });
    times.push(performance.now() - t);
    losses.push(+r.loss.toFixed(4));
  }
  await step.release();
  const rss = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)/)![1];
  console.log(
    `${name}: ${model.store.numParams} params, input [${shape}], build ${built.toFixed(0)} ms, ` +
      `steps ${times.map((t) => t.toFixed(0)).join(", ")} ms, losses ${
        losses.join(" -> ")
      }, peak RSS ${(+rss / 1024).toFixed(0)} MiB`,
  );
}

/** ‖a-b‖₂ / ‖b‖₂: less dominated by the few entries a kink flip moves. */
function l2Err(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) (d += (a[i] - b[i]) ** 2), (n += b[i] ** 2);
  return Math.sqrt(d / n);
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Float64 gradients from PyTorch (bench/torch_f64_grads.py) for the same weights and masks. */
async function torchF64(
  model: SegmentationModel,
  image: Float32Array,
  label: Int32Array,
  shape: number[],
  masks: Float32Array[],
  maskShapes: number[][],
  dtype: "f64" | "f32" = "f64",
) {
  const dir = await Deno.makeTempDir();
  const tensors: Record<string, StTensor> = {};
  for (const p of model.store.params.list()) {
    tensors[p.name] = { dtype: "F32", shape: [...p.shape], data: model.store.params.view(p.name) };
  }
  for (const b of model.store.buffers.list()) {
    tensors[b.name] = { dtype: "F32", shape: [...b.shape], data: model.store.buffers.view(b.name) };
  }
  tensors["__image"] = { dtype: "F32", shape, data: image };
  tensors["__label"] = { dtype: "I32", shape: [shape[0], ...shape.slice(2)], data: label };
  masks.forEach((
    m,
    i,
  ) => (tensors[`__mask${i}`] = { dtype: "F32", shape: maskShapes[i], data: m }));
  await Deno.writeFile(
    `${dir}/in.safetensors`,
    encodeSafetensors(tensors, { duet: JSON.stringify(model.config()) }),
  );
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [
      new URL("./torch_f64_grads.py", import.meta.url).pathname,
      `${dir}/in.safetensors`,
      `${dir}/grad.f64`,
      dtype,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const grad = new Float64Array((await Deno.readFile(`${dir}/grad.f64`)).buffer);
  await Deno.remove(dir, { recursive: true });
  return { loss: info.loss as number, grad };
}

async function compareGrads(
  name: string,
  model: SegmentationModel,
  shape: number[],
  classes: number,
  maskShapes: number[][],
  fwd: (w: Map<string, tf.Tensor>, x: tf.Tensor, masks: tf.Tensor[]) => tf.Tensor,
) {
  const step = await buildStep(model, shape, classes, true);
  const d = batch(shape, classes, 8);
  const weights = weightsOf(model.store);
  const r = await step.run({ ...d, lr: 0 });
  const maskData = [...step.dropoutMasks().values()].map((m) => m.slice());
  await step.release();
  const ours = r.gradients!.get("net")!;
  const ref = await torchF64(model, d.image, d.label, shape, maskData, maskShapes);
  const oursErr = relErr(ours, ref.grad);
  const torch32 = await torchF64(model, d.image, d.label, shape, maskData, maskShapes, "f32");
  const torch32Err = relErr(torch32.grad, ref.grad);
  const l2 = `L2: Duet ${l2Err(ours, ref.grad).toExponential(2)}, PyTorch float32 ${
    l2Err(torch32.grad, ref.grad).toExponential(2)
  }`;
  // Where the largest deviation sits (ill-conditioned BatchNorm layers show up here).
  let worst = 0, worstAt = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - ref.grad[i]);
    if (d > worst) (worst = d), (worstAt = i);
  }
  const worstParam =
    model.store.params.list().find((p) => worstAt >= p.offset && worstAt < p.offset + p.size)!.name;
  if (Deno.env.get("DUET_DEBUG")) {
    const per = model.store.params.list().map((p) => ({
      name: p.name,
      err: relErr(
        ours.subarray(p.offset, p.offset + p.size),
        ref.grad.subarray(p.offset, p.offset + p.size),
      ) *
        ref.grad.subarray(p.offset, p.offset + p.size).reduce(
          (a, b) => Math.max(a, Math.abs(b)),
          0,
        ) /
        ref.grad.reduce((a, b) => Math.max(a, Math.abs(b)), 0),
      norm: ref.grad.subarray(p.offset, p.offset + p.size).reduce(
        (a, b) => Math.max(a, Math.abs(b)),
        0,
      ),
    }));
    per.sort((a, b) => b.err - a.err);
    for (const p of per.slice(0, 8)) {
      console.log(
        `  ${p.name}: rel ${p.err.toExponential(2)} (max |g| ${p.norm.toExponential(2)})`,
      );
    }
  }
  let line =
    `${name}: loss ${r.loss.toFixed(7)} (torch f64 ${
      ref.loss.toFixed(7)
    }); gradient rel err vs float64 PyTorch: ` +
    `Duet ${oursErr.toExponential(2)} (${
      oursErr < 1e-4 ? "PASS" : "FAIL"
    } < 1e-4, largest at ${worstParam}); PyTorch float32 ${torch32Err.toExponential(2)}`;
  if (withTf) {
    await tf.setBackend("cpu");
    const t0 = performance.now();
    const x = tf.tensor(d.image, shape);
    const labels = tf.tensor(d.label, [shape[0], ...shape.slice(2)], "int32");
    const perm = [0, shape.length - 1, ...shape.slice(2).map((_, i) => i + 1)];
    const onehot = tf.transpose(tf.oneHot(labels, classes), perm);
    const masks = maskData.map((m, i) => tf.tensor(m, maskShapes[i]));
    const lossFn = (...ws: tf.Tensor[]) =>
      ceDiceLoss(fwd(new Map(weights.names.map((n, i) => [n, ws[i]])), x, masks), onehot);
    const { grads } = tf.valueAndGrads(lossFn)(weights.tensors);
    const tfFlat = new Float32Array(ours.length);
    let off = 0;
    for (const g of grads) {
      tfFlat.set(g.dataSync(), off);
      off += g.size;
    }
    const tfErr = relErr(tfFlat, ref.grad), vsTf = relErr(ours, tfFlat);
    line += `, tfjs ${tfErr.toExponential(2)}; Duet vs tfjs ${vsTf.toExponential(2)} (${
      vsTf < 1e-4 ? "PASS" : "FAIL"
    } < 1e-4; tfjs took ${((performance.now() - t0) / 1000).toFixed(0)} s)`;
  }
  console.log(`${line}; ${l2}`);
}

const want = (what: string) => runAll || which.includes(what.split("-")[0]) || which.includes(what);
if (want("unet-train") || want("unet-grad")) {
  const unet = () => new UNet({ numClasses: 4 }, new Rng(1));
  if (want("unet-train")) await trainFew("SSL4MIS U-Net 256x256", unet(), [4, 1, 256, 256], 4);
  if (want("unet-grad")) {
    const ms = [[1, 16, 256, 256], [1, 32, 128, 128], [1, 64, 64, 64], [1, 128, 32, 32], [
      1,
      256,
      16,
      16,
    ]];
    await compareGrads(
      "SSL4MIS U-Net 256x256 (batch 1)",
      unet(),
      [1, 1, 256, 256],
      4,
      ms,
      (w, x, m) => unetForward(w, x, m, { levels: 5, bilinear: true }),
    );
  }
}
if (want("vnet-train") || want("vnet-grad")) {
  if (want("vnet-train")) {
    await trainFew("V-Net 112x112x80", new VNet({}, new Rng(1)), [2, 1, 112, 112, 80], 2, 2);
  }
  if (want("vnet-grad")) {
    const vnetMasks = [[2, 256, 1, 1, 1], [2, 16, 1, 1, 1]];
    for (const sp of [[32, 32, 16], [64, 64, 32]]) {
      const name = `V-Net ${sp.join("x")} (batch 2)`;
      await compareGrads(name, new VNet({}, new Rng(1)), [2, 1, ...sp], 2, vnetMasks, vnetForward);
    }
  }
}
if (which.includes("mid")) {
  const u = new UNet(
    { numClasses: 3, channels: [4, 8, 16], dropout: [0.05, 0.1, 0.2] },
    new Rng(3),
  );
  await compareGrads("U-Net 64x64 (4-8-16)", u, [2, 1, 64, 64], 3, [
    [2, 4, 64, 64],
    [2, 8, 32, 32],
    [2, 16, 16, 16],
  ], (w, x, m) => unetForward(w, x, m, { levels: 3, bilinear: true }));
  const u0 = new UNet({ numClasses: 3, channels: [4, 8, 16], dropout: [0, 0, 0] }, new Rng(3));
  await compareGrads(
    "U-Net 64x64 (4-8-16) no dropout",
    u0,
    [2, 1, 64, 64],
    3,
    [],
    (w, x, m) => unetForward(w, x, m, { levels: 3, bilinear: true }),
  );
  const u2 = new UNet({
    numClasses: 3,
    channels: [4, 8, 16],
    dropout: [0.05, 0.1, 0.2],
    up: "transpose",
  }, new Rng(3));
  await compareGrads("U-Net 64x64 (4-8-16) transpose up", u2, [2, 1, 64, 64], 3, [[2, 4, 64, 64], [
    2,
    8,
    32,
    32,
  ], [2, 16, 16, 16]], (w, x, m) => unetForward(w, x, m, { levels: 3, bilinear: false }));
  await compareGrads(
    "V-Net 32^3, no dropout",
    new VNet({ nFilters: 2, hasDropout: false }, new Rng(4)),
    [2, 1, 32, 32, 32],
    2,
    [],
    vnetForward,
  );
}
if (which.includes("small")) {
  // Quick self-check of the oracles at test sizes.
  const u = new UNet(
    { numClasses: 3, channels: [4, 8, 16], dropout: [0.05, 0.1, 0.2] },
    new Rng(3),
  );
  await compareGrads("small U-Net 16x16", u, [2, 1, 16, 16], 3, [[2, 4, 16, 16], [2, 8, 8, 8], [
    2,
    16,
    4,
    4,
  ]], (w, x, m) => unetForward(w, x, m, { levels: 3, bilinear: true }));
  await compareGrads(
    "small V-Net 32^3",
    new VNet({ nFilters: 2 }, new Rng(4)),
    [2, 1, 32, 32, 32],
    2,
    [[2, 32, 1, 1, 1], [2, 2, 1, 1, 1]],
    vnetForward,
  );
}
