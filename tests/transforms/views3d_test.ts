/** 3D views: labels move with the weak view, turns and flips invert, CutMix boxes, seeds. */
import { assert, assertEquals } from "../assert.ts";
import { Rng } from "../../random/rng.ts";
import { defaults } from "../../schemas/defaults.ts";
import {
  applyStrong3,
  applyWeak3,
  type Dims,
  fillBox3,
  sampleBox3,
  sampleStrong3,
  sampleWeak3,
} from "../../transforms/views3d.ts";

const dims: Dims = [6, 8, 8];
const size = 6 * 8 * 8;
const augment = defaults.augment;

/** A volume whose label is its own threshold, and distinct values everywhere. */
function volume() {
  const image = Float32Array.from({ length: size }, (_, i) => i / size + (i % 7 === 0 ? 1 : 0));
  const label = Uint8Array.from(image, (v) => (v >= 1 ? 1 : 0));
  return { image, label };
}

Deno.test("weak 3D views move image and label together and keep every voxel", () => {
  const { image, label } = volume();
  for (let seed = 0; seed < 30; seed++) {
    const p = sampleWeak3(new Rng(seed), dims, {
      ...augment.weak,
      rot90Probability: 1,
      zoomProbability: 0,
    });
    const [wi, wl] = [new Float32Array(size), new Uint8Array(size)];
    applyWeak3(p, image, dims, wi);
    applyWeak3(p, label, dims, wl);
    for (let i = 0; i < size; i++) assertEquals(wl[i], wi[i] >= 1 ? 1 : 0);
    assertEquals([...wi].sort().join(), [...image].sort().join());
  }
});

Deno.test("3D zoom-in: trilinear is exact on a linear ramp, labels take the nearest voxel", () => {
  const [d, h, w] = dims;
  const ramp = Float32Array.from({ length: size }, (_, i) => {
    const x = i % w, y = Math.floor(i / w) % h, z = Math.floor(i / (w * h));
    return 100 * z + 10 * y + x;
  });
  const xs = Uint8Array.from({ length: size }, (_, i) => i % w);
  for (let seed = 0; seed < 10; seed++) {
    const p = sampleWeak3(new Rng(seed), dims, {
      ...augment.weak,
      rot90Probability: 0,
      flipXProbability: 0,
      flipYProbability: 0,
      zoomProbability: 1,
      zoom: [1.1, 1.5],
    });
    const { factor: f, at } = p.zoom!;
    const [image, label] = [new Float32Array(size), new Uint8Array(size)];
    applyWeak3(p, ramp, dims, image);
    applyWeak3(p, xs, dims, label);
    const pos = (a: number, i: number) => a + (i + 0.5) / f - 0.5;
    for (let z = 0; z < d - 1; z++) {
      for (let y = 0; y < h - 1; y++) {
        for (let x = 0; x < w - 1; x++) {
          const [pz, py, px] = [pos(at[0], z), pos(at[1], y), pos(at[2], x)];
          const i = (z * h + y) * w + x;
          if (Math.min(pz, py, px) < 0) continue;
          assert(Math.abs(image[i] - (100 * pz + 10 * py + px)) < 1e-3, `seed ${seed} voxel ${i}`);
          assertEquals(label[i], Math.min(w - 1, Math.round(px)));
        }
      }
    }
  }
});

Deno.test("four quarter turns and double flips are the identity; non-square planes turn by halves", () => {
  const { image } = volume();
  let x = image;
  for (let k = 0; k < 4; k++) {
    const out = new Float32Array(size);
    applyWeak3({ rot90: 1, flip: [false, false, false] }, x, dims, out);
    if (k === 0) assert(out.some((v, i) => v !== image[i]));
    x = out;
  }
  assertEquals([...x], [...image]);
  const once = new Float32Array(size), twice = new Float32Array(size);
  applyWeak3({ rot90: 0, flip: [true, true, true] }, image, dims, once);
  applyWeak3({ rot90: 0, flip: [true, true, true] }, once, dims, twice);
  assertEquals([...twice], [...image]);
  for (let seed = 0; seed < 20; seed++) {
    const p = sampleWeak3(new Rng(seed), [4, 8, 6], { ...augment.weak, rot90Probability: 1 });
    assert(p.rot90 === 0 || p.rot90 === 2);
  }
});

Deno.test("3D CutMix pastes the partner inside its box only; strong views are seeded", () => {
  const { image } = volume();
  const partner = new Float32Array(size).fill(-5);
  const strong = { ...augment.strong, cutmixProbability: 1, cutmixArea: [0.2, 0.3] as const };
  const p = sampleStrong3(new Rng(1), dims, {
    ...strong,
    jitterProbability: 0,
    blurProbability: 0,
    noiseProbability: 0,
    curveProbability: 0,
  }, 0);
  assert(p.cutmix);
  const view = image.slice();
  applyStrong3(p, view, dims, partner);
  const box = new Uint8Array(size);
  fillBox3(box, dims, p.cutmix!.box, 1);
  const inside = box.reduce((a, b) => a + b, 0);
  assert(inside >= 0.1 * size && inside <= 0.35 * size, `${inside}`);
  for (let i = 0; i < size; i++) assertEquals(view[i], box[i] ? -5 : image[i]);
  const again = sampleStrong3(new Rng(1), dims, strong, 0);
  assertEquals(JSON.stringify(again), JSON.stringify(sampleStrong3(new Rng(1), dims, strong, 0)));
  assert(JSON.stringify(again) !== JSON.stringify(sampleStrong3(new Rng(2), dims, strong, 0)));
  const b = sampleBox3(new Rng(3), dims, [0.5, 0.5]);
  b.at.forEach((a, i) => assert(a >= 0 && a + b.size[i] <= dims[i]));
});
