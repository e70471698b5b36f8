import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import {
  addFields,
  affineToField,
  compose,
  type DisplacementField,
  flip,
  IDENTITY,
  invert,
  RandomAffine,
  RandomElastic,
  RandomWeak,
  rot90,
  warp,
  warpAffine,
} from "../../transforms/geometric.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import {
  consistency,
  equalArrays,
  hasNaN,
  indexPair,
  labelledPair,
  sourceConsistency,
} from "./_helpers.ts";

Deno.test("rot90 follows numpy rot90 on a non-square image and swaps the size", () => {
  // 3 wide, 2 high:  [[0,1,2],[3,4,5]] -> np.rot90 -> [[2,5],[1,4],[0,3]]
  const { image, label } = indexPair(3, 2);
  const r = rot90(image, label, 1);
  assert.equal(r.image.width, 2);
  assert.equal(r.image.height, 3);
  assert.deepEqual(Array.from(r.image.data), [2, 5, 1, 4, 0, 3]);
  assert.deepEqual(Array.from(r.label.data), [2, 5, 1, 4, 0, 3].map((i) => (i * 7) % 251));
  assert.deepEqual(Array.from(rot90(image, undefined, 2).image.data), [5, 4, 3, 2, 1, 0]);
  assert.deepEqual(Array.from(rot90(image, undefined, -1).image.data), [3, 0, 4, 1, 5, 2]);
});

Deno.test("rot90 and flips are exactly invertible, image and label alike", () => {
  const { image, label } = indexPair(7, 5);
  for (let k = 0; k < 4; k++) {
    const r = rot90(image, label, k);
    const back = rot90(r.image, r.label, 4 - k);
    assert.ok(equalArrays(back.image.data, image.data), `rot90 k=${k}`);
    assert.ok(equalArrays(back.label.data, label.data));
  }
  for (const [fx, fy] of [[true, false], [false, true], [true, true]]) {
    const f = flip(image, label, fx, fy);
    assert.ok(!equalArrays(f.image.data, image.data));
    const back = flip(f.image, f.label, fx, fy);
    assert.ok(equalArrays(back.image.data, image.data));
    assert.ok(equalArrays(back.label.data, label.data));
  }
  assert.deepEqual(Array.from(flip(image, undefined, true, false).image.data.subarray(0, 7)), [
    6,
    5,
    4,
    3,
    2,
    1,
    0,
  ]);
});

Deno.test("weak view without zoom is an exact permutation that keeps every label on its pixel", () => {
  const { image, label } = indexPair(16, 16);
  const weak = new RandomWeak({ zoomProbability: 0, flipYProbability: 0.5 });
  const rng = new Rng(1);
  const seen = new Set<string>();
  for (let t = 0; t < 40; t++) {
    const p = weak.sample(rng, 16, 16);
    seen.add(`${p.k}${p.flipX}${p.flipY}`);
    const out = weak.apply(p, image, label);
    const sorted = Float32Array.from(out.image.data).sort();
    assert.ok(equalArrays(sorted, image.data), "values are a permutation");
    for (let i = 0; i < 256; i++) assert.equal(out.label.data[i], (out.image.data[i] * 7) % 251);
  }
  assert.ok(seen.size >= 12, `only ${seen.size} of 16 rot/flip combinations drawn`);
});

Deno.test("weak view rejects odd rot90 on non-square images and never samples it", () => {
  const weak = new RandomWeak();
  const rng = new Rng(2);
  for (let t = 0; t < 100; t++) assert.equal(weak.sample(rng, 20, 10).k % 2, 0);
  const { image } = indexPair(20, 10);
  assert.throws(() =>
    weak.apply({ k: 1, flipX: false, flipY: false, zoom: 1, cropX: 0, cropY: 0 }, image, undefined)
  );
});

Deno.test("every geometric transform moves label and image together", () => {
  const src = labelledPair(3, 96);
  const { image, label } = src;
  assert.equal(consistency(image, label).mismatches, 0);
  const rng = new Rng(11);
  const weak = new RandomWeak({ zoomProbability: 1 });
  const affine = new RandomAffine();
  const elastic = new RandomElastic({ alpha: [0.03, 0.05] });
  const viaMatrix = (m: readonly number[]) => (x: number, y: number) =>
    [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]] as const;
  const viaField = (f: DisplacementField) => (x: number, y: number) =>
    [x + f.dx[x + f.width * y], y + f.dy[x + f.width * y]] as const;
  for (let t = 0; t < 10; t++) {
    const wp = weak.sample(rng, 96, 96);
    const ap = affine.sample(rng, 96, 96);
    const ep = elastic.sample(rng, 96, 96);
    const both = addFields(
      affineToField(RandomAffine.matrix(affine.sample(rng, 96, 96), 96, 96), 96, 96),
      RandomElastic.field(elastic.sample(rng, 96, 96), 96, 96),
    );
    const cases = [
      { out: weak.apply(wp, image, label), map: viaMatrix(RandomWeak.matrix(wp, 96, 96)) },
      { out: affine.apply(ap, image, label), map: viaMatrix(RandomAffine.matrix(ap, 96, 96)) },
      { out: elastic.apply(ep, image, label), map: viaField(RandomElastic.field(ep, 96, 96)) },
      { out: warp(image, label, both), map: viaField(both) },
    ];
    for (const [k, { out, map }] of cases.entries()) {
      // Exact: away from source edges the output label and intensity agree with the source.
      const exact = sourceConsistency(src, out, map);
      assert.equal(exact.bad, 0, `transform ${k}: ${exact.bad} pixels disagree with the source`);
      assert.ok(exact.checked > 0.5 * 96 * 96);
      // Transform-agnostic: mismatches only along label edges.
      const c = consistency(out.image, out.label, 3);
      assert.ok(c.far <= 2, `transform ${k}: ${c.far} pixels off their label away from edges`);
      assert.ok(c.mismatches < 0.08 * c.pixels, `transform ${k}: ${c.mismatches} edge mismatches`);
      assert.ok(!hasNaN(out.image.data));
    }
  }
});

Deno.test("the consistency check catches a label that drifted from its image", () => {
  const { image, label } = labelledPair(3, 96);
  const shifted = warpAffine(image, undefined, [1, 0, 6, 0, 1, 0]).image;
  assert.ok(consistency(shifted, label, 3).far > 50);
  const rotated = rot90(image, undefined, 2).image;
  assert.ok(consistency(rotated, label, 3).far > 100);
  // A label resampled through a slightly different map than its image is caught exactly.
  const m = RandomAffine.matrix({ scale: 1.1, rotationDeg: 5, tx: 0, ty: 0 }, 96, 96);
  const out = {
    image: warpAffine(image, undefined, m).image,
    label: warpAffine(image, label, [m[0], m[1], m[2] + 1.5, m[3], m[4], m[5]]).label,
  };
  const map = (x: number, y: number) =>
    [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]] as const;
  assert.ok(sourceConsistency({ image, label }, out, map).bad > 20);
});

Deno.test("identity warps are exact; compose/invert are consistent", () => {
  const { image, label } = labelledPair(4, 64);
  const a = warpAffine(image, label, IDENTITY);
  assert.ok(equalArrays(a.image.data, image.data));
  assert.ok(equalArrays(a.label.data, label.data));
  const zero: DisplacementField = {
    dx: new Float32Array(64 * 64),
    dy: new Float32Array(64 * 64),
    width: 64,
    height: 64,
  };
  const b = warp(image, label, zero);
  assert.ok(equalArrays(b.image.data, image.data));
  assert.ok(equalArrays(b.label.data, label.data));
  const m = RandomAffine.matrix({ scale: 1.1, rotationDeg: 12, tx: 3, ty: -2 }, 64, 64);
  const id = compose(m, invert(m));
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(id[i] - IDENTITY[i]) < 1e-9);
  // warpAffine and warp(affineToField) agree.
  const viaField = warp(image, label, affineToField(m, 64, 64));
  const direct = warpAffine(image, label, m);
  for (let i = 0; i < 64 * 64; i++) {
    assert.ok(Math.abs(viaField.image.data[i] - direct.image.data[i]) < 1e-3);
  }
});

Deno.test("random affine: parameter ranges and the centre stays fixed without translation", () => {
  const t = new RandomAffine({ scale: [0.8, 1.2], rotationDeg: 15, translate: 0.1 });
  const rng = new Rng(5);
  let minS = 9, maxS = 0, maxR = 0;
  for (let i = 0; i < 500; i++) {
    const p = t.sample(rng, 100, 50);
    assert.ok(p.scale >= 0.8 && p.scale <= 1.2);
    assert.ok(Math.abs(p.rotationDeg) <= 15);
    assert.ok(Math.abs(p.tx) <= 10 && Math.abs(p.ty) <= 5);
    minS = Math.min(minS, p.scale);
    maxS = Math.max(maxS, p.scale);
    maxR = Math.max(maxR, Math.abs(p.rotationDeg));
  }
  assert.ok(minS < 0.82 && maxS > 1.18 && maxR > 14, "ranges are actually explored");
  const m = RandomAffine.matrix({ scale: 1.2, rotationDeg: 10, tx: 0, ty: 0 }, 101, 51);
  assert.ok(Math.abs(m[0] * 50 + m[1] * 25 + m[2] - 50) < 1e-9);
  assert.ok(Math.abs(m[3] * 50 + m[4] * 25 + m[5] - 25) < 1e-9);
  // scale > 1 enlarges: a centred disc gets more pixels.
  const { image, label } = labelledPair(2, 96);
  const count = (l: Uint8Array) => l.reduce((s, v) => s + (v ? 1 : 0), 0);
  const big = t.apply({ scale: 1.2, rotationDeg: 0, tx: 0, ty: 0 }, image, label);
  assert.ok(count(big.label.data) > 1.3 * count(label.data));
});

Deno.test("weak zoom-crop: ranges respected, crop stays inside the image", () => {
  const weak = new RandomWeak({ zoomProbability: 1, zoom: [1, 1.25] });
  const rng = new Rng(6);
  for (let i = 0; i < 300; i++) {
    const p = weak.sample(rng, 128, 96);
    assert.ok(p.zoom >= 1 && p.zoom <= 1.25);
    assert.ok(p.cropX >= 0 && p.cropX + 128 / p.zoom <= 128 + 1e-9);
    assert.ok(p.cropY >= 0 && p.cropY + 96 / p.zoom <= 96 + 1e-9);
    const m = RandomWeak.matrix(p, 128, 96);
    for (const [x, y] of [[0, 0], [127, 0], [0, 95], [127, 95]]) {
      const xs = m[0] * x + m[1] * y + m[2], ys = m[3] * x + m[4] * y + m[5];
      assert.ok(
        xs >= -0.5 && xs <= 127.5 && ys >= -0.5 && ys <= 95.5,
        `corner maps to ${xs},${ys}`,
      );
    }
  }
  assert.throws(() => new RandomWeak({ zoom: [0.9, 1.1] }), RangeError);
});

Deno.test("elastic: smooth field of the requested magnitude, seeded", () => {
  const t = new RandomElastic({ alpha: [0.04, 0.04], sigma: [0.2, 0.2] });
  const p = t.sample(new Rng(8), 128, 128);
  assert.ok(Math.abs(p.alphaPx - 0.04 * 128) < 1e-9);
  const f = RandomElastic.field(p, 128, 128);
  let s2 = 0, grad = 0;
  for (let i = 0; i < f.dx.length; i++) s2 += f.dx[i] ** 2 + f.dy[i] ** 2;
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x + 1 < 128; x++) {
      grad = Math.max(grad, Math.abs(f.dx[x + 1 + 128 * y] - f.dx[x + 128 * y]));
    }
  }
  const rms = Math.sqrt(s2 / (2 * f.dx.length));
  assert.ok(rms > 0.4 * p.alphaPx && rms < 1.6 * p.alphaPx, `rms ${rms} vs alpha ${p.alphaPx}`);
  // White noise of this std would step by ~alpha between neighbours.
  assert.ok(grad < 0.3 * p.alphaPx, `field not smooth: neighbour step ${grad}`);
  const q = t.sample(new Rng(8), 128, 128);
  assert.ok(equalArrays(p.offsets, q.offsets));
  assert.ok(!equalArrays(p.offsets, t.sample(new Rng(9), 128, 128).offsets));
  const off = new RandomElastic({ probability: 0 }).sample(new Rng(1), 64, 64);
  assert.ok(off.offsets.every((v) => v === 0));
});

Deno.test("geometric transforms are deterministic by seed and reuse output buffers", () => {
  const { image, label } = labelledPair(5, 64);
  const run = (seed: number) => {
    const rng = new Rng(seed);
    const w = new RandomWeak({ zoomProbability: 1 });
    const a = new RandomAffine();
    const e = new RandomElastic();
    const o1 = w.apply(w.sample(rng, 64, 64), image, label);
    const o2 = a.apply(a.sample(rng, 64, 64), o1.image, o1.label);
    return e.apply(e.sample(rng, 64, 64), o2.image, o2.label);
  };
  const x = run(1), y = run(1), z = run(2);
  assert.ok(equalArrays(x.image.data, y.image.data) && equalArrays(x.label.data, y.label.data));
  assert.ok(!equalArrays(x.image.data, z.image.data));
  const outImage = new Float32Array(64 * 64), outLabel = new Uint8Array(64 * 64);
  const r = warpAffine(image, label, [1, 0, 0.5, 0, 1, 0], { outImage, outLabel });
  assert.equal(r.image.data, outImage);
  assert.equal(r.label.data, outLabel);
  assert.throws(() => warpAffine(image, label, IDENTITY, { outImage: new Float32Array(3) }));
  assert.throws(() => warpAffine(image, label2d(3, 3), IDENTITY));
  assert.throws(() => image2d(4, 4, new Float32Array(3)));
});
