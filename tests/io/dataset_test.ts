import { assert, assertEquals, assertRejects } from "../assert.ts";
import { type CaseSpec, discoverCases } from "../../io/dataset.ts";
import { readCase } from "../../io/cases.ts";
import { writeNifti } from "../../io/nifti.ts";
import { writePng } from "../../io/png.ts";
import { writeHdf5 } from "../../io/hdf5.ts";
import { DataError } from "../../io/errors.ts";
import type { Volume } from "../../io/volume.ts";
import { encodeDicomSlice } from "./dicom_writer.ts";
import { tempDir } from "./python.ts";

const A = [2, 0, 0, -10, 0, 2, 0, 5, 0, 0, 3, 1, 0, 0, 0, 1];
const vol = (fill: (i: number) => number, shape: [number, number, number] = [6, 5, 4]): Volume => ({
  data: new Float32Array(shape[0] * shape[1] * shape[2]).map((_, i) => fill(i)),
  shape,
  spacing: [2, 2, 3],
  affine: A,
});
const image = vol((i) => Math.sin(i));
const label = vol((i) => (i % 7 === 0 ? 1 : 0));
const rel = (root: string, specs: CaseSpec[]) =>
  specs.map((s) => ({
    ...s,
    imagePath: s.imagePath.slice(root.length + 1),
    ...(s.labelPath ? { labelPath: s.labelPath.slice(root.length + 1) } : {}),
  }));

Deno.test("discovery: nnU-Net, side-by-side suffixes, images/+labels/ PNG, h5 folder, DICOM", async () => {
  const root = tempDir("discover");
  // nnU-Net
  for (const d of ["nn/imagesTr", "nn/labelsTr", "nn/imagesTs"]) {
    Deno.mkdirSync(`${root}/${d}`, { recursive: true });
  }
  writeNifti(`${root}/nn/imagesTr/la_003_0000.nii.gz`, image);
  writeNifti(`${root}/nn/labelsTr/la_003.nii.gz`, label);
  writeNifti(`${root}/nn/imagesTr/la_001_0000.nii.gz`, image);
  writeNifti(`${root}/nn/labelsTr/la_001.nii.gz`, label);
  writeNifti(`${root}/nn/imagesTs/la_009_0000.nii.gz`, image);
  assertEquals(rel(root, await discoverCases(`${root}/nn`)), [
    {
      id: "la_001",
      format: "nifti",
      imagePath: "nn/imagesTr/la_001_0000.nii.gz",
      labelPath: "nn/labelsTr/la_001.nii.gz",
    },
    {
      id: "la_003",
      format: "nifti",
      imagePath: "nn/imagesTr/la_003_0000.nii.gz",
      labelPath: "nn/labelsTr/la_003.nii.gz",
    },
    { id: "la_009", format: "nifti", imagePath: "nn/imagesTs/la_009_0000.nii.gz" },
  ]);
  // side by side
  Deno.mkdirSync(`${root}/flat`);
  writeNifti(`${root}/flat/p1.nii.gz`, image);
  writeNifti(`${root}/flat/p1_seg.nii.gz`, label);
  writeNifti(`${root}/flat/p2.nii`, image);
  writeNifti(`${root}/flat/p2_label.nii`, label);
  writeNifti(`${root}/flat/p3.nii.gz`, image);
  assertEquals(rel(root, await discoverCases(`${root}/flat`)), [
    { id: "p1", format: "nifti", imagePath: "flat/p1.nii.gz", labelPath: "flat/p1_seg.nii.gz" },
    { id: "p2", format: "nifti", imagePath: "flat/p2.nii", labelPath: "flat/p2_label.nii" },
    { id: "p3", format: "nifti", imagePath: "flat/p3.nii.gz" },
  ]);
  // PNG images/ + masks/
  for (const d of ["png/images", "png/masks"]) Deno.mkdirSync(`${root}/${d}`, { recursive: true });
  const img2d = vol((i) => i * 3, [8, 6, 1]), lab2d = vol((i) => i % 2, [8, 6, 1]);
  writePng(`${root}/png/images/s01.png`, img2d);
  writePng(`${root}/png/masks/s01.png`, { ...lab2d, data: Uint8Array.from(lab2d.data) });
  writePng(`${root}/png/images/s02.png`, img2d);
  assertEquals(rel(root, await discoverCases(`${root}/png`)), [
    { id: "s01", format: "png", imagePath: "png/images/s01.png", labelPath: "png/masks/s01.png" },
    { id: "s02", format: "png", imagePath: "png/images/s02.png" },
  ]);
  // h5 folder, one without a label dataset
  Deno.mkdirSync(`${root}/h5`);
  await writeHdf5(`${root}/h5/A1.h5`, [{ name: "image", volume: image }, {
    name: "label",
    volume: label,
  }]);
  await writeHdf5(`${root}/h5/B2.h5`, [{ name: "image", volume: image }]);
  assertEquals(rel(root, await discoverCases(`${root}/h5`)), [
    { id: "A1", format: "hdf5", imagePath: "h5/A1.h5", labelPath: "h5/A1.h5" },
    { id: "B2", format: "hdf5", imagePath: "h5/B2.h5" },
  ]);
  // DICOM series folders with NIfTI labels in labels/
  for (const id of ["ct1", "ct2"]) {
    Deno.mkdirSync(`${root}/dcm/${id}`, { recursive: true });
    for (let z = 0; z < 2; z++) {
      Deno.writeFileSync(
        `${root}/dcm/${id}/${z}.dcm`,
        encodeDicomSlice({
          rows: 2,
          columns: 3,
          pixels: new Int16Array(6),
          position: [0, 0, z],
          orientation: [1, 0, 0, 0, 1, 0],
        }),
      );
    }
  }
  Deno.mkdirSync(`${root}/dcm/labels`);
  writeNifti(`${root}/dcm/labels/ct2.nii.gz`, label);
  assertEquals(rel(root, await discoverCases(`${root}/dcm`)), [
    { id: "ct1", format: "dicom", imagePath: "dcm/ct1" },
    { id: "ct2", format: "dicom", imagePath: "dcm/ct2", labelPath: "dcm/labels/ct2.nii.gz" },
  ]);
  assertEquals((await discoverCases(`${root}/dcm/ct1`)).map((s) => s.id), ["ct1"]);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("discovery: SSL4MIS list file of IDs and list of paths", async () => {
  const root = tempDir("list");
  Deno.mkdirSync(`${root}/train`);
  for (const id of ["K1", "K2", "K3"]) {
    await writeHdf5(`${root}/train/${id}.h5`, [{ name: "image", volume: image }, {
      name: "label",
      volume: label,
    }]);
  }
  Deno.writeTextFileSync(`${root}/train.list`, "K2\n\n# a comment\nK1\r\nK3\n");
  const specs = await discoverCases(`${root}/train.list`);
  assertEquals(specs.map((s) => s.id), ["K2", "K1", "K3"]); // list order is kept
  assertEquals(specs[0], {
    id: "K2",
    format: "hdf5",
    imagePath: `${root}/train/K2.h5`,
    labelPath: `${root}/train/K2.h5`,
  });
  Deno.writeTextFileSync(`${root}/paths.txt`, "train/K3.h5\ntrain/K1.h5\n");
  assertEquals((await discoverCases(`${root}/paths.txt`)).map((s) => s.id), ["K3", "K1"]);
  // the real LA list, when the data is here
  const la = "/work/shared/data/la2018/train.list";
  try {
    Deno.statSync(la);
    const all = await discoverCases(la);
    assertEquals(all.length, 80);
    assert(all.every((s) => s.format === "hdf5" && s.labelPath === s.imagePath));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.removeSync(root, { recursive: true });
});

Deno.test("discovery errors: empty folder, duplicate IDs, unknown ID in a list", async () => {
  const root = tempDir("discover-bad");
  Deno.mkdirSync(`${root}/empty`);
  Deno.writeTextFileSync(`${root}/empty/readme.txt`, "nothing here");
  Deno.mkdirSync(`${root}/dup`);
  writeNifti(`${root}/dup/c1.nii.gz`, image);
  writePng(`${root}/dup/c1.png`, vol(() => 1, [3, 3, 1]));
  Deno.mkdirSync(`${root}/train`);
  await writeHdf5(`${root}/train/Z.h5`, [{ name: "image", volume: image }]);
  Deno.writeTextFileSync(`${root}/dup.list`, "Z\nZ\n");
  Deno.writeTextFileSync(`${root}/missing.list`, "Z\nNOPE\n");
  Deno.writeTextFileSync(`${root}/blank.list`, "\n# only comments\n");
  const cases: [string, RegExp][] = [
    [`${root}/empty`, /no cases found/],
    [`${root}/dup`, /duplicate case ID "c1"/],
    [`${root}/dup.list`, /duplicate case ID "Z" \(lines 1 and 2\)/],
    [`${root}/missing.list`, /line 2: no image found for "NOPE"/],
    [`${root}/blank.list`, /names no cases/],
    [`${root}/nowhere`, /file not found/],
  ];
  for (const [src, pattern] of cases) {
    const e = await assertRejects(() => discoverCases(src), DataError);
    assert(pattern.test(e.message), e.message);
    assert(e.message.startsWith(src) && !e.message.includes("\n"), e.message);
  }
  Deno.removeSync(root, { recursive: true });
});

Deno.test("readCase checks: label classes, shape, geometry, NaN/Inf voxels", async () => {
  const root = tempDir("readcase");
  const put = (name: string, v: Volume) => {
    writeNifti(`${root}/${name}.nii.gz`, v);
    return `${root}/${name}.nii.gz`;
  };
  const img = put("img", image);
  const spec = (labelPath: string, imagePath = img): CaseSpec => ({
    id: "c",
    format: "nifti",
    imagePath,
    labelPath,
  });
  const ok = await readCase(spec(put("lab", vol((i) => i % 3))), { classes: 3 });
  assert(ok.label!.data instanceof Uint8Array);
  assertEquals(ok.label!.data[4], 1);
  assertEquals(ok.label!.affine, ok.image.affine);
  const cases: [CaseSpec, RegExp][] = [
    [
      spec(put("lab3", vol((i) => i % 4))),
      /label has value 3 \(30 voxels.*outside the declared classes \[0, 1, 2\]/,
    ],
    [spec(put("labhalf", vol((i) => (i === 5 ? 0.5 : 0)))), /non-integer value 0\.5/],
    [spec(put("labneg", vol((i) => (i === 5 ? -1 : 0)))), /value -1/],
    [
      spec(put("labshape", vol(() => 0, [6, 5, 3]))),
      /label shape 6x5x3 differs from image shape 6x5x4/,
    ],
    [
      spec(put("labgeo", { ...vol(() => 0), affine: A.map((v, i) => (i === 3 ? v + 1.5 : v)) })),
      /label geometry differs.*affine\[0\]\[3\]/,
    ],
    [
      spec(put("labsp", { ...vol(() => 0), affine: A.map((v, i) => (i === 0 ? 2.5 : v)) })),
      /label spacing 2\.5x2x3 differs/,
    ],
    [
      spec(put("lab", label), put("nan", vol((i) => (i === 17 ? NaN : 1)))),
      /image has a non-finite voxel \(NaN\) at flat index 17/,
    ],
    [
      spec(put("lab", label), put("inf", vol((i) => (i === 3 ? -Infinity : 1)))),
      /non-finite voxel \(-Infinity\)/,
    ],
  ];
  for (const [s, pattern] of cases) {
    const e = await assertRejects(() => readCase(s, { classes: [0, 1, 2] }), DataError);
    assert(pattern.test(e.message), e.message);
    assert(!e.message.includes("\n"), e.message);
  }
  // NaN inside a label
  const e = await assertRejects(
    () => readCase(spec(put("labnan", vol((i) => (i ? 0 : NaN)))), { classes: 2 }),
    DataError,
  );
  assert(/non-finite value NaN/.test(e.message), e.message);
  // h5 label mismatch names the dataset
  await writeHdf5(`${root}/m.h5`, [{ name: "image", volume: image }, {
    name: "label",
    volume: vol(() => 0, [6, 5, 2]),
  }]);
  const h = await assertRejects(
    () =>
      readCase({ id: "m", format: "hdf5", imagePath: `${root}/m.h5`, labelPath: `${root}/m.h5` }, {
        classes: 2,
      }),
    DataError,
  );
  assert(/m\.h5 \[label\]: label shape 6x5x2/.test(h.message), h.message);
  Deno.removeSync(root, { recursive: true });
});
