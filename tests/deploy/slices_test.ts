import { assert, assertEquals } from "../assert.ts";
import {
  mirrored,
  probsOf,
  sliceInputs,
  slicePredictions,
  sliceStack,
} from "../../deploy/slices.ts";
import { UNet } from "../../engine/models/unet.ts";
import { Predictor } from "../../engine/predict.ts";
import { Rng } from "../../random/rng.ts";

// Four 2x1 planes whose values say their slice: plane z holds [10z, 10z + 1].
const volume = Float32Array.from({ length: 8 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));

Deno.test("sliceStack: a slice between its neighbours, the end slices repeated past the ends", () => {
  const out = new Float32Array(6);
  sliceStack(volume, 4, 2, 2, 1, out);
  assertEquals([...out], [10, 11, 20, 21, 30, 31]);
  sliceStack(volume, 4, 2, 0, 1, out);
  assertEquals([...out], [0, 1, 0, 1, 10, 11]);
  const wide = new Float32Array(10);
  sliceStack(volume, 4, 2, 3, 2, wide);
  assertEquals([...wide], [10, 11, 20, 21, 30, 31, 30, 31, 30, 31]);
});

Deno.test("sliceInputs: without context the volume's own planes, with it one stack per slice", () => {
  const view = sliceInputs(volume, 4, 2, 1, 2, 0);
  assertEquals([...view], [10, 11, 20, 21]);
  assertEquals(view.buffer, volume.buffer);
  assertEquals([...sliceInputs(volume, 4, 2, 2, 2, 1)], [
    ...[10, 11, 20, 21, 30, 31],
    ...[20, 21, 30, 31, 30, 31],
  ]);
});

Deno.test("mirrored: planes flipped in x, y or both, and back again", () => {
  // Two 3x2 planes: value = 100 * plane + 10 * y + x.
  const x = Float32Array.from({ length: 12 }, (_, i) => {
    const p = Math.floor(i / 6), y = Math.floor((i % 6) / 3);
    return 100 * p + 10 * y + (i % 3);
  });
  assertEquals([...mirrored(x, 3, 2, true, false)].slice(0, 6), [2, 1, 0, 12, 11, 10]);
  assertEquals([...mirrored(x, 3, 2, false, true)].slice(6), [110, 111, 112, 100, 101, 102]);
  assertEquals([...mirrored(x, 3, 2, true, true)].slice(0, 3), [12, 11, 10]);
  assertEquals([...mirrored(mirrored(x, 3, 2, true, true), 3, 2, true, true)], [...x]);
});

Deno.test("test-time mirroring: the mean of four runs, and a mirrored slice gets the mirrored answer", async () => {
  const net = new UNet(
    { inChannels: 1, numClasses: 3, channels: [4, 8], dropout: [0, 0], up: "transpose" },
    new Rng(41),
  );
  const rng = new Rng(42);
  net.store.buffers.data.forEach((_, i, a) => (a[i] = 0.3 + rng.next()));
  net.store.params.data.forEach((v, i, a) => (a[i] = v + 0.2 * rng.normal()));
  const [w, h, n] = [16, 8, 2];
  const predictor = await Predictor.create(net, { spatial: [h, w], session: { threads: 1 } });
  const run = probsOf(predictor);
  try {
    const x = Float32Array.from({ length: n * w * h }, () => rng.normal());
    const plain = (await predictor.run(x, n)).probs.slice();
    assertEquals([...(await slicePredictions(run, x, n, w, h))], [...plain]);
    const tta = await slicePredictions(run, x, n, w, h, true);
    // Built here: the four runs, each mirrored back by index arithmetic, averaged.
    const want = new Float32Array(plain.length);
    for (const [fx, fy] of [[false, false], [true, false], [false, true], [true, true]]) {
      const flip = (a: Float32Array) =>
        a.map((_, i) => {
          const o = i - (i % (w * h)), y = Math.floor((i % (w * h)) / w), c = i % w;
          return a[o + (fy ? h - 1 - y : y) * w + (fx ? w - 1 - c : c)];
        });
      const q = flip((await predictor.run(flip(x), n)).probs.slice());
      q.forEach((v, i) => (want[i] += v / 4));
    }
    let worst = 0;
    tta.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
    assert(worst < 1e-6, `mean of four runs: off by ${worst}`);
    assert(tta.some((v, i) => Math.abs(v - plain[i]) > 1e-3), "mirroring changes the answer");
    // The mirrored answer is equivariant: mirror the input, get the answer mirrored.
    const flippedAnswer = await slicePredictions(
      run,
      mirrored(x, w, h, true, false),
      n,
      w,
      h,
      true,
    );
    const back = mirrored(flippedAnswer, w, h, true, false);
    worst = 0;
    back.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - tta[i]))));
    assert(worst < 1e-5, `equivariance: off by ${worst}`);
  } finally {
    await predictor.release();
  }
});
