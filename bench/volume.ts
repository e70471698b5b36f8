/**
 * The 3D benchmark workloads, sized as fixtures/configs/la2018-8labels-3d.json trains and infers:
 * the V-Net (8 filters, transposed-conv up, 2 classes) training step on 4 patches of 32x64x64
 * (z, y, x) with Adam and CE + Dice, and the Gaussian-weighted sliding-window inference of one
 * normalized LA volume (44x80x112, windows of the patch at overlap 0.5) through the engine's
 * Predictor, as validation and evaluate run it. PyTorch runs the same (bench/torch_reference.py
 * --vnet).
 */
import * as L from "../engine/losses.ts";
import { VNet } from "../engine/models/vnet.ts";
import * as op from "../engine/ops.ts";
import { adam } from "../engine/optim.ts";
import { Predictor } from "../engine/predict.ts";
import { TrainStep } from "../engine/train.ts";
import { Rng } from "../random/rng.ts";
import { predictWindows } from "../deploy/sliding_window.ts";
import type { Workload } from "./steps.ts";

export const VOLUME_BENCH = {
  filters: 8,
  batch: 4,
  patch: [32, 64, 64] as const,
  volume: [44, 80, 112] as const,
  overlap: 0.5,
  classes: 2,
};

const normal = (rng: Rng, n: number) => new Float32Array(n).map(() => rng.normal());

export async function vnetStep(threads: number, profilePrefix?: string): Promise<Workload> {
  const { filters, batch: B, patch, classes: K } = VOLUME_BENCH;
  const step = await TrainStep.build({
    models: { net: new VNet({ nFilters: filters, numClasses: K }, new Rng(1)) },
    inputs: { image: [B, 1, ...patch], label: { shape: [B, ...patch], dtype: "int32" } },
    optimizer: adam(),
    session: { threads, profilePrefix },
    loss: (g) => {
      const z = g.forward("net", g.input("image")).logits, t = L.oneHot(g.input("label"), K);
      return { loss: op.add(L.crossEntropy(z, t), L.diceLoss(op.softmax(z, 1), t)) };
    },
  });
  const image = normal(new Rng(2), B * patch[0] * patch[1] * patch[2]);
  const label = Int32Array.from(image, (v) => (v > 0.5 ? 1 : 0));
  return {
    run: () => step.run({ image, label, lr: 1e-3 }),
    release: () => step.release(),
    step,
    describe: `V-Net ${filters} filters, ${B}x1x${patch.join("x")}`,
  };
}

export async function windowInference(threads: number): Promise<Workload> {
  const { filters, patch, volume, overlap, classes: K } = VOLUME_BENCH;
  const model = new VNet({ nFilters: filters, numClasses: K }, new Rng(1));
  const predictor = await Predictor.create(model, { spatial: patch, session: { threads } });
  const image = normal(new Rng(3), volume[0] * volume[1] * volume[2]);
  const run = async (x: Float32Array, n: number) => (await predictor.run(x, n)).probs;
  return {
    run: () => predictWindows(run, K, image, volume, patch, overlap),
    release: () => predictor.release(),
    describe: `sliding windows over ${volume.join("x")}`,
  };
}
