import { assert, assertAlmostEquals, assertEquals } from "../assert.ts";
import { python, readF64, tempDir } from "../io/python.ts";
import { applyIntensity, fitIntensity } from "../../preprocess/intensity.ts";
import { resampleData, resizeSlice } from "../../preprocess/geometry.ts";
import {
  applyRecorded,
  type CaseTransform,
  normalizeCase,
  type NormalizeRecipe,
  restoreToOriginal,
} from "../../preprocess/normalize.ts";
import { Rng } from "../../random/rng.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";

function phantom(seed: number, shape: [number, number, number] = [40, 32, 12]) {
  const [nx, ny, nz] = shape;
  const rng = new Rng(seed);
  const img = new Float32Array(nx * ny * nz);
  const lab = new Uint8Array(nx * ny * nz);
  const c = [nx * 0.55, ny * 0.45, nz * 0.5], r = [nx * 0.2, ny * 0.25, nz * 0.3];
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        const d = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2;
        const body = x > 3 && x < nx - 4 && y > 2 && y < ny - 3;
        lab[i] = d < 1 ? (d < 0.3 ? 2 : 1) : 0;
        img[i] = body ? 100 + 50 * lab[i] + rng.normal() * 5 : 0;
      }
    }
  }
  const affine = [0, -0.8, 0, 50, 0.7, 0, 0, -20, 0, 0, 2.5, 10, 0, 0, 0, 1];
  const image: Volume = { data: img, shape, spacing: [0.7, 0.8, 2.5], affine };
  const label: LabelVolume = { ...image, data: lab };
  return { image, label };
}

Deno.test("intensity: z-score, non-zero z-score, percentile clip match numpy; CT window", async () => {
  const { image } = phantom(1);
  const dir = tempDir("intensity");
  Deno.writeFileSync(`${dir}/v.f32`, new Uint8Array(image.data.buffer));
  const out = JSON.parse(
    await python(
      `
import sys, json, numpy as np
v = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64); nz = v[v != 0]
lo, hi = np.percentile(v, 1), np.percentile(v, 99); c = np.clip(v, lo, hi)
print(json.dumps([v.mean(), v.std(), nz.mean(), nz.std(), lo, hi, c.mean(), c.std()]))
`,
      [`${dir}/v.f32`],
    ),
  );
  const z = fitIntensity(image.data, { kind: "zscore" });
  assertAlmostEquals(z.offset, out[0], 1e-6 * Math.abs(out[0]));
  assertAlmostEquals(z.scale, out[1], 1e-6 * out[1]);
  const nzp = fitIntensity(image.data, { kind: "zscore", nonzero: true });
  assertAlmostEquals(nzp.offset, out[2], 1e-6 * out[2]);
  assertAlmostEquals(nzp.scale, out[3], 1e-5 * out[3]);
  const applied = applyIntensity(image.data, nzp);
  assertEquals(applied[0], 0); // background stays 0
  const p = fitIntensity(image.data, { kind: "percentile", lower: 1, upper: 99 });
  assertAlmostEquals(p.clip![0], out[4], 1e-4);
  assertAlmostEquals(p.clip![1], out[5], 1e-4);
  assertAlmostEquals(p.offset, out[6], 1e-4);
  assertAlmostEquals(p.scale, out[7], 1e-4);
  const w = applyIntensity(
    new Float32Array([-2000, -160, 40, 240, 3000]),
    fitIntensity(new Float32Array(1), { kind: "window", center: 40, width: 400 }),
  );
  assertEquals(Array.from(w), [0, 0, 0.5, 1, 1]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("resampling and resizing match scipy.ndimage.map_coordinates", async () => {
  const { image } = phantom(2, [17, 13, 6]);
  const dir = tempDir("resample");
  Deno.writeFileSync(`${dir}/v.f32`, new Uint8Array(image.data.buffer));
  const r = resampleData(image.data, image.shape, image.spacing, [0.5, 1.1, 1.0], "linear");
  const s = resizeSlice(image.data.subarray(0, 17 * 13), 17, 13, 24, 9, "linear");
  await python(
    `
import sys, numpy as np
from scipy.ndimage import map_coordinates
d = sys.argv[1]; v = np.fromfile(f"{d}/v.f32", dtype=np.float32).reshape(6, 13, 17).astype(np.float64)
sp, to = np.array([0.7, 0.8, 2.5]), np.array([0.5, 1.1, 1.0])
n = [max(1, int(round(a * b / c))) for a, b, c in zip([17, 13, 6], sp, to)]
gx, gy, gz = np.meshgrid(*[np.minimum(np.arange(k) * t / s, m - 1) for k, t, s, m in zip(n, to, sp, [17, 13, 6])], indexing="ij")
out = map_coordinates(v, [gz, gy, gx], order=1, mode="nearest")  # (x, y, z) grid
out.ravel(order="F").tofile(f"{d}/resampled.data")
sl = v[0]; W, H = 24, 9
cy = np.clip((np.arange(H) + 0.5) * 13 / H - 0.5, 0, 12); cx = np.clip((np.arange(W) + 0.5) * 17 / W - 0.5, 0, 16)
yy, xx = np.meshgrid(cy, cx, indexing="ij")
map_coordinates(sl, [yy, xx], order=1, mode="nearest").ravel().tofile(f"{d}/resized.data")
`,
    [dir],
  );
  const want = readF64(`${dir}/resampled.data`);
  assertEquals(r.shape, [24, 9, 15]);
  assertEquals(r.data.length, want.length);
  for (let i = 0; i < want.length; i++) assertAlmostEquals(r.data[i], want[i], 1e-3, `voxel ${i}`);
  const want2 = readF64(`${dir}/resized.data`);
  for (let i = 0; i < want2.length; i++) assertAlmostEquals(s[i], want2[i], 1e-3, `pixel ${i}`);
  Deno.removeSync(dir, { recursive: true });
});

const dice = (a: Uint8Array, b: Uint8Array, cls: number) => {
  let inter = 0, sa = 0, sb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === cls, y = b[i] === cls;
    if (x) sa++;
    if (y) sb++;
    if (x && y) inter++;
  }
  return (2 * inter) / (sa + sb);
};

Deno.test("normalize -> restoreToOriginal round trip (crop, resample, resize)", () => {
  const { image, label } = phantom(3);
  // 1. crop only: exact round trip, and the crop keeps all foreground
  const cropOnly: NormalizeRecipe = {
    intensity: { kind: "zscore" },
    crop: { by: "foreground", margin: 2 },
  };
  const a = normalizeCase("c", image, label, cropOnly);
  assert(a.transform.crop.size[0] < 40 && a.transform.crop.size[2] <= 12);
  const back = restoreToOriginal(a.transform, a.slices.map((s) => ({ z: s.z, label: s.label! })));
  assertEquals(Array.from(back.data), Array.from(label.data));
  assertEquals(back.affine, image.affine);
  // the output affine maps output voxel (0,0,0) to the crop start's world position
  const st = a.transform.crop.start, A = image.affine, O = a.transform.output.affine;
  for (let r = 0; r < 3; r++) {
    assertAlmostEquals(
      O[r * 4 + 3],
      A[r * 4] * st[0] + A[r * 4 + 1] * st[1] + A[r * 4 + 2] * st[2] + A[r * 4 + 3],
      1e-9,
    );
  }
  // 2. crop + 2x integer upsizing in-plane: still exact
  const up = normalizeCase("c", image, label, {
    ...cropOnly,
    size: [a.transform.crop.size[0] * 2, a.transform.crop.size[1] * 2],
  });
  const backUp = restoreToOriginal(up.transform, new Map(up.slices.map((s) => [s.z, s.label!])));
  assertEquals(Array.from(backUp.data), Array.from(label.data));
  // 3. resample + resize to 64x64, foreground slices only: close to the original
  const recipe: NormalizeRecipe = {
    intensity: { kind: "percentile", lower: 0.5, upper: 99.5, nonzero: true },
    crop: { by: "body", margin: [1, 1, 0] },
    spacing: [0.5, 0.5, 1.25],
    size: [64, 64],
    slices: "foreground",
  };
  const b = normalizeCase("c", image, label, recipe);
  assertEquals(b.transform.output.shape.slice(0, 2), [64, 64]);
  assertEquals(b.transform.resampled.shape[2], 24);
  assert(b.slices.length < 24 && b.slices.every((s) => s.label!.some((v) => v !== 0)));
  assertEquals(b.transform.slices, b.slices.map((s) => s.z));
  const restored = restoreToOriginal(
    b.transform,
    b.slices.map((s) => ({ z: s.z, label: s.label! })),
  );
  assert(dice(restored.data, label.data, 1) > 0.9, `dice 1 ${dice(restored.data, label.data, 1)}`);
  assert(dice(restored.data, label.data, 2) > 0.9, `dice 2 ${dice(restored.data, label.data, 2)}`);
  // JSON round trip of the record gives the same restore
  const viaJson = JSON.parse(JSON.stringify(b.transform)) as CaseTransform;
  assertEquals(
    Array.from(restoreToOriginal(viaJson, b.slices.map((s) => ({ z: s.z, label: s.label! }))).data),
    Array.from(restored.data),
  );
});

Deno.test("applyRecorded: exact mode reproduces the slices; recompute refits on a new image", () => {
  const { image, label } = phantom(4);
  const recipe: NormalizeRecipe = {
    intensity: { kind: "zscore", nonzero: true },
    crop: { by: "foreground", margin: 3, atPredict: "body" },
    spacing: [1, 1],
    size: [48, 40],
  };
  const fit = normalizeCase("c", image, label, recipe);
  const exact = applyRecorded(JSON.parse(JSON.stringify(fit.transform)), image, "exact", "c");
  assertEquals(exact.slices.length, fit.slices.length);
  for (let k = 0; k < fit.slices.length; k++) {
    assertEquals(Array.from(exact.slices[k].image), Array.from(fit.slices[k].image));
    assert(!("label" in exact.slices[k]));
  }
  // A new image (brighter, same anatomy): recomputed statistics give the same normalized values
  // up to rounding, the crop falls back to the body box.
  const brighter: Volume = { ...image, data: image.data.map((v) => v * 3) };
  const re = applyRecorded(fit.transform, brighter);
  assertEquals(re.transform.crop.start, [1, 0, 0]); // body starts at x=4, y=3; margin 3
  const again = applyRecorded(fit.transform, image);
  for (let k = 0; k < re.slices.length; k++) {
    for (let i = 0; i < re.slices[k].image.length; i += 97) {
      assertAlmostEquals(re.slices[k].image[i], again.slices[k].image[i], 1e-4);
    }
  }
  // predictions on the recomputed grid restore onto the new image's geometry
  const pred = new Map(re.slices.map((s) => [s.z, new Uint8Array(s.image.length).fill(1)]));
  const restored = restoreToOriginal(re.transform, pred);
  assertEquals(restored.shape, image.shape);
  let inside = 0;
  for (const v of restored.data) inside += v;
  const [sx, sy, sz] = re.transform.crop.size;
  assertEquals(inside, sx * sy * sz);
});

Deno.test("exemplar: only the annotated slice carries a label", () => {
  const { image, label } = phantom(5);
  const r = normalizeCase("ex", image, label, {
    intensity: { kind: "zscore" },
    size: [32, 32],
    crop: { by: "foreground", margin: 4, axes: "xy" },
  }, { labelledZ: [6] });
  assertEquals(r.slices.length, 12);
  assertEquals(r.slices.filter((s) => s.label).map((s) => s.z), [6]);
});

Deno.test("fit pad: one voxel scale for every case; padded and cropped slices restore exactly", () => {
  // Two cases of different fields of view hold the same structure: stretched to one size it
  // changes scale, padded it keeps it.
  const small = phantom(5, [40, 32, 6]), large = phantom(5, [80, 64, 6]);
  const width = (slices: { label?: Uint8Array }[], W: number) => {
    const l = slices[3].label!;
    let n = 0;
    for (let x = 0; x < W; x++) if (l[x + W * (l.length / W / 2 | 0)] !== 0) n++;
    return n;
  };
  const recipe = (fit: "pad" | "stretch"): NormalizeRecipe => ({
    intensity: { kind: "zscore" },
    size: [56, 48],
    fit,
  });
  const [ps, pl] = [small, large].map((c) => normalizeCase("c", c.image, c.label, recipe("pad")));
  const [ss, sl] = [small, large].map((c) =>
    normalizeCase("c", c.image, c.label, recipe("stretch"))
  );
  // The phantom's structure spans a fixed fraction of its field of view.
  assertAlmostEquals(width(pl.slices, 56) / width(ps.slices, 56), 2, 0.1);
  assertAlmostEquals(width(sl.slices, 56) / width(ss.slices, 56), 1, 0.1);
  // 40 x 32 is padded (offset 8, 8) with the image minimum; 80 x 64 is cropped (offset -12, -8).
  assertEquals(ps.transform.pad!.offset, [8, 8]);
  assertEquals(pl.transform.pad!.offset, [-12, -8]);
  const img = ps.slices[0].image;
  assertEquals(img[0], ps.transform.pad!.fill);
  assert(img.every((v) => v >= ps.transform.pad!.fill));
  // Restored: the padded case exactly; the cropped one exactly inside the crop, 0 outside it.
  const restore = (n: ReturnType<typeof normalizeCase>) =>
    restoreToOriginal(n.transform, n.slices.map((s) => ({ z: s.z, label: s.label! }))).data;
  assertEquals(Array.from(restore(ps)), Array.from(small.label.data));
  const back = restore(pl);
  let inside = 0;
  for (let z = 0; z < 6; z++) {
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 80; x++) {
        const i = x + 80 * (y + 64 * z);
        const kept = x >= 12 && x < 68 && y >= 8 && y < 56;
        assertEquals(back[i], kept ? large.label.data[i] : 0, `${x},${y},${z}`);
        if (kept && back[i]) inside++;
      }
    }
  }
  assert(inside > 100, "the cropped case should keep its structure");
  // The output affine maps output voxel (0, 0) to resampled voxel (-offset): world position.
  const A = large.image.affine, O = pl.transform.output.affine;
  for (let r = 0; r < 3; r++) {
    assertAlmostEquals(O[r * 4 + 3], A[r * 4] * 12 + A[r * 4 + 1] * 8 + A[r * 4 + 3], 1e-9);
  }
});
