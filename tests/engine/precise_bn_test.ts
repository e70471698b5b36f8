import { assert, assertEquals } from "../assert.ts";
import { PreciseBatchNorm } from "../../engine/precise_bn.ts";
import { UNet } from "../../engine/models/unet.ts";
import { Rng } from "../../random/rng.ts";

const S = 16, B = 2;
const images = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return new Float32Array(n * S * S).map(() => rng.normal() * 2 + 0.5);
};

/** Per-channel mean and unbiased variance of the first conv's output, computed by hand. */
function firstLayerStats(model: UNet, x: Float32Array, n: number) {
  const w = model.store.params.view("encoder.in_conv.conv_conv.0.weight");
  const bias = model.store.params.view("encoder.in_conv.conv_conv.0.bias");
  const mean: number[] = [], variance: number[] = [];
  for (let c = 0; c < bias.length; c++) {
    const ys: number[] = [];
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < S; j++) {
          let y = bias[c];
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const yi = i + ky - 1, xj = j + kx - 1;
              if (yi >= 0 && yi < S && xj >= 0 && xj < S) {
                y += w[c * 9 + ky * 3 + kx] * x[b * S * S + yi * S + xj];
              }
            }
          }
          ys.push(y);
        }
      }
    }
    const m = ys.reduce((a, v) => a + v, 0) / ys.length;
    mean.push(m);
    variance.push(ys.reduce((a, v) => a + (v - m) ** 2, 0) / (ys.length - 1));
  }
  return { mean, variance };
}

Deno.test("precise BatchNorm: batch statistics averaged over batches, model untouched", async () => {
  const model = new UNet({ numClasses: 2, channels: [4, 8, 16], up: "transpose" }, new Rng(3));
  const before = model.store.buffers.data.slice();
  const stats = await PreciseBatchNorm.create(model, {
    spatial: [S, S],
    batch: B,
    session: { threads: 1 },
  });
  const x1 = images(B, 1), x2 = images(B, 2);
  const both = new Float32Array(2 * B * S * S);
  both.set(x1);
  both.set(x2, x1.length);
  const [r1, r2, r12] = [
    await stats.compute(x1),
    await stats.compute(x2),
    await stats.compute(both),
  ];
  await stats.release();
  assertEquals(model.store.buffers.data, before, "the model's own buffers are not changed");

  // First BatchNorm: the hand-computed mean and unbiased variance of its conv's output.
  const info = (name: string) => model.store.buffers.info(`encoder.in_conv.conv_conv.1.${name}`);
  for (const [x, r] of [[x1, r1], [x2, r2]] as const) {
    const ref = firstLayerStats(model, x, B);
    ref.mean.forEach((m, c) => {
      const got = r[info("running_mean").offset + c];
      assert(Math.abs(got - m) < 1e-5 * (1 + Math.abs(m)), `mean ${c}: ${got} vs ${m}`);
    });
    ref.variance.forEach((v, c) => {
      const got = r[info("running_var").offset + c];
      assert(Math.abs(got - v) < 1e-4 * (1 + v), `var ${c}: ${got} vs ${v}`);
    });
  }
  // Two batches: the average of each batch's statistics, in every BatchNorm layer.
  let changed = 0;
  for (let i = 0; i < r12.length; i++) {
    const avg = (r1[i] + r2[i]) / 2;
    assert(Math.abs(r12[i] - avg) <= 1e-6 * (1 + Math.abs(avg)), `buffer ${i}`);
    if (Math.abs(r12[i] - before[i]) > 1e-3) changed++;
  }
  assert(changed > 0.9 * r12.length, `only ${changed} of ${r12.length} statistics recomputed`);
});

Deno.test("precise BatchNorm: deterministic, and whole batches only", async () => {
  const model = new UNet({ numClasses: 2, channels: [4, 8] }, new Rng(4));
  const stats = await PreciseBatchNorm.create(model, { spatial: [S, S], batch: B });
  const x = images(2 * B, 5);
  assertEquals(await stats.compute(x), await stats.compute(x));
  let message = "";
  await stats.compute(x.subarray(0, S * S * 3)).catch((e) => (message = e.message));
  assert(message.includes("whole batches"), message);
  await stats.release();
});
