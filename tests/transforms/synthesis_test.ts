import assert from "node:assert/strict";
import { makePhantom2D } from "../../datasets/phantom.ts";
import { Rng } from "../../random/rng.ts";
import { image2d, sliceOf } from "../../transforms/image2d.ts";
import {
  classesIn,
  inpaint,
  synthesizeMany,
  synthesizeSample,
  synthesizeStack,
  touchingGroups,
} from "../../transforms/synthesis.ts";
import { consistency, equalArrays, hasNaN, labelledPair, smooth } from "./_helpers.ts";

/** Unlabelled backgrounds whose intensity says "label 0" (values in [0.1, 0.9]). */
const plainBackgrounds = (n: number, size: number) =>
  Array.from({ length: n }, (_, k) => {
    const d = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) d[x + size * y] = smooth(x * (k + 2) * 0.7, y * 1.3);
    }
    return image2d(size, size, d);
  });

const geometryOnly = { intensityProbability: 0, pasteGain: [1, 1] as const };

Deno.test("synthesis: label and image stay together on both kinds of background", () => {
  const exemplar = labelledPair(3, 96);
  const backgrounds = plainBackgrounds(2, 96);
  for (const backgroundProbability of [0, 1]) {
    for (let seed = 0; seed < 12; seed++) {
      const s = synthesizeSample(exemplar, backgrounds, new Rng(seed), {
        ...geometryOnly,
        backgroundProbability,
      });
      assert.equal(s.params.background >= 0, backgroundProbability === 1);
      const c = consistency(s.image, s.label, 3);
      assert.ok(c.far <= 2, `bg ${backgroundProbability} seed ${seed}: ${c.far} far mismatches`);
      assert.ok(c.mismatches < 0.1 * c.pixels, `seed ${seed}: ${c.mismatches} edge mismatches`);
      assert.ok(!hasNaN(s.image.data));
    }
  }
});

Deno.test("synthesis: painter's order, only exemplar classes, pasted classes present", () => {
  const ex = makePhantom2D({ seed: 1, size: 96 });
  const exemplar = { image: sliceOf(ex.image), label: sliceOf(ex.label) };
  const bgs = [2, 3].map((s) => sliceOf(makePhantom2D({ seed: s, size: 96 }).image));
  let unlabelledBg = 0, hidden = 0;
  for (let seed = 0; seed < 20; seed++) {
    const s = synthesizeSample(exemplar, bgs, new Rng(seed), {
      pasteProbability: 1,
      pasteGroups: "class",
    });
    assert.equal(s.image.width, 96);
    assert.ok(s.label.data instanceof Uint8Array && s.image.data instanceof Float32Array);
    const present = classesIn(s.label);
    for (const c of present) assert.ok([1, 2, 3].includes(c));
    assert.deepEqual(s.params.pastes.map((p) => p.classes).sort(), [[1], [2], [3]]);
    // Painter's order: the last pasted class is on top, so it is always visible; an earlier
    // one may be hidden completely now and then.
    const last = s.params.pastes[s.params.pastes.length - 1];
    assert.ok(present.includes(last.classes[0]));
    hidden += 3 - present.length;
    if (s.params.background >= 0) unlabelledBg++;
    assert.ok(!hasNaN(s.image.data));
  }
  assert.ok(unlabelledBg > 0 && unlabelledBg < 20);
  assert.ok(hidden <= 4, `${hidden} of 60 pasted classes fully hidden`);
});

Deno.test("synthesis: sample i is reproducible alone (shardable), seeds differ", () => {
  const exemplar = labelledPair(4, 64);
  const bgs = plainBackgrounds(2, 64);
  const rng = new Rng(21);
  const all = synthesizeMany(exemplar, bgs, rng, 5);
  const shard = synthesizeMany(exemplar, bgs, rng, 2, {}, 3);
  assert.ok(equalArrays(all[3].image.data, shard[0].image.data));
  assert.ok(equalArrays(all[4].label.data, shard[1].label.data));
  const single = synthesizeSample(exemplar, bgs, new Rng(21).fork(2));
  assert.ok(equalArrays(all[2].image.data, single.image.data));
  assert.deepEqual(all[2].params.pastes, single.params.pastes);
  assert.ok(!equalArrays(all[0].image.data, all[1].image.data));
});

Deno.test("synthesis: intensity change never moves labels; parameter ranges respected", () => {
  const exemplar = labelledPair(5, 64);
  for (let seed = 0; seed < 10; seed++) {
    const on = synthesizeSample(exemplar, [], new Rng(seed), { intensityProbability: 1 });
    const off = synthesizeSample(exemplar, [], new Rng(seed), { intensityProbability: 0 });
    assert.ok(equalArrays(on.label.data, off.label.data));
    assert.ok(!equalArrays(on.image.data, off.image.data));
    const it = on.params.intensity!;
    assert.ok(it.contrast >= 0.75 && it.contrast <= 1.25);
    assert.ok(it.gamma >= 0.7 - 1e-9 && it.gamma <= 1.5 + 1e-9);
    assert.ok(it.noiseStd >= 0 && it.noiseStd <= 0.03);
    for (const p of on.params.pastes) {
      assert.ok(p.affine.scale >= 0.8 && p.affine.scale <= 1.2);
      assert.ok(Math.abs(p.affine.rotationDeg) <= 15);
      assert.ok(Math.abs(p.affine.tx) <= 0.15 * 64 && Math.abs(p.affine.ty) <= 0.15 * 64);
      assert.ok(p.gain >= 0.95 && p.gain <= 1.05);
    }
    assert.ok(on.params.affine.scale >= 0.8 && on.params.affine.scale <= 1.2);
    assert.equal(on.params.background, -1); // no backgrounds given
  }
});

Deno.test("synthesis: a moved class leaves no copy behind on the exemplar background", () => {
  const exemplar = labelledPair(3, 96);
  const run = (inpaint: boolean) =>
    synthesizeSample(exemplar, [], new Rng(1), {
      ...geometryOnly,
      inpaint,
      pasteProbability: 1,
      pasteTranslate: 0.3,
      affine: { probability: 0 },
      elastic: { probability: 0 },
    });
  // Control: without in-painting the structures stay where they were as well (duplicates).
  const fg = (l: Uint8Array) => l.reduce((n, v) => n + (v ? 1 : 0), 0);
  const kept = run(false);
  const s = run(true);
  assert.ok(fg(kept.label.data) > fg(s.label.data) + 100);
  // Without global deformation the exemplar background is the exemplar itself: wherever a class
  // was and now is label 0, the intensity must say background (in-painted from label-0 tissue).
  const nearStructure = (i: number) => {
    const x = i % 96, y = Math.floor(i / 96);
    for (let dy = -3; dy <= 3; dy++) {
      for (let dx = -3; dx <= 3; dx++) {
        const xx = x + dx, yy = y + dy;
        if (xx >= 0 && yy >= 0 && xx < 96 && yy < 96 && s.label.data[xx + 96 * yy]) return true;
      }
    }
    return false;
  };
  let filled = 0;
  for (let i = 0; i < 96 * 96; i++) {
    if (exemplar.label.data[i] !== 0 && s.label.data[i] === 0 && !nearStructure(i)) {
      filled++;
      assert.ok(
        s.image.data[i] < 1.5,
        `ghost of class ${exemplar.label.data[i]}: ${s.image.data[i]}`,
      );
    }
  }
  assert.ok(filled > 50);
});

Deno.test("inpaint: fills only the holes, from the sources' range, keeps the rest", () => {
  const w = 48, h = 40;
  const data = Float32Array.from({ length: w * h }, (_, i) => smooth(i % w, Math.floor(i / w)));
  const known = new Uint8Array(w * h).fill(1);
  for (let y = 10; y < 30; y++) for (let x = 12; x < 36; x++) known[x + w * y] = 0;
  known[0] = 2;
  const before = data.slice();
  data[5 + w * 20] = 100; // a hole's old value must vanish
  known[5 + w * 20] = 0;
  inpaint(data, w, h, known, new Rng(1));
  for (let i = 0; i < w * h; i++) {
    if (known[i]) assert.equal(data[i], before[i]);
    else assert.ok(data[i] > 0 && data[i] < 1, `filled ${data[i]}`);
  }
});

Deno.test("synthesis rejects mismatched shapes", () => {
  const exemplar = labelledPair(3, 64);
  assert.throws(() =>
    synthesizeSample(exemplar, plainBackgrounds(1, 32), new Rng(1), {
      backgroundProbability: 1,
    })
  );
  assert.throws(() =>
    synthesizeSample({ image: exemplar.image, label: labelledPair(3, 32).label }, [], new Rng(1))
  );
});

/** A heart-like exemplar: LV (3) disk inside a Myo (2) ring, the RV (1) touching the ring. */
function heartExemplar(size = 80) {
  const image = new Float32Array(size * size), label = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - 44, y - 40);
      const rv = Math.hypot((x - 26) / 1.3, y - 40) < 8 && r >= 12;
      const k = r < 8 ? 3 : r < 12 ? 2 : rv ? 1 : 0;
      label[x + size * y] = k;
      image[x + size * y] = [0.2, 0.8, 0.4, 0.9][k] + 0.02 * smooth(x, y);
    }
  }
  return { image: image2d(size, size, image), label: { width: size, height: size, data: label } };
}

/** Pixels of class `inner` with a 4-neighbour outside {inner, ring}: the ring is broken there. */
function leaks(label: Uint8Array, size: number, inner: number, ring: number): number {
  let n = 0;
  for (let y = 1; y < size - 1; y++) {
    for (let x = 1; x < size - 1; x++) {
      if (label[x + size * y] !== inner) continue;
      for (const d of [-1, 1, -size, size]) {
        const v = label[x + size * y + d];
        if (v !== inner && v !== ring) n++;
      }
    }
  }
  return n;
}

Deno.test("synthesis: touching classes move as one region (the ring keeps surrounding its cavity)", () => {
  const exemplar = heartExemplar();
  assert.deepEqual(touchingGroups(exemplar.label), [[1, 2, 3]]);
  let brokenTouching = 0, brokenPerClass = 0;
  for (let seed = 0; seed < 20; seed++) {
    const options = { ...geometryOnly, pasteProbability: 1, backgroundProbability: 0 };
    const group = synthesizeSample(exemplar, [], new Rng(seed), options);
    assert.deepEqual(group.params.pastes.map((p) => [...p.classes]), [[1, 2, 3]]);
    if (leaks(group.label.data, 80, 3, 2) > 0) brokenTouching++;
    const apart = synthesizeSample(exemplar, [], new Rng(seed), {
      ...options,
      pasteGroups: "class",
    });
    assert.equal(apart.params.pastes.length, 3);
    if (leaks(apart.label.data, 80, 3, 2) > 0) brokenPerClass++;
  }
  assert.equal(brokenTouching, 0, `${brokenTouching} of 20 grouped samples broke the ring`);
  assert.ok(brokenPerClass >= 10, `only ${brokenPerClass} of 20 per-class samples broke it`);
  // Classes that do not touch stay separate regions.
  const two = heartExemplar();
  const far = two.label.data.map((v) => (v === 1 ? 0 : v));
  for (let y = 5; y < 12; y++) for (let x = 5; x < 12; x++) far[x + 80 * y] = 1;
  assert.deepEqual(touchingGroups({ ...two.label, data: far }), [[1], [2, 3]]);
});

Deno.test("synthesis: random intensity curves reorder tissue intensities, never the labels", () => {
  const exemplar = heartExemplar();
  const classMean = (img: Float32Array, lab: Uint8Array, k: number) => {
    let s = 0, n = 0;
    for (let i = 0; i < lab.length; i++) if (lab[i] === k) [s, n] = [s + img[i], n + 1];
    return s / n;
  };
  let reordered = 0;
  for (let seed = 0; seed < 20; seed++) {
    const base = { ...geometryOnly, intensityProbability: 1, noiseStd: [0, 0] as const };
    const on = synthesizeSample(exemplar, [], new Rng(seed), { ...base, curveProbability: 1 });
    const off = synthesizeSample(exemplar, [], new Rng(seed), base);
    assert.ok(equalArrays(on.label.data, off.label.data));
    assert.equal(on.params.intensity!.curve!.length, 5);
    assert.equal(off.params.intensity!.curve, undefined);
    // The exemplar's LV (0.9) is brighter than its myocardium (0.4); curves often reverse it.
    const lv = classMean(on.image.data, on.label.data, 3);
    if (lv < classMean(on.image.data, on.label.data, 2)) reordered++;
  }
  assert.ok(reordered >= 4 && reordered <= 16, `${reordered} of 20 reordered`);
});

Deno.test("synthesis for 2.5D: the neighbouring planes move and change with the centre", () => {
  const exemplar = labelledPair(3, 64);
  const backgrounds = plainBackgrounds(3, 64);
  const shifted = (im: { data: Float32Array }, k: number) =>
    image2d(64, 64, im.data.map((v) => v + k));
  for (let seed = 0; seed < 6; seed++) {
    const config = { ...geometryOnly, backgroundProbability: 0.5 };
    const stack = synthesizeStack(
      [shifted(exemplar.image, 0.25), exemplar.image, exemplar.image],
      exemplar.label,
      [backgrounds.map((b) => shifted(b, 0.25)), backgrounds, backgrounds],
      new Rng(seed),
      config,
    );
    // The centre is the single-slice sample; a neighbour equal to it is the same plane again.
    const single = synthesizeSample(exemplar, backgrounds, new Rng(seed), config);
    const plane = 64 * 64, planes = stack.planes;
    assert.ok(equalArrays(planes.subarray(plane, 2 * plane), single.image.data), `seed ${seed}`);
    assert.ok(equalArrays(stack.label.data, single.label.data));
    assert.ok(equalArrays(planes.subarray(2 * plane), single.image.data));
    // A neighbour 0.25 brighter everywhere comes out 0.25 brighter: same warps, blends, picks.
    let worst = 0;
    for (let i = 0; i < plane; i++) {
      worst = Math.max(worst, Math.abs(planes[i] - planes[plane + i] - 0.25));
    }
    assert.ok(worst < 1e-4, `seed ${seed}: neighbour off by ${worst}`);
  }
});

Deno.test("synthesis: an unlabelled background's own pixels can be unknown, beyond a ring around the pastes", () => {
  const exemplar = labelledPair(3, 96);
  const backgrounds = plainBackgrounds(2, 96);
  for (let seed = 0; seed < 8; seed++) {
    const draw = (backgroundProbability: number, backgroundLabels: "background" | "unknown") =>
      synthesizeSample(exemplar, backgrounds, new Rng(seed), {
        ...geometryOnly,
        backgroundProbability,
        backgroundLabels,
      });
    const labelled = draw(1, "background"), unknown = draw(1, "unknown");
    // Same draws, same image; only label-0 pixels farther than 3 px from a paste change, to 255.
    assert.deepEqual(unknown.image.data, labelled.image.data);
    assert.deepEqual(unknown.params, labelled.params);
    const { width: w, height: h } = labelled.label;
    const near = (x: number, y: number) => {
      for (let dy = -3; dy <= 3; dy++) {
        for (let dx = -3; dx <= 3; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h && labelled.label.data[xx + w * yy]) {
            return true;
          }
        }
      }
      return false;
    };
    let unknowns = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = x + w * y, l = labelled.label.data[i];
        const want = l === 0 && !near(x, y) ? 255 : l;
        assert.equal(unknown.label.data[i], want, `seed ${seed} at ${x},${y}`);
        if (want === 255) unknowns++;
      }
    }
    assert.ok(unknowns > 0.3 * w * h, `seed ${seed}: only ${unknowns} unknown pixels`);
    // On the exemplar's own background every label is known.
    assert.deepEqual(draw(0, "unknown").label.data, draw(0, "background").label.data);
  }
});
