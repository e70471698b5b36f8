import assert from "node:assert/strict";
import { makePhantom2D } from "../../datasets/phantom.ts";
import { Rng } from "../../random/rng.ts";
import { image2d, sliceOf } from "../../transforms/image2d.ts";
import { RandomStrong } from "../../transforms/intensity.ts";
import {
  allocViewBatch,
  labelAt,
  mixLikeStrong,
  viewAt,
  ViewAugmenter,
  weakStrongPair,
} from "../../transforms/views.ts";
import { consistency, equalArrays, hasNaN, labelledPair } from "./_helpers.ts";

const phantoms = (n: number, size: number) =>
  Array.from({ length: n }, (_, i) => makePhantom2D({ seed: 100 + i, size }));

Deno.test("weak/strong pair: shapes, label follows the weak view, strong leaves labels alone", () => {
  const { image, label } = labelledPair(8, 64);
  const labelBefore = label.data.slice();
  for (let seed = 0; seed < 20; seed++) {
    const pair = weakStrongPair(image, new Rng(seed), { weak: { zoomProbability: 0 } }, label);
    assert.equal(pair.weak.width, 64);
    assert.equal(pair.strong.data.length, 64 * 64);
    assert.ok(pair.weakLabel.data instanceof Uint8Array);
    // rot/flip only: the weak view is exact, so intensity still says the label everywhere.
    assert.equal(consistency(pair.weak, pair.weakLabel).mismatches, 0);
    assert.ok(!hasNaN(pair.strong.data));
    // Same seed with strong effects switched off: identical weak view and label (weak drawn first).
    const plain = weakStrongPair(
      image,
      new Rng(seed),
      {
        weak: { zoomProbability: 0 },
        strong: {
          jitterProbability: 0,
          blurProbability: 0,
          noiseProbability: 0,
          cutoutProbability: 0,
        },
      },
      label,
    );
    assert.ok(equalArrays(plain.weakLabel.data, pair.weakLabel.data));
    assert.ok(equalArrays(plain.strong.data, plain.weak.data));
  }
  assert.ok(equalArrays(label.data, labelBefore));
});

Deno.test("weak/strong pair: deterministic by seed, different seeds differ", () => {
  const img = sliceOf(makePhantom2D({ seed: 1, size: 64 }).image);
  const a = weakStrongPair(img, new Rng(5)), b = weakStrongPair(img, new Rng(5));
  assert.ok(equalArrays(a.weak.data, b.weak.data) && equalArrays(a.strong.data, b.strong.data));
  assert.deepEqual(a.params, b.params);
  const c = weakStrongPair(img, new Rng(6));
  assert.ok(!equalArrays(a.strong.data, c.strong.data));
});

Deno.test("batch: views are exactly what the recorded parameters produce, labels mixed like images", () => {
  const ps = phantoms(6, 64);
  const sources = ps.map((p) => sliceOf(p.image));
  const labels = ps.map((p) => sliceOf(p.label));
  const batch = allocViewBatch(6, 64, 64, true);
  const aug = new ViewAugmenter({ strong: { cutmixProbability: 0.7 } });
  const params = aug.batch(sources, new Rng(3), batch, labels);
  assert.equal(params.length, 6);
  let mixes = 0;
  for (let i = 0; i < 6; i++) {
    const weak = aug.weakT.apply(params[i].weak, sources[i], labels[i]);
    assert.ok(equalArrays(viewAt(batch.weak, i, 64, 64).data, weak.image.data), `weak ${i}`);
    assert.ok(equalArrays(labelAt(batch.weakLabels!, i, 64, 64).data, weak.label.data));
    const strong = image2d(64, 64, weak.image.data.slice());
    const cm = params[i].strong.cutmix;
    const partner = cm ? viewAt(batch.weak, cm.partner, 64, 64) : undefined;
    RandomStrong.apply(params[i].strong, strong, partner);
    assert.ok(equalArrays(viewAt(batch.strong, i, 64, 64).data, strong.data), `strong ${i}`);
    // strong labels: own weak label outside the CutMix box, the partner's inside.
    const sl = labelAt(batch.strongLabels!, i, 64, 64).data;
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const inBox = cm && x >= cm.box.x && x < cm.box.x + cm.box.w && y >= cm.box.y &&
          y < cm.box.y + cm.box.h;
        const from = inBox ? cm!.partner : i;
        assert.equal(sl[x + 64 * y], batch.weakLabels![from * 4096 + x + 64 * y]);
      }
    }
    if (cm) {
      mixes++;
      assert.notEqual(cm.partner, i);
    }
  }
  assert.ok(mixes >= 2, "CutMix drawn in the batch");
});

Deno.test("batch: reuses caller buffers, deterministic, advances the generator", () => {
  const sources = phantoms(4, 32).map((p) => sliceOf(p.image));
  const batch = allocViewBatch(4, 32, 32);
  const { weak, strong } = batch;
  const aug = new ViewAugmenter();
  const rng = new Rng(8);
  aug.batch(sources, rng, batch);
  assert.equal(batch.weak, weak);
  assert.equal(batch.strong, strong);
  const first = batch.strong.slice();
  aug.batch(sources, rng, batch); // next step: new augmentations
  assert.ok(!equalArrays(first, batch.strong));
  const again = allocViewBatch(4, 32, 32);
  aug.batch(sources, new Rng(8), again);
  assert.ok(equalArrays(first, again.strong));
  assert.throws(() => aug.batch(sources.slice(0, 3), rng, batch), RangeError);
  assert.throws(() => aug.batch(phantoms(4, 16).map((p) => sliceOf(p.image)), rng, batch));
});

Deno.test("batch with channels: each image's planes get its one weak and one strong transform", () => {
  const ps = phantoms(4, 32);
  const centres = ps.map((p) => sliceOf(p.image)), labels = ps.map((p) => sliceOf(p.label));
  // Three planes per image: a brighter copy, the slice itself, a darker copy.
  const scaled = (im: { data: Float32Array }, k: number) =>
    image2d(32, 32, im.data.map((v) => v * k));
  const planes = centres.flatMap((c) => [scaled(c, 1.5), c, scaled(c, 0.5)]);
  const aug = new ViewAugmenter({ strong: { cutmixProbability: 0.7 } });
  const stacked = allocViewBatch(4, 32, 32, true, 3);
  const params = aug.batch(planes, new Rng(5), stacked, labels);
  assert.equal(stacked.weak.length, 4 * 3 * 32 * 32);
  for (let i = 0; i < 4; i++) {
    for (let c = 0; c < 3; c++) {
      const src = planes[i * 3 + c];
      const weak = aug.weakT.apply(params[i].weak, src, labels[i]);
      assert.ok(equalArrays(viewAt(stacked.weak, i * 3 + c, 32, 32).data, weak.image.data));
      // One label per image, moved as every plane was.
      assert.ok(equalArrays(labelAt(stacked.weakLabels!, i, 32, 32).data, weak.label.data));
      const strong = image2d(32, 32, weak.image.data.slice());
      const cm = params[i].strong.cutmix;
      const partner = cm ? viewAt(stacked.weak, cm.partner * 3 + c, 32, 32) : undefined;
      RandomStrong.apply(params[i].strong, strong, partner);
      assert.ok(equalArrays(viewAt(stacked.strong, i * 3 + c, 32, 32).data, strong.data));
    }
  }
  assert.ok(params.some((p) => p.strong.cutmix), "CutMix drawn in the batch");
  // The draws do not depend on the channel count: one plane per image gives the same records.
  const single = allocViewBatch(4, 32, 32, true);
  assert.deepEqual(aug.batch(centres, new Rng(5), single, labels), params);
  assert.throws(() => aug.batch(centres, new Rng(5), stacked, labels), RangeError);
});

Deno.test("mixLikeStrong mixes C-channel maps with the strong views' boxes", () => {
  const n = 3, c = 2, h = 8, w = 8;
  const src = Float32Array.from({ length: n * c * h * w }, (_, i) => i);
  const dst = new Float32Array(src.length);
  const weak = { k: 0, flipX: false, flipY: false, zoom: 1, cropX: 0, cropY: 0 };
  const params = [
    { weak, strong: { cutmix: { box: { x: 2, y: 1, w: 3, h: 4 }, partner: 2 } } },
    { weak, strong: {} },
    { weak, strong: { cutmix: { box: { x: 0, y: 0, w: 8, h: 8 }, partner: 0 } } },
  ];
  mixLikeStrong(src, dst, params, c, h, w);
  const item = c * h * w;
  for (let ch = 0; ch < c; ch++) {
    const o = ch * h * w;
    assert.equal(dst[o + 0], src[o + 0]);
    assert.equal(dst[o + 2 + 8 * 1], src[2 * item + o + 2 + 8 * 1]);
    assert.equal(dst[o + 4 + 8 * 4], src[2 * item + o + 4 + 8 * 4]);
    assert.equal(dst[o + 5 + 8 * 4], src[o + 5 + 8 * 4]);
  }
  assert.ok(equalArrays(dst.subarray(item, 2 * item), src.subarray(item, 2 * item)));
  assert.ok(equalArrays(dst.subarray(2 * item), src.subarray(0, item))); // from the original
  assert.throws(() => mixLikeStrong(src, src, params, c, h, w), RangeError);
});

Deno.test("speed: a 128x128 weak+strong pair takes well under 2 ms", () => {
  const ps = phantoms(8, 128);
  const sources = ps.map((p) => sliceOf(p.image));
  const batch = allocViewBatch(8, 128, 128);
  const aug = new ViewAugmenter();
  const rng = new Rng(1);
  for (let i = 0; i < 5; i++) aug.batch(sources, rng, batch);
  const steps = 25;
  const t = performance.now();
  for (let i = 0; i < steps; i++) aug.batch(sources, rng, batch);
  const perPair = (performance.now() - t) / (steps * 8);
  // ~0.5 ms on an idle 2-core machine; the bound leaves room for a loaded CI runner.
  assert.ok(perPair < 4, `${perPair.toFixed(2)} ms per pair`);
});
