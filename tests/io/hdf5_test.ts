import { assert, assertEquals, assertRejects } from "../assert.ts";
import { listHdf5Datasets, readHdf5Dataset, writeHdf5 } from "../../io/hdf5.ts";
import { DataError } from "../../io/errors.ts";
import { python, readF64, tempDir } from "./python.ts";

// h5py writes SSL4MIS-style files with every filter Duet must read; it dumps each dataset in
// Duet's layout (x fastest = Fortran order of the (X, Y, Z) array) as float64 for comparison.
const WRITE_WITH_H5PY = `
import sys, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(1)
X, Y, Z = 11, 7, 5
img = rng.normal(size=(X, Y, Z)).astype(np.float32)
lab = (rng.random((X, Y, Z)) > 0.7).astype(np.uint8) * 2
def dump(name, arr):
    np.asarray(arr, dtype=np.float64).ravel(order="F").tofile(f"{d}/{name}.data")
with h5py.File(f"{d}/gzip_shuffle.h5", "w") as f:
    f.create_dataset("image", data=img, compression="gzip", shuffle=True, chunks=(4, 3, 2))
    f.create_dataset("label", data=lab, compression="gzip", compression_opts=9, shuffle=True)
with h5py.File(f"{d}/lzf.h5", "w") as f:
    f.create_dataset("image", data=img, compression="lzf", chunks=(6, 7, 5))
    f.create_dataset("label", data=lab, compression="lzf", shuffle=True)
with h5py.File(f"{d}/plain_int16.h5", "w") as f:
    f.create_dataset("image", data=(img * 100).astype(np.int16))
with h5py.File(f"{d}/float64_2d.h5", "w") as f:
    f.create_dataset("image", data=img[:, :, 0].astype(np.float64), compression="gzip")
zyx = np.ascontiguousarray(np.transpose(img, (2, 1, 0)))
with h5py.File(f"{d}/zyx.h5", "w") as f:
    f.create_dataset("image", data=zyx, compression="gzip")
dump("image", img); dump("label", lab); dump("int16", (img * 100).astype(np.int16)); dump("2d", img[:, :, 0])
`;

function assertSameVoxels(got: Float32Array, wantPath: string, what: string) {
  const want = readF64(wantPath);
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== Math.fround(want[i])) {
      throw new Error(`${what}: voxel ${i} ${got[i]} vs ${want[i]}`);
    }
  }
}

Deno.test("HDF5 files written by h5py (gzip, shuffle, LZF, int16, 2D, zyx) read identically", async () => {
  const dir = tempDir("h5-in");
  await python(WRITE_WITH_H5PY, [dir]);
  for (const file of ["gzip_shuffle.h5", "lzf.h5"]) {
    assertEquals((await listHdf5Datasets(`${dir}/${file}`)).sort(), ["image", "label"]);
    const img = await readHdf5Dataset(`${dir}/${file}`, "image");
    assertEquals(img.shape, [11, 7, 5]);
    assertSameVoxels(img.data, `${dir}/image.data`, `${file} image`);
    const lab = await readHdf5Dataset(`${dir}/${file}`, "label");
    assertSameVoxels(lab.data, `${dir}/label.data`, `${file} label`);
  }
  assertSameVoxels(
    (await readHdf5Dataset(`${dir}/plain_int16.h5`, "image")).data,
    `${dir}/int16.data`,
    "int16",
  );
  const flat = await readHdf5Dataset(`${dir}/float64_2d.h5`, "image");
  assertEquals(flat.shape, [11, 7, 1]);
  assertSameVoxels(flat.data, `${dir}/2d.data`, "2d");
  const zyx = await readHdf5Dataset(`${dir}/zyx.h5`, "image", {
    axisOrder: "zyx",
    spacing: [0.5, 0.5, 2],
  });
  assertEquals(zyx.shape, [11, 7, 5]);
  assertEquals(zyx.spacing, [0.5, 0.5, 2]);
  assertEquals(zyx.affine.slice(0, 11), [0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 2]);
  assertSameVoxels(zyx.data, `${dir}/image.data`, "zyx");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("h5py reads the HDF5 files Duet writes (gzip and LZF)", async () => {
  const dir = tempDir("h5-out");
  const shape = [13, 6, 4] as const;
  const n = 13 * 6 * 4;
  // Smooth values: the LZF plugin fails (rather than storing raw) on incompressible chunks.
  const image = new Float32Array(n).map((_, i) => Math.round(Math.cos(i / 40) * 8) / 4);
  const label = new Uint8Array(n).map((_, i) => i % 3);
  const geo = { shape, spacing: [1, 1, 1] as const, affine: [] as number[] };
  for (const compression of ["gzip", "lzf", "none"] as const) {
    await writeHdf5(`${dir}/${compression}.h5`, [
      { name: "image", volume: { data: image, ...geo }, compression },
      { name: "label", volume: { data: label, ...geo }, compression },
    ]);
    const out = await python(
      `
import sys, numpy as np, h5py
with h5py.File(sys.argv[1]) as f:
    print(f["image"].dtype, f["label"].dtype, f["image"].shape, f["image"].compression)
    np.asarray(f["image"][...], dtype=np.float64).ravel(order="F").tofile(sys.argv[1] + ".image")
    np.asarray(f["label"][...], dtype=np.float64).ravel(order="F").tofile(sys.argv[1] + ".label")
`,
      [`${dir}/${compression}.h5`],
    );
    const filter = compression === "none" ? "None" : compression;
    assertEquals(out.trim(), `float32 uint8 (13, 6, 4) ${filter}`);
    assertSameVoxels(image, `${dir}/${compression}.h5.image`, "image");
    assertSameVoxels(new Float32Array(label), `${dir}/${compression}.h5.label`, "label");
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a real SSL4MIS LA volume matches h5py", async () => {
  const file = "/work/shared/data/la2018/train/06SR5RBREL16DQ6M8LWS.h5";
  try {
    Deno.statSync(file);
  } catch {
    console.log("LA data not present; skipped");
    return;
  }
  const out = await python(
    `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    im, lb = f["image"][...], f["label"][...]
print(im.shape, float(im.astype(np.float64).sum()), int(lb.sum()), float(im[17, 101, 40]), int(lb[120, 80, 44]))
`,
    [file],
  );
  const img = await readHdf5Dataset(file, "image");
  const lab = await readHdf5Dataset(file, "label");
  const [nx, ny] = img.shape;
  let sum = 0, fg = 0;
  for (const v of img.data) sum += v;
  for (const v of lab.data) fg += v;
  const at = (v: Float32Array, x: number, y: number, z: number) => v[x + nx * (y + ny * z)];
  const [shape, s, f, v1, v2] = out.trim().match(/^(\(.*\)) (\S+) (\S+) (\S+) (\S+)$/)!.slice(1);
  assertEquals(`(${img.shape.join(", ")})`, shape);
  assert(Math.abs(sum - Number(s)) < 1e-3 * Math.abs(Number(s)) + 1e-2, `${sum} vs ${s}`);
  assertEquals(fg, Number(f));
  assertEquals(at(img.data, 17, 101, 40), Math.fround(Number(v1)));
  assertEquals(at(lab.data, 120, 80, 44), Number(v2));
});

Deno.test("bad HDF5 input gives one-line DataErrors", async () => {
  const dir = tempDir("h5-bad");
  const geo = { shape: [40, 40, 40] as const, spacing: [1, 1, 1] as const, affine: [] };
  const data = new Float32Array(64000).map((_, i) => Math.sin(i));
  await writeHdf5(`${dir}/ok.h5`, [{ name: "image", volume: { data, ...geo } }]);
  const bytes = Deno.readFileSync(`${dir}/ok.h5`);
  Deno.writeFileSync(`${dir}/truncated.h5`, bytes.subarray(0, bytes.length >> 1));
  Deno.writeFileSync(`${dir}/garbage.h5`, new TextEncoder().encode("not hdf5 at all ".repeat(20)));
  const cases: [string, string, RegExp][] = [
    [`${dir}/truncated.h5`, "image", /truncated HDF5 file/],
    [`${dir}/garbage.h5`, "image", /unreadable HDF5 file .*signature/],
    [`${dir}/missing.h5`, "image", /file not found/],
    [`${dir}/ok.h5`, "label", /no dataset "label" \(the file has: image\)/],
    [dir, "image", /is a folder/],
  ];
  for (const [path, key, pattern] of cases) {
    const e = await assertRejects(() => readHdf5Dataset(path, key), DataError);
    assert(pattern.test(e.message), e.message);
    assert(!e.message.includes("\n"), e.message);
    assertEquals(e.file, path);
  }
  Deno.removeSync(dir, { recursive: true });
});
