import { assert, assertEquals } from "../assert.ts";
import * as L from "../../engine/losses.ts";
import { UNet } from "../../engine/models/unet.ts";
import * as op from "../../engine/ops.ts";
import { adam, sgd } from "../../engine/optim.ts";
import { emaUpdate, featureDropout, featureNoise } from "../../engine/perturb.ts";
import { TrainStep } from "../../engine/train.ts";
import { fillDropoutMask, fillNormal } from "../../engine/dropout.ts";
import { Rng } from "../../random/rng.ts";

const S = 16;
function data(seed: number) {
  // A bright square on noise: learnable in a few steps.
  const rng = new Rng(seed);
  const image = new Float32Array(2 * S * S), label = new Int32Array(2 * S * S);
  for (let i = 0; i < image.length; i++) {
    const x = i % S, y = Math.floor(i / S) % S;
    const inside = x > 3 && x < 11 && y > 4 && y < 12;
    label[i] = inside ? 1 : 0;
    image[i] = (inside ? 1 : -1) + 0.3 * rng.normal();
  }
  return { image, label };
}

async function build(seed: number, perturb = false) {
  const model = new UNet({ numClasses: 2, channels: [4, 8, 16] }, new Rng(1));
  const step = await TrainStep.build({
    models: { net: model },
    inputs: { image: [2, 1, S, S], label: { shape: [2, S, S], dtype: "int32" } },
    optimizer: adam(),
    seed,
    session: { threads: 1 },
    loss: (g) => {
      const t = L.oneHot(g.input("label"), 2);
      const out = g.forward("net", g.input("image"));
      let loss = op.add(L.crossEntropy(out.logits, t), L.diceLoss(op.softmax(out.logits, 1), t));
      if (perturb) {
        const ctx = g.context("net");
        const fp = g.forward("net", g.input("image"), {
          perturb: (f) => featureNoise(ctx, featureDropout(ctx, f, 0.5)),
        });
        loss = op.add(
          loss,
          op.mul(
            L.mse(op.softmax(fp.logits, 1), op.stopGradient(op.softmax(out.logits, 1))),
            g.scalar("w"),
          ),
        );
      }
      return { loss, logs: { n: op.sum(t) }, outputs: { probs: op.softmax(out.logits, 1) } };
    },
    scalars: perturb ? ["w"] : [],
  });
  return { model, step };
}

Deno.test("training a small U-Net lowers the loss; outputs and logs come back", async () => {
  const { step } = await build(1);
  const d = data(0);
  const first = await step.run({ ...d, lr: 0.01 });
  let last = first;
  for (let i = 0; i < 25; i++) last = await step.run({ ...d, lr: 0.01 });
  assert(last.loss < 0.6 * first.loss, `loss ${first.loss} -> ${last.loss}`);
  assertEquals(first.logs.n, 2 * S * S);
  assertEquals((last.outputs.probs as Float32Array).length, 2 * 2 * S * S);
  assertEquals(step.step, 26);
  await step.release();
});

Deno.test("dropout masks are seeded: same seed same run, other seed other masks", async () => {
  const runs: { w: Float32Array; masks: Float32Array[] }[] = [];
  for (const seed of [5, 5, 6]) {
    const { step, model } = await build(seed);
    for (let i = 0; i < 2; i++) await step.run({ ...data(i), lr: 0.01 });
    runs.push({
      w: model.store.params.data.slice(),
      masks: [...step.dropoutMasks().values()].map((m) => m.slice()),
    });
    await step.release();
  }
  assert(runs[0].w.every((v, i) => v === runs[1].w[i]), "same seed must give identical weights");
  assert(runs[0].masks[0].some((v, i) => v !== runs[2].masks[0][i]), "other seed, other masks");
  const dropped = runs[0].masks[2].filter((v) => v === 0).length / runs[0].masks[2].length;
  assert(dropped > 0.1 && dropped < 0.3, `level-2 dropout rate ${dropped} (p = 0.2)`);
});

Deno.test("feature perturbation inputs are drawn each run; EMA follows the UA-MT rule", async () => {
  const { step, model } = await build(3, true);
  const r = await step.run({ ...data(0), lr: 0.01, w: 1 });
  assert(Number.isFinite(r.loss), "loss");
  const names = [...step.dropoutMasks().keys()];
  assert(names.some((n) => n.includes("noise")), `noise inputs: ${names}`);
  const noise = step.dropoutMasks().get(names.find((n) => n.includes("noise"))!)!;
  assert(noise.every((v) => v >= -0.3 && v < 0.3) && noise.some((v) => v > 0.2), "U(-0.3, 0.3)");
  const teacher = new UNet({ numClasses: 2, channels: [4, 8, 16] }, new Rng(9));
  const t0 = teacher.store.params.data[0], s0 = model.store.params.data[0];
  emaUpdate(teacher.store, model.store, 0.99, 0); // alpha = min(1 - 1/1, 0.99) = 0: copy
  assertEquals(teacher.store.params.data[0], s0);
  emaUpdate(teacher.store, model.store, 0.99, 1000);
  assert(t0 !== s0, "different init");
  await step.release();
  const sgdStep = await TrainStep.build({
    models: { net: model, frozen: { model: teacher, trainable: false } },
    inputs: { image: [2, 1, S, S] },
    optimizer: sgd({ momentum: 0.9 }),
    loss: (g) => ({
      loss: L.mse(
        g.forward("net", g.input("image")).logits,
        op.stopGradient(g.forward("frozen", g.input("image"), { mode: "eval" }).logits),
      ),
    }),
  });
  const before = teacher.store.params.data.slice();
  await sgdStep.run({ image: data(1).image, lr: 0.1 });
  assert(
    teacher.store.params.data.every((v, i) => v === before[i]),
    "frozen model must not change",
  );
  assertEquals([...sgdStep.optimizerState().keys()], ["net"]);
  await sgdStep.release();
});

Deno.test("engine/example.ts is the README example", async () => {
  const readme = await Deno.readTextFile(new URL("../../engine/README.md", import.meta.url));
  const example = await Deno.readTextFile(new URL("../../engine/example.ts", import.meta.url));
  const code = readme.match(/```ts\n([\s\S]*?)```/)![1];
  assert(example.endsWith(code), "README example and engine/example.ts differ");
});

Deno.test("dropout masks draw exactly Rng's stream (inlined xoshiro128**)", () => {
  const a = new Rng(42), b = new Rng(42);
  const out = new Float32Array(1001);
  const after = fillDropoutMask(a, out, 0.3);
  const expect = new Float32Array(1001);
  for (let i = 0; i < 1001; i += 2) {
    const r = b.nextUint32();
    expect[i] = (r & 0xffff) < Math.round(0.3 * 65536) ? 0 : 1 / 0.7;
    if (i + 1 < 1001) expect[i + 1] = r >>> 16 < Math.round(0.3 * 65536) ? 0 : 1 / 0.7;
  }
  assert(out.every((v, i) => v === expect[i]), "mask values");
  assertEquals(Array.from(after.state()), Array.from(b.state()));
  const rate = out.filter((v) => v === 0).length / out.length;
  assert(rate > 0.25 && rate < 0.35, `drop rate ${rate}`);
});

Deno.test("clamped Gaussian noise: N(0, std²) within ±clip, drawn from the step's Rng", async () => {
  const out = new Float32Array(20000);
  const after = fillNormal(new Rng(5), out, 0.1, 0.2);
  const clip = Math.fround(0.2);
  assert(out.every((v) => Math.abs(v) <= clip), "clamped to ±0.2");
  const clamped = out.filter((v) => Math.abs(v) === clip).length / out.length;
  assert(clamped > 0.03 && clamped < 0.06, `P(|z| > 2σ) ≈ 4.6%, got ${clamped}`);
  const sd = Math.sqrt(out.reduce((s, v) => s + v * v, 0) / out.length);
  assert(sd > 0.085 && sd < 0.1, `std of the clamped values ${sd}`);
  const again = new Float32Array(20000);
  fillNormal(new Rng(5), again, 0.1, 0.2);
  assertEquals(again, out);
  assert(after.nextUint32() !== new Rng(5).nextUint32(), "generator advanced");
  // As a graph input: the step fills it each run, in creation order with the dropout masks.
  const model = new UNet({ numClasses: 2, channels: [4, 8] }, new Rng(1));
  const step = await TrainStep.build({
    models: { net: model },
    inputs: { image: [2, 1, S, S] },
    optimizer: sgd(),
    seed: 4,
    session: { threads: 1 },
    loss: (g) => {
      const x = g.input("image");
      const noisy = op.add(x, g.context("net").normalNoise(x.staticShape, 0.1, 0.2));
      return { loss: op.mean(g.forward("net", noisy).logits) };
    },
  });
  await step.run({ image: data(0).image, lr: 0 });
  const noise = [...step.dropoutMasks().entries()].find(([n]) => n.includes("noise"))![1];
  assert(noise.every((v) => Math.abs(v) <= clip) && noise.some((v) => v !== 0), "noise fed");
  const first = noise.slice();
  await step.run({ image: data(0).image, lr: 0 });
  assert(noise.some((v, i) => v !== first[i]), "fresh noise each run");
  await step.release();
});
