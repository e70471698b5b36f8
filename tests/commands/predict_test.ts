/**
 * `deno task pipeline predict` in real processes: masks read back by nibabel with the input's
 * exact affine and shape, labels equal to the training engine's Predictor run through the same
 * preprocessing (a 3D model's sliding windows too), PNG and DICOM inputs, and clear errors (non-Duet model, bad input, wrong
 * dimensionality) that leave no half-written file in --out.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { UNet } from "../../engine/models/unet.ts";
import { VNet } from "../../engine/models/vnet.ts";
import { Predictor } from "../../engine/predict.ts";
import { exportOnnx } from "../../engine/predict.ts";
import { readDicomSeries } from "../../io/dicom.ts";
import { encodeNifti, readNifti } from "../../io/nifti.ts";
import { readPng } from "../../io/png.ts";
import type { Volume } from "../../io/volume.ts";
import {
  normalizeCase,
  type NormalizeRecipe,
  restoreToOriginal,
} from "../../preprocess/normalize.ts";
import { Rng } from "../../random/rng.ts";
import { exportSegmentation } from "../../deploy/onnx_model.ts";
import { predictRecipe } from "../../deploy/segment.ts";
import { predictSlices } from "../../deploy/slices.ts";
import { predictVolume } from "../../deploy/predict_volume.ts";
import { keepLargestComponent } from "../../metrics/components.ts";
import { encodeDicomSlice } from "../io/dicom_writer.ts";
import { python, tempDir } from "../io/python.ts";
import type { Inference } from "../../deploy/weights.ts";

const predictCli = (args: string[]) => cli(["predict", ...args]);
/** `predict --model model --input inputs... --out out` with any `flags` after. */
const predictWith = (model: string, inputs: string[], out: string, ...flags: string[]) =>
  predictCli(["--model", model, "--input", ...inputs, "--out", out, ...flags]);

// Non-square slices (W 32, H 24) so a W/H mix-up cannot pass; a body crop exercises un-cropping.
const RECIPE: NormalizeRecipe = {
  intensity: { kind: "zscore" },
  crop: { by: "body", margin: 2, axes: "xy", atPredict: "body" },
  size: [32, 24],
};

function model(seed = 11): UNet {
  const m = new UNet(
    { numClasses: 3, channels: [4, 8], dropout: [0, 0], up: "transpose" },
    new Rng(seed),
  );
  const rng = new Rng(seed + 1);
  m.store.buffers.data.forEach((_, i, a) => (a[i] = 0.3 + rng.next()));
  m.store.params.data.forEach((v, i, a) => (a[i] = v + 0.2 * rng.normal()));
  return m;
}

/** What predict must produce, computed with the engine's live-weight Predictor. */
async function expected(net: UNet, image: Volume): Promise<Uint8Array> {
  const { slices, transform } = normalizeCase("x", image, undefined, predictRecipe(RECIPE));
  const [W, H] = RECIPE.size!;
  const stacked = new Float32Array(slices.length * W * H);
  slices.forEach((s, i) => stacked.set(s.image, i * W * H));
  const predictor = await Predictor.create(net, { spatial: [H, W], session: { threads: 1 } });
  const labels = await predictSlices(predictor, stacked, slices.length, W, H);
  await predictor.release();
  return restoreToOriginal(
    transform,
    slices.map((s, i) => ({ z: s.z, label: labels.subarray(i * W * H, (i + 1) * W * H) })),
  ).data;
}

function mismatches(a: Uint8Array, b: Uint8Array): number {
  assertEquals(a.length, b.length, "voxel count");
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** A body-shaped volume of nz 40 x 30 slices whose texture changes from slice to slice. */
function bodyVolume(nz: number, rng: Rng): Volume {
  const [nx, ny] = [40, 30];
  return {
    data: new Float32Array(nx * ny * nz).map((_, i) => {
      const x = i % nx, y = Math.floor(i / nx) % ny;
      const body = ((x - 22) / 13) ** 2 + ((y - 14) / 9) ** 2 < 1;
      return body ? 100 + 40 * Math.sin(x / 3 + i / 1200) + 5 * rng.normal() : 0;
    }),
    shape: [nx, ny, nz],
    spacing: [0.8, 0.8, 2],
    affine: [0.8, 0, 0, -12, 0, 0.8, 0, 30, 0, 0, 2, -7, 0, 0, 0, 1],
  };
}

/** `predict` with dir/model.onnx on `image` written as dir/scan.nii.gz; the mask it writes. */
async function segmentScan(dir: string, image: Volume) {
  await Deno.writeFile(`${dir}/scan.nii.gz`, encodeNifti(image));
  const r = await predictWith(`${dir}/model.onnx`, [`${dir}/scan.nii.gz`], `${dir}/out`);
  assertEquals(r.code, 0, r.stderr);
  return readNifti(`${dir}/out/scan.nii.gz`);
}

const listOut = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("predict: NIfTI, .h5, PNG and DICOM inputs -> masks on the input grid, equal to the engine's", async () => {
  const dir = tempDir("predict");
  try {
    const net = model();
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(net, {
        classes: ["bg", "a", "b"],
        inputSize: [32, 24],
        normalize: RECIPE,
        configDigest: "test",
      }),
    );
    // nibabel writes a rotated, shifted, anisotropic NIfTI and an SSL4MIS .h5; 0 outside a body.
    await python(
      `
import sys, numpy as np, nibabel as nib, h5py
d = sys.argv[1]
rng = np.random.default_rng(3)
img = np.zeros((40, 30, 6), np.float32)
x, y = np.meshgrid(np.arange(40), np.arange(30), indexing="ij")
for z in range(6):
    body = ((x - 22) / 13.0) ** 2 + ((y - 14) / 9.0) ** 2 < 1
    img[:, :, z] = np.where(body, 100 + 40 * np.sin(x / 3.0 + z) * np.cos(y / 4.0) + rng.normal(0, 5, (40, 30)), 0)
c, s = np.cos(0.3), np.sin(0.3)
aff = np.array([[0.8 * c, -0.8 * s, 0, -12.5], [0.8 * s, 0.8 * c, 0, 30.25], [0, 0, 3.0, -7], [0, 0, 0, 1]])
nib.save(nib.Nifti1Image(img, aff), d + "/scan.nii.gz")
with h5py.File(d + "/vol.h5", "w") as f:
    f.create_dataset("image", data=img[:, :, :4], compression="gzip")
img.tofile(d + "/scan.f32")
`,
      [dir],
    );
    const nii = readNifti(`${dir}/scan.nii.gz`);
    // A 2D PNG slice and a DICOM series.
    const slice = new Uint8Array(40 * 30);
    for (let i = 0; i < slice.length; i++) {
      slice[i] = Math.min(255, Math.round(nii.data[i + 40 * 30 * 2] / 2));
    }
    const { encodePngVolume } = await import("../../io/png.ts");
    await Deno.writeFile(
      `${dir}/slice.png`,
      encodePngVolume({
        data: slice,
        shape: [40, 30, 1],
        spacing: [1, 1, 1],
        affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
      }),
    );
    await Deno.mkdir(`${dir}/series-7`);
    for (let z = 0; z < 3; z++) {
      const pixels = new Int16Array(40 * 30);
      for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(nii.data[i + 40 * 30 * z]);
      await Deno.writeFile(
        `${dir}/series-7/im${z}.dcm`,
        encodeDicomSlice({
          rows: 30,
          columns: 40,
          pixels,
          position: [5, -3, 2.5 * z],
          pixelSpacing: [0.7, 0.9],
          instance: z + 1,
        }),
      );
    }
    const out = `${dir}/out`;
    const r = await predictCli([
      "--model",
      `${dir}/model.onnx`,
      "--input",
      `${dir}/scan.nii.gz`,
      `${dir}/vol.h5`,
      "--input",
      `${dir}/slice.png`,
      `${dir}/series-7`,
      "--out",
      out,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "");
    assert(r.stderr.includes("[4/4] series-7"), r.stderr);
    assertEquals(listOut(out), ["scan.nii.gz", "series-7.nii.gz", "slice.png", "vol.nii.gz"]);

    // nibabel: same shape and affine as the input, uint8, labels in 0..2.
    const check = JSON.parse(
      await python(
        `
import sys, json, numpy as np, nibabel as nib
d = sys.argv[1]
a, m = nib.load(d + "/scan.nii.gz"), nib.load(d + "/out/scan.nii.gz")
v = np.asarray(m.dataobj)
print(json.dumps({"shape": list(m.shape) == list(a.shape), "affine": float(np.abs(m.affine - a.affine).max()),
                  "dtype": str(m.get_data_dtype()), "values": sorted(int(x) for x in np.unique(v)),
                  "h5": list(nib.load(d + "/out/vol.nii.gz").shape)}))
`,
        [dir],
      ),
    );
    assert(check.shape, "mask shape differs from the input");
    assert(check.affine < 1e-6, `affine differs by ${check.affine}`);
    assertEquals(check.dtype, "uint8");
    assert(check.values.every((v: number) => v >= 0 && v <= 2), `values ${check.values}`);
    assertEquals(check.h5, [40, 30, 4]);

    // Labels equal the engine Predictor through the same preprocessing (argmax near-ties aside).
    const mask = readNifti(`${out}/scan.nii.gz`);
    const want = await expected(net, nii);
    assert(
      mismatches(new Uint8Array(mask.data.map((v) => v)), want) <= 2,
      "labels differ from the engine",
    );
    assert(new Set(want).size > 1, "test model should predict more than one class");
    // Outside the body box (+ margin) nothing is predicted.
    assertEquals(mask.data[0], 0);

    const png = readPng(`${out}/slice.png`);
    assertEquals(png.shape, [40, 30, 1]);
    const dcm = readNifti(`${out}/series-7.nii.gz`);
    const series = readDicomSeries(`${dir}/series-7`);
    assertEquals(dcm.shape, series.shape);
    for (let i = 0; i < 12; i++) {
      assert(Math.abs(dcm.affine[i] - series.affine[i]) < 1e-4, "DICOM affine");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: a model exported with duet.postprocess keeps the largest component per class, as evaluate scored it", async () => {
  const dir = tempDir("predict-lcc");
  try {
    const net = model(37);
    const info = { classes: ["bg", "a", "b"], inputSize: [32, 24] as [number, number] };
    // This network's class b comes out in several pieces on this scan.
    const image = bodyVolume(12, new Rng(5));
    const plain = expected(net, image);
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(net, {
        ...info,
        normalize: RECIPE,
        configDigest: "t",
        postprocess: { largestComponent: true },
      }),
    );
    const mask = await segmentScan(dir, image);
    const want = keepLargestComponent(await plain, image.shape);

    assert(mismatches(await plain, want) > 10, "the network's mask should have stray components");
    assert(mismatches(new Uint8Array(mask.data.map((v) => v)), want) <= 2, "labels differ");

    // Metadata that is not {largestComponent: boolean}: refused before any work.
    const bad = exportSegmentation(net, {
      ...info,
      normalize: RECIPE,
      configDigest: "t",
      extra: { "duet.postprocess": '{"largestComponent": "yes"}' },
    });
    await Deno.writeFile(`${dir}/bad.onnx`, bad);
    const r = await predictWith(`${dir}/bad.onnx`, [`${dir}/scan.nii.gz`], `${dir}/out2`);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("duet.postprocess must be"), r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: non-Duet model, bad or wrong-dimensional input -> one line, exit 65, nothing half-written", async () => {
  const dir = tempDir("predict-err");
  try {
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(model(), {
        classes: ["bg", "a", "b"],
        inputSize: [32, 24],
        normalize: RECIPE,
        configDigest: "t",
      }),
    );
    await Deno.writeFile(`${dir}/plain.onnx`, exportOnnx(model(), { spatial: [24, 32] }));
    await python(
      `
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
nib.save(nib.Nifti1Image(np.ones((20, 16, 3), np.float32), np.eye(4)), d + "/ok.nii.gz")
nib.save(nib.Nifti1Image(np.ones((20, 16, 3, 2), np.float32), np.eye(4)), d + "/4d.nii.gz")
`,
      [dir],
    );
    const raw = await Deno.readFile(`${dir}/ok.nii.gz`);
    await Deno.writeFile(`${dir}/broken.nii.gz`, raw.subarray(0, raw.length >> 1));
    const oneLine = (s: string) => s.trim().split("\n").length === 1;

    let r = await predictWith(`${dir}/plain.onnx`, [`${dir}/ok.nii.gz`], `${dir}/o1`);
    assertEquals(r.code, 65, r.stderr);
    assert(
      r.stderr.includes("plain.onnx") && r.stderr.includes("not a Duet segmentation export"),
      r.stderr,
    );
    assert(oneLine(r.stderr), r.stderr);

    // The good input is written completely; the broken one is reported (exit 65); no partial file.
    r = await predictWith(
      `${dir}/model.onnx`,
      [`${dir}/ok.nii.gz`, `${dir}/broken.nii.gz`],
      `${dir}/o2`,
    );
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("broken.nii.gz"), r.stderr);
    assertEquals(listOut(`${dir}/o2`), ["ok.nii.gz"]);

    r = await predictWith(`${dir}/model.onnx`, [`${dir}/4d.nii.gz`], `${dir}/o3`);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("4d.nii.gz") && /4D|volume/i.test(r.stderr), r.stderr);
    assertEquals(listOut(`${dir}/o3`), []);

    // Missing inputs and unknown types fail before any work.
    r = await predictWith(`${dir}/model.onnx`, [`${dir}/ok.nii.gz`, `${dir}/nope.h5`], `${dir}/o4`);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("nope.h5: file not found"), r.stderr);
    r = await predictWith(`${dir}/model.onnx`, [`${dir}/model.onnx`], `${dir}/o4`);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("unknown image type"), r.stderr);
    // Two inputs that would write the same mask: usage error.
    await Deno.mkdir(`${dir}/b`);
    await Deno.copyFile(`${dir}/ok.nii.gz`, `${dir}/b/ok.nii.gz`);
    r = await predictWith(
      `${dir}/model.onnx`,
      [`${dir}/ok.nii.gz`, `${dir}/b/ok.nii.gz`],
      `${dir}/o4`,
    );
    assertEquals(r.code, 64, r.stderr);
    assert(r.stderr.includes('same ID "ok"'), r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: a (Z, Y, X) .h5 input read as the model's metadata says, mask in (X, Y, Z); flags override", async () => {
  const dir = tempDir("predict-h5");
  try {
    const net = model();
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(net, {
        classes: ["bg", "a", "b"],
        inputSize: [32, 24],
        normalize: RECIPE,
        configDigest: "test",
        hdf5: { axes: "zyx", image: "img" },
      }),
    );
    // The same volume as a NIfTI (x, y, z) and as an ACDC-style .h5 dataset "img" (z, y, x).
    await python(
      `
import sys, numpy as np, nibabel as nib, h5py
d = sys.argv[1]
x, y = np.meshgrid(np.arange(40), np.arange(30), indexing="ij")
img = np.zeros((40, 30, 5), np.float32)
for z in range(5):
    body = ((x - 20) / 14.0) ** 2 + ((y - 15) / 10.0) ** 2 < 1
    img[:, :, z] = np.where(body, 100 + 40 * np.sin(x / 3.0 + z) * np.cos(y / 4.0), 0)
nib.save(nib.Nifti1Image(img, np.eye(4)), d + "/scan.nii.gz")
with h5py.File(d + "/scan_zyx.h5", "w") as f:
    f.create_dataset("img", data=np.ascontiguousarray(img.transpose(2, 1, 0)), compression="gzip")
`,
      [dir],
    );
    const inputs = ["--input", `${dir}/scan.nii.gz`, `${dir}/scan_zyx.h5`];
    const r = await predictCli(["--model", `${dir}/model.onnx`, ...inputs, "--out", `${dir}/out`]);
    assertEquals(r.code, 0, r.stderr);
    const fromNifti = readNifti(`${dir}/out/scan.nii.gz`);
    const fromH5 = readNifti(`${dir}/out/scan_zyx.nii.gz`);
    assertEquals(fromH5.shape, [40, 30, 5]);
    assertEquals(mismatches(new Uint8Array(fromH5.data), new Uint8Array(fromNifti.data)), 0);
    assert(new Set(fromH5.data).size > 1, "the model should predict more than one class");
    // The flags win over the metadata: read as (X, Y, Z), the file is a 5 x 30 x 40 volume.
    const flagged = await predictWith(
      `${dir}/model.onnx`,
      [`${dir}/scan_zyx.h5`],
      `${dir}/out-xyz`,
      "--h5-axes",
      "xyz",
    );
    assertEquals(flagged.code, 0, flagged.stderr);
    assertEquals(readNifti(`${dir}/out-xyz/scan_zyx.nii.gz`).shape, [5, 30, 40]);
    const unnamed = await predictWith(
      `${dir}/model.onnx`,
      [`${dir}/scan_zyx.h5`],
      `${dir}/out-image`,
      "--h5-image",
      "image",
    );
    assertEquals(unnamed.code, 65, unnamed.stderr);
    assert(unnamed.stderr.includes('no dataset "image" (the file has: img)'), unnamed.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: a 3D V-Net slides its windows over a NIfTI volume, equal to the engine's", async () => {
  const dir = tempDir("predict3d");
  try {
    const net = new VNet({ nFilters: 2, numClasses: 3, hasDropout: false }, new Rng(21));
    const rng = new Rng(22);
    net.store.buffers.data.forEach((_, i, a) => (a[i] = 0.3 + rng.next()));
    net.store.params.data.forEach((v, i, a) => (a[i] = v + 0.2 * rng.normal()));
    type Windows = Extract<Inference, { kind: "windows" }>;
    const inference: Windows = { kind: "windows", patch: [16, 16, 16], overlap: 0.5 };
    // 20 slices: two windows along z (zero-padded nowhere), three along x, two along y.
    const image = bodyVolume(20, rng);
    const [nx, ny] = image.shape;
    const { slices, transform } = normalizeCase("x", image, undefined, predictRecipe(RECIPE));
    const [W, H] = RECIPE.size!;
    const stacked = new Float32Array(slices.length * W * H);
    slices.forEach((s, i) => stacked.set(s.image, i * W * H));
    /** predict's mask with the model exported for this inference, and the engine's. */
    const masks = async (inference: Windows) => {
      await Deno.writeFile(
        `${dir}/model.onnx`,
        exportSegmentation(net, {
          classes: ["bg", "a", "b"],
          inputSize: [32, 24],
          inference,
          normalize: RECIPE,
          configDigest: "test",
        }),
      );
      const mask = await segmentScan(dir, image);
      assertEquals(mask.shape, image.shape);
      const predictor = await Predictor.create(net, {
        spatial: [16, 16, 16],
        session: { threads: 1 },
      });
      const labels = await predictVolume(predictor, inference, stacked, slices.length, W, H);
      await predictor.release();
      const want = restoreToOriginal(
        transform,
        slices.map((s, i) => ({ z: s.z, label: labels.subarray(i * W * H, (i + 1) * W * H) })),
      ).data;
      return { got: new Uint8Array(mask.data.map((v) => v)), want };
    };
    const plain = await masks(inference);
    assert(new Set(plain.want).size > 1, "test model should predict more than one class");
    assert(mismatches(plain.got, plain.want) <= 2, "labels differ");
    // Mirrored (duet.inference mirror): each window averaged over its mirror images, as evaluate
    // does through the engine.
    const mirrored = await masks({ ...inference, mirror: true });
    assert(mismatches(mirrored.got, mirrored.want) <= 2, "mirrored labels differ");
    assert(mismatches(mirrored.want, plain.want) > 0, "mirroring changes some labels");

    // One slice is not a volume: one line, exit 65, nothing written.
    await Deno.writeFile(
      `${dir}/one.nii.gz`,
      encodeNifti({ ...image, data: image.data.slice(0, nx * ny), shape: [nx, ny, 1] }),
    );
    const one = await predictWith(`${dir}/model.onnx`, [`${dir}/one.nii.gz`], `${dir}/out1`);
    assertEquals(one.code, 65, one.stderr);
    assert(one.stderr.includes("a 3D model segments volumes"), one.stderr);
    assert(!listOut(dir).includes("out1") || listOut(`${dir}/out1`).length === 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: a 2.5D model takes each slice with its neighbours, equal to the engine's", async () => {
  const dir = tempDir("predict25d");
  try {
    const net = new UNet(
      { inChannels: 3, numClasses: 3, channels: [4, 8], dropout: [0, 0], up: "transpose" },
      new Rng(31),
    );
    const rng = new Rng(32);
    net.store.buffers.data.forEach((_, i, a) => (a[i] = 0.3 + rng.next()));
    net.store.params.data.forEach((v, i, a) => (a[i] = v + 0.2 * rng.normal()));
    const info = { classes: ["bg", "a", "b"], inputSize: [32, 24] as [number, number] };
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(net, {
        ...info,
        inference: { kind: "slices", context: 1 },
        normalize: RECIPE,
        configDigest: "test",
      }),
    );
    const image = bodyVolume(6, rng);
    const mask = await segmentScan(dir, image);

    // The engine on stacks built here: slice z between z - 1 and z + 1, the end slices repeated.
    const { slices, transform } = normalizeCase("x", image, undefined, predictRecipe(RECIPE));
    const [W, H] = RECIPE.size!, plane = W * H;
    const predictor = await Predictor.create(net, { spatial: [H, W], session: { threads: 1 } });
    const labels: { z: number; label: Uint8Array }[] = [];
    for (let i = 0; i < slices.length; i++) {
      const x = new Float32Array(3 * plane);
      [i - 1, i, i + 1].forEach((j, c) =>
        x.set(slices[Math.min(slices.length - 1, Math.max(0, j))].image, c * plane)
      );
      const p = (await predictor.run(x, 1)).probs;
      const label = new Uint8Array(plane);
      for (let q = 0; q < plane; q++) {
        let best = 0;
        for (let k = 1; k < 3; k++) if (p[k * plane + q] > p[best * plane + q]) best = k;
        label[q] = best;
      }
      labels.push({ z: slices[i].z, label });
    }
    await predictor.release();
    const want = restoreToOriginal(transform, labels).data;
    assert(new Set(want).size > 1, "test model should predict more than one class");
    assert(mismatches(new Uint8Array(mask.data.map((v) => v)), want) <= 2, "labels differ");

    // Mirrored (duet.inference mirror): predict averages each stack over its mirror images,
    // as evaluate does through the engine.
    const mirror = { kind: "slices", context: 1, mirror: true } as const;
    await Deno.writeFile(
      `${dir}/model.onnx`,
      exportSegmentation(net, { ...info, inference: mirror, normalize: RECIPE, configDigest: "t" }),
    );
    const mirroredMask = await segmentScan(dir, image);
    const stacked = new Float32Array(slices.length * plane);
    slices.forEach((s, i) => stacked.set(s.image, i * plane));
    const engine = await Predictor.create(net, { spatial: [H, W], session: { threads: 1 } });
    const byEngine = await predictVolume(engine, mirror, stacked, slices.length, W, H);
    await engine.release();
    const wantMirrored = restoreToOriginal(
      transform,
      slices.map((s, i) => ({ z: s.z, label: byEngine.subarray(i * plane, (i + 1) * plane) })),
    ).data;
    assert(mismatches(new Uint8Array(mirroredMask.data.map((v) => v)), wantMirrored) <= 2);
    assert(mismatches(wantMirrored, want) > 0, "mirroring changes some labels");

    // Metadata that does not say the network's channels: refused before any work.
    await Deno.writeFile(
      `${dir}/wrong.onnx`,
      exportSegmentation(net, { ...info, normalize: RECIPE, configDigest: "test" }),
    );
    const bad = await predictWith(`${dir}/wrong.onnx`, [`${dir}/scan.nii.gz`], `${dir}/out2`);
    assertEquals(bad.code, 65, bad.stderr);
    assert(bad.stderr.includes("does not match its metadata"), bad.stderr);
    assert(!listOut(dir).includes("out2") || listOut(`${dir}/out2`).length === 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
