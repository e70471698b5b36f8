import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import { image2d, minMax } from "../../transforms/image2d.ts";
import {
  colorJitter,
  defaultStrongConfig,
  fillBox,
  intensityCurve,
  pasteBox,
  RandomStrong,
  sampleBox,
  sampleCurve,
} from "../../transforms/intensity.ts";
import { addNormal, gaussianBlur, normalQuantile } from "../../transforms/smooth.ts";
import { equalArrays, hasNaN, labelledPair } from "./_helpers.ts";

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => -3 + (6 * i) / (n - 1));
const meanOf = (d: Float32Array) => d.reduce((s, v) => s + v, 0) / d.length;
const stdOf = (d: Float32Array) => {
  const m = meanOf(d);
  return Math.sqrt(d.reduce((s, v) => s + (v - m) ** 2, 0) / d.length);
};

Deno.test("color jitter: identity is a no-op, output stays in the input range, order of effects", () => {
  const d = ramp(1000);
  const same = d.slice();
  colorJitter(same, { brightness: 1, contrast: 1, gamma: 1 });
  for (let i = 0; i < d.length; i++) assert.ok(Math.abs(same[i] - d[i]) < 1e-5);
  for (
    const p of [
      { brightness: 1.8, contrast: 0.2, gamma: 0.56 },
      { brightness: 0.2, contrast: 1.8, gamma: 1.8 },
    ]
  ) {
    const x = d.slice();
    colorJitter(x, p);
    const [lo, hi] = minMax(x);
    assert.ok(lo >= -3 - 1e-5 && hi <= 3 + 1e-5);
    assert.ok(!hasNaN(x));
  }
  const bright = d.slice(), dark = d.slice(), flat = d.slice(), lowGamma = d.slice();
  colorJitter(bright, { brightness: 1.5, contrast: 1, gamma: 1 });
  colorJitter(dark, { brightness: 0.5, contrast: 1, gamma: 1 });
  colorJitter(flat, { brightness: 1, contrast: 0.3, gamma: 1 });
  colorJitter(lowGamma, { brightness: 1, contrast: 1, gamma: 0.5 });
  assert.ok(meanOf(bright) > meanOf(d) + 0.5 && meanOf(dark) < meanOf(d) - 0.5);
  assert.ok(stdOf(flat) < 0.4 * stdOf(d));
  assert.ok(meanOf(lowGamma) > meanOf(d) + 0.3); // gamma < 1 lifts the mid tones
});

Deno.test("gaussian blur: keeps constants and the mean, smooths, sigma 0 is a no-op", () => {
  const c = new Float32Array(32 * 20).fill(2.5);
  gaussianBlur(c, 32, 20, 1.7);
  assert.ok(c.every((v) => Math.abs(v - 2.5) < 1e-5));
  const noise = new Float32Array(64 * 64);
  addNormal(noise, new Rng(1), 1);
  const before = noise.slice();
  gaussianBlur(noise, 64, 64, 0);
  assert.ok(equalArrays(before, noise));
  gaussianBlur(noise, 64, 64, 1.5);
  assert.ok(stdOf(noise) < 0.35 * stdOf(before));
  assert.ok(Math.abs(meanOf(noise) - meanOf(before)) < 0.02);
});

Deno.test("noise: requested std, zero mean, seeded, quantile table is a normal", () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232) < 1e-5);
  const a = new Float32Array(100_000);
  addNormal(a, new Rng(3), 0.2);
  assert.ok(Math.abs(stdOf(a) - 0.2) < 0.004, `std ${stdOf(a)}`);
  assert.ok(Math.abs(meanOf(a)) < 0.004);
  const kurt = a.reduce((s, v) => s + v ** 4, 0) / a.length / 0.2 ** 4;
  assert.ok(Math.abs(kurt - 3) < 0.1, `kurtosis ${kurt}`);
  const b = new Float32Array(100_000);
  addNormal(b, new Rng(3), 0.2);
  assert.ok(equalArrays(a, b));
  addNormal(b, new Rng(4), 0.2);
  assert.ok(!equalArrays(a, b));
});

Deno.test("boxes: sampled inside the image with the requested area and aspect", () => {
  const rng = new Rng(4);
  for (let i = 0; i < 500; i++) {
    const b = sampleBox(rng, 128, 96, [0.02, 0.4], [0.3, 1 / 0.3]);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 128 && b.y + b.h <= 96);
    const area = (b.w * b.h) / (128 * 96);
    assert.ok(area > 0.01 && area < 0.45, `area ${area}`);
  }
  const d = new Float32Array(10 * 6);
  fillBox(d, 10, 6, { x: 8, y: 4, w: 5, h: 5 }, 1); // clipped at the border
  assert.equal(d.reduce((s, v) => s + v, 0), 2 * 2);
  const src = Float32Array.from({ length: 2 * 60 }, (_, i) => i + 1);
  const dst = new Float32Array(2 * 60);
  pasteBox(dst, src, 10, 6, { x: 1, y: 2, w: 3, h: 2 }, 2);
  for (let c = 0; c < 2; c++) {
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 10; x++) {
        const i = c * 60 + y * 10 + x;
        const inside = x >= 1 && x < 4 && y >= 2 && y < 4;
        assert.equal(dst[i], inside ? src[i] : 0);
      }
    }
  }
});

Deno.test("strong view: parameters within their ranges, each effect drawn sometimes", () => {
  const t = new RandomStrong();
  const c = defaultStrongConfig;
  const rng = new Rng(5);
  const seen = { cutmix: 0, jitter: 0, blur: 0, noise: 0, cutout: 0 };
  for (let i = 0; i < 1000; i++) {
    const p = t.sample(rng, 64, 64, 3);
    if (p.cutmix) {
      seen.cutmix++;
      assert.equal(p.cutmix.partner, 3);
    }
    if (p.jitter) {
      seen.jitter++;
      assert.ok(p.jitter.brightness >= 0.2 - 1e-9 && p.jitter.brightness <= 1.8);
      assert.ok(p.jitter.contrast >= 0.2 - 1e-9 && p.jitter.contrast <= 1.8);
      assert.ok(p.jitter.gamma >= 1 / 1.8 - 1e-9 && p.jitter.gamma <= 1.8 + 1e-9);
    }
    if (p.blurSigma !== undefined) {
      seen.blur++;
      assert.ok(p.blurSigma >= c.blurSigma[0] && p.blurSigma <= c.blurSigma[1]);
    }
    if (p.noise) {
      seen.noise++;
      assert.ok(p.noise.std >= c.noiseStd[0] && p.noise.std <= c.noiseStd[1]);
    }
    if (p.cutout) seen.cutout++;
  }
  assert.ok(Math.abs(seen.jitter / 1000 - 0.8) < 0.05);
  for (const k of ["cutmix", "blur", "noise", "cutout"] as const) {
    assert.ok(Math.abs(seen[k] / 1000 - 0.5) < 0.06, `${k}: ${seen[k]}`);
  }
  // Without a partner there is never a CutMix.
  for (let i = 0; i < 100; i++) assert.equal(t.sample(rng, 64, 64).cutmix, undefined);
});

Deno.test("strong view: deterministic from its record, changes the image, not the label", () => {
  const { image, label } = labelledPair(6, 64);
  const labelBefore = label.data.slice();
  const partner = labelledPair(7, 64).image;
  const t = new RandomStrong({ cutmixProbability: 1, cutoutProbability: 1, noiseProbability: 1 });
  const p = t.sample(new Rng(9), 64, 64, 0);
  const a = image2d(64, 64, image.data.slice()), b = image2d(64, 64, image.data.slice());
  RandomStrong.apply(p, a, partner);
  RandomStrong.apply(p, b, partner);
  assert.ok(equalArrays(a.data, b.data));
  assert.ok(!equalArrays(a.data, image.data));
  assert.ok(!hasNaN(a.data));
  assert.ok(equalArrays(label.data, labelBefore));
  // The cutout box holds one value.
  const box = p.cutout!.box;
  const v = a.data[box.x + 64 * box.y];
  for (let y = box.y; y < box.y + box.h; y++) {
    for (let x = box.x; x < box.x + box.w; x++) assert.equal(a.data[x + 64 * y], v);
  }
  assert.throws(() => RandomStrong.apply(p, image2d(64, 64, image.data.slice())), RangeError);
});

Deno.test("intensity curve: identity and reversal, range kept; strong views draw it at its probability", () => {
  const d = ramp(1001);
  const same = d.slice();
  intensityCurve(same, [0, 0.25, 0.5, 0.75, 1]);
  for (let i = 0; i < d.length; i++) assert.ok(Math.abs(same[i] - d[i]) < 1e-5);
  const reversed = d.slice();
  intensityCurve(reversed, [1, 0]);
  for (let i = 0; i < d.length; i++) assert.ok(Math.abs(reversed[i] - -d[i]) < 1e-5);
  // A peaked curve: the middle of the range becomes the brightest, both ends dark.
  const peaked = d.slice();
  intensityCurve(peaked, [0, 1, 0]);
  assert.ok(peaked[500] > 2.99 && peaked[0] < -2.99 && peaked[1000] < -2.99);
  const [lo, hi] = minMax(peaked);
  assert.ok(lo >= -3 - 1e-6 && hi <= 3 + 1e-6);
  const rng = new Rng(4);
  const curve = sampleCurve(rng, 5);
  assert.equal(curve.length, 5);
  assert.ok(curve.every((v) => v >= 0 && v < 1));
  const count = (p: number) => {
    const t = new RandomStrong({ curveProbability: p });
    let n = 0;
    for (let i = 0; i < 400; i++) if (t.sample(new Rng(i), 32, 32).curve) n++;
    return n;
  };
  assert.equal(count(0), 0);
  const half = count(0.5);
  assert.ok(half > 160 && half < 240, `${half} of 400`);
  // Off, the other parameters are drawn exactly as before the curve existed.
  const off = new RandomStrong({ curveProbability: 0 }).sample(new Rng(9), 32, 32);
  const without = new RandomStrong().sample(new Rng(9), 32, 32);
  assert.deepEqual(off, without);
});
