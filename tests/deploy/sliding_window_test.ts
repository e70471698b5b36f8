/**
 * Sliding-window inference against its definition: every voxel covered, Gaussian weights that
 * cancel for a pointwise model whatever the windows and padding, and a real V-Net whose windows
 * cover the volume exactly once giving the Predictor's own argmax; test-time mirroring against
 * its definition on voxel coordinates.
 */
import { assert, assertEquals } from "../assert.ts";
import { Rng } from "../../random/rng.ts";
import { VNet } from "../../engine/models/vnet.ts";
import { Predictor } from "../../engine/predict.ts";
import {
  centreWindow,
  cropWindow,
  gaussianWeights,
  mirroredRunner,
  predictWindows,
  windowAround,
  windowStarts,
} from "../../deploy/sliding_window.ts";
import { argmaxClasses, mirrored } from "../../deploy/slices.ts";
import { predictVolume } from "../../deploy/predict_volume.ts";

Deno.test("window starts cover every voxel, from 0 to n - p, at most (1 - overlap)·p apart", () => {
  for (const [n, p, overlap] of [[80, 32, 0.5], [33, 16, 0.25], [16, 16, 0.5], [10, 16, 0.5]]) {
    const starts = windowStarts(n, p, overlap);
    assertEquals(starts[0], 0);
    assertEquals(starts.at(-1), Math.max(0, n - p));
    const covered = new Uint8Array(n);
    for (const s of starts) for (let i = s; i < Math.min(n, s + p); i++) covered[i] = 1;
    assert(covered.every((c) => c === 1), `${n}/${p}: not covered`);
    for (let i = 1; i < starts.length; i++) {
      assert(starts[i] - starts[i - 1] <= Math.ceil(p * (1 - overlap)), `${starts}`);
    }
  }
});

Deno.test("a window centred on a voxel moves inside the volume; at 0 where the volume is smaller", () => {
  const dims = [44, 80, 112] as const, patch = [32, 64, 64] as const;
  assertEquals(windowAround([22, 40, 56], dims, patch), [6, 8, 24]);
  assertEquals(windowAround([1, 79, 0], dims, patch), [0, 16, 0]);
  assertEquals(windowAround([5, 5, 5], [10, 80, 112], patch), [0, 0, 0]);
  assertEquals(centreWindow(dims, patch), [6, 8, 24]);
});

Deno.test("the Gaussian map peaks at 1 in the centre, is symmetric and never 0", () => {
  const g = gaussianWeights([4, 6, 8]);
  assert(Math.abs(g[(1 * 6 + 2) * 8 + 3] - 1) < 1e-6 && Math.max(...g) <= 1);
  for (let i = 0; i < g.length; i++) assertEquals(g[i], g[g.length - 1 - i]);
  assert(g.every((v) => v >= 1e-3) && g[0] < 0.01);
});

Deno.test("a pointwise model gives the same probabilities through any windows (weights cancel)", async () => {
  const dims = [11, 20, 17] as const, volume = dims[0] * dims[1] * dims[2];
  const rng = new Rng(9);
  const image = new Float32Array(volume).map(() => rng.uniform(-2, 2));
  // Class 1's probability is the sigmoid of the voxel; padded voxels never reach the output.
  const pointwise = (windows: Float32Array, n: number) => {
    const size = windows.length / n, out = new Float32Array(2 * windows.length);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < size; q++) {
        const p = 1 / (1 + Math.exp(-windows[i * size + q]));
        out[(2 * i + 1) * size + q] = p;
        out[2 * i * size + q] = 1 - p;
      }
    }
    return Promise.resolve(out);
  };
  for (
    const [patch, overlap] of [[[8, 8, 8], 0.5], [[16, 32, 16], 0.25], [[4, 12, 8], 0]] as const
  ) {
    // Mirroring changes nothing either: a pointwise model sees each voxel the same mirrored.
    for (const mirror of [false, true]) {
      const probs = new Float32Array(2 * volume);
      const labels = await predictWindows(pointwise, 2, image, dims, patch, overlap, {
        probs,
        mirror,
      });
      for (let v = 0; v < volume; v++) {
        const p = 1 / (1 + Math.exp(-image[v]));
        assert(Math.abs(probs[volume + v] - p) < 1e-5, `patch ${patch} voxel ${v}`);
        assertEquals(labels[v], p > 1 - p ? 1 : 0);
      }
    }
  }
});

Deno.test("windows tiling a V-Net's input exactly once give the Predictor's argmax", async () => {
  const model = new VNet({ nFilters: 2, numClasses: 3, hasDropout: false }, new Rng(3));
  const patch = [16, 16, 16] as const, dims = [16, 32, 16] as const;
  const predictor = await Predictor.create(model, { spatial: patch });
  const rng = new Rng(5), volume = 16 * 32 * 16, window = 16 ** 3;
  const image = new Float32Array(volume).map(() => rng.uniform(-1, 1));
  const run = async (x: Float32Array, n: number) => (await predictor.run(x, n)).probs;
  const labels = await predictWindows(run, 3, image, dims, patch, 0);
  for (const [i, y0] of [0, 16].entries()) {
    const x = new Float32Array(window);
    cropWindow(image, dims, [0, y0, 0], patch, x);
    const expected = argmaxClasses(await run(x, 1), 0, 3, window);
    for (let z = 0; z < 16; z++) {
      for (let y = 0; y < 16; y++) {
        const got = labels.subarray((z * 32 + y0 + y) * 16, (z * 32 + y0 + y + 1) * 16);
        assertEquals(
          [...got],
          [...expected.subarray((z * 16 + y) * 16, (z * 16 + y + 1) * 16)],
          `window ${i}`,
        );
      }
    }
  }
  // predictVolume hands the probabilities out in the slices' layout, nz x K x H x W, whose
  // argmax is the labels.
  const probs = new Float32Array(3 * volume);
  const inference = { kind: "windows", patch: [16, 16, 16], overlap: 0 } as const;
  const same = await predictVolume(predictor, inference, image, 16, 16, 32, probs);
  assertEquals([...same], [...labels]);
  for (let z = 0; z < 16; z++) {
    assertEquals([...argmaxClasses(probs, z * 3 * 512, 3, 512)], [
      ...labels.subarray(z * 512, (z + 1) * 512),
    ]);
  }
  await predictor.release();
});

Deno.test("mirrored windows: each window's probabilities are the mean over it mirrored in x, y and both, mirrored back", async () => {
  const [d, h, w] = [3, 4, 5], size = d * h * w, n = 2;
  const rng = new Rng(4);
  const x = new Float32Array(n * size).map(() => rng.uniform(-1, 1));
  // The planes of a window mirrored on coordinates: (z, y, x) takes (z, h-1-y, w-1-x), z kept.
  const yx = mirrored(x, w, h, true, true);
  for (let i = 0; i < n; i++) {
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        for (let v = 0; v < w; v++) {
          const at = (yy: number, xx: number) => i * size + (z * h + yy) * w + xx;
          assertEquals(yx[at(y, v)], x[at(h - 1 - y, w - 1 - v)]);
        }
      }
    }
  }
  assertEquals([...mirrored(yx, w, h, true, true)], [...x]);
  // A runner that depends on position (not mirror-equivariant): class 1 is sigmoid(voxel + z/3 +
  // y/7 - x/5), class 0 the rest.
  const calls: Float32Array[] = [];
  const positional = (windows: Float32Array, m: number) => {
    calls.push(windows);
    const out = new Float32Array(2 * windows.length);
    for (let i = 0; i < m; i++) {
      for (let q = 0; q < size; q++) {
        const [z, y, v] = [Math.floor(q / (h * w)), Math.floor(q / w) % h, q % w];
        const p = 1 / (1 + Math.exp(-(windows[i * size + q] + z / 3 + y / 7 - v / 5)));
        out[(2 * i + 1) * size + q] = p;
        out[2 * i * size + q] = 1 - p;
      }
    }
    return Promise.resolve(out);
  };
  const got = await mirroredRunner(positional, [d, h, w])(x, n);
  assertEquals(calls.length, 4);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < size; q++) {
      const [z, y, v] = [Math.floor(q / (h * w)), Math.floor(q / w) % h, q % w];
      let want = 0;
      for (const fy of [0, 1]) {
        for (const fx of [0, 1]) {
          // The mirrored window's voxel that lands on (z, y, v) once mirrored back; z stays.
          const [my, mx] = [fy ? h - 1 - y : y, fx ? w - 1 - v : v];
          want += 1 / (1 + Math.exp(-(x[i * size + q] + z / 3 + my / 7 - mx / 5))) / 4;
        }
      }
      assert(Math.abs(got[(2 * i + 1) * size + q] - want) < 1e-6, `window ${i} voxel ${q}`);
      assert(Math.abs(got[2 * i * size + q] - (1 - want)) < 1e-6);
    }
  }
  // Through predictWindows, mirroring changes this model's probabilities.
  const dims = [5, 6, 7] as const, volume = 5 * 6 * 7;
  const image = new Float32Array(volume).map(() => rng.uniform(-1, 1));
  const [plain, mirroredProbs] = [new Float32Array(2 * volume), new Float32Array(2 * volume)];
  await predictWindows(positional, 2, image, dims, [d, h, w], 0.5, { probs: plain });
  await predictWindows(positional, 2, image, dims, [d, h, w], 0.5, {
    probs: mirroredProbs,
    mirror: true,
  });
  assert(plain.some((p, i) => Math.abs(p - mirroredProbs[i]) > 1e-3));
});
