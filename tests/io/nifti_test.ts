import { assert, assertEquals, assertThrows } from "../assert.ts";
import { decodeNifti, encodeNifti, readNifti, writeNifti } from "../../io/nifti.ts";
import { DataError } from "../../io/errors.ts";
import { python, readF64, tempDir } from "./python.ts";
import { gunzipSync } from "node:zlib";

// nibabel writes files of every common datatype, orientation source and header version; for each
// it also dumps get_fdata() (float64, x fastest) and img.affine, which Duet must reproduce.
const WRITE_WITH_NIBABEL = `
import sys, json, numpy as np, nibabel as nib
d = sys.argv[1]
rng = np.random.default_rng(0)
shape = (7, 5, 4)
rot = np.array([[0.0, -1.0, 0.0], [0.8, 0.0, 0.6], [-0.6, 0.0, 0.8]])
aff = np.eye(4); aff[:3, :3] = rot @ np.diag([0.7, 1.25, 2.5]); aff[:3, 3] = [-12.5, 30.25, 7.0]
cases = []
def save(name, img):
    nib.save(img, f"{d}/{name}")
    img2 = nib.load(f"{d}/{name}")
    np.asarray(img2.get_fdata(), dtype=np.float64).ravel(order="F").tofile(f"{d}/{name}.data")
    np.asarray(img2.affine, dtype=np.float64).ravel().tofile(f"{d}/{name}.affine")
    cases.append({"name": name, "zooms": [float(z) for z in img2.header.get_zooms()[:3]]})
for dt in ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]:
    lo, hi = (0, 200) if dt.startswith("u") else (-100, 100)
    a = rng.integers(lo, hi, size=shape).astype(dt) if "int" in dt else rng.normal(size=shape).astype(dt)
    img = nib.Nifti1Image(a, aff, dtype=np.dtype(dt))
    save(f"{dt}.nii.gz", img)
a = rng.integers(-300, 300, size=shape).astype(np.int16)
img = nib.Nifti1Image(a, aff); img.header.set_slope_inter(2.5, -10.0)
img.header.set_data_dtype(np.int16)
save("scaled.nii", img)
img = nib.Nifti1Image(rng.normal(size=shape).astype(np.float32), aff)
img.set_sform(None, code=0); img.set_qform(aff, code=1)
save("qform_only.nii.gz", img)
be = nib.Nifti1Image(rng.normal(size=shape).astype(">f4"), aff, nib.Nifti1Header(endianness=">"))
save("bigendian.nii", be)
assert open(f"{d}/bigendian.nii", "rb").read(4) == b"\\x00\\x00\\x01\\x5c"
img = nib.Nifti2Image(rng.normal(size=shape).astype(np.float32), aff)
save("nifti2.nii.gz", img)
img = nib.Nifti1Image(rng.integers(0, 9, size=(6, 3, 1)).astype(np.uint8), aff)
save("flat2d.nii.gz", img)
print(json.dumps(cases))
`;

Deno.test("NIfTI files written by nibabel read identically (voxels and affine)", async () => {
  const dir = tempDir("nifti-in");
  const cases = JSON.parse(await python(WRITE_WITH_NIBABEL, [dir])) as {
    name: string;
    zooms: number[];
  }[];
  assertEquals(cases.length, 14);
  for (const c of cases) {
    const v = readNifti(`${dir}/${c.name}`);
    const want = readF64(`${dir}/${c.name}.data`);
    const wantAffine = Array.from(readF64(`${dir}/${c.name}.affine`));
    assertEquals(v.data.length, want.length, c.name);
    for (let i = 0; i < want.length; i++) {
      if (v.data[i] !== Math.fround(want[i])) {
        throw new Error(`${c.name}: voxel ${i} is ${v.data[i]}, nibabel says ${want[i]}`);
      }
    }
    // The sform is stored as float32/float64 and read bit-exactly; the qform is recomputed
    // from the quaternion, so it matches to rounding.
    const tol = c.name.startsWith("qform") ? 1e-5 : 0;
    for (let i = 0; i < 16; i++) {
      assert(
        Math.abs(v.affine[i] - wantAffine[i]) <= tol,
        `${c.name}: affine[${i}] ${v.affine[i]} vs ${wantAffine[i]}`,
      );
    }
    assertEquals([...v.spacing], c.zooms.map((z) => (z > 0 ? z : 1)), c.name);
  }
  assertEquals(readNifti(`${dir}/flat2d.nii.gz`).shape, [6, 3, 1]);
  Deno.removeSync(dir, { recursive: true });
});

const READ_WITH_NIBABEL = `
import sys, json, numpy as np, nibabel as nib
img = nib.load(sys.argv[1])
np.asarray(img.get_fdata(), dtype=np.float64).ravel(order="F").tofile(sys.argv[1] + ".data")
print(json.dumps({"affine": img.affine.tolist(), "qform": img.get_qform().tolist(),
  "sform_code": int(img.header["sform_code"]), "qform_code": int(img.header["qform_code"]),
  "dtype": str(img.get_data_dtype()), "shape": list(img.shape), "zooms": [float(z) for z in img.header.get_zooms()]}))
`;

Deno.test("nibabel reads the NIfTI files Duet writes with identical voxels and affine", async () => {
  const dir = tempDir("nifti-out");
  // Float32-representable affine with rotation, a flip (negative determinant) and an offset.
  const affine = [0, -1.25, 0, 40.5, 0.75, 0, 0, -20.25, 0, 0, -2.5, 12, 0, 0, 0, 1];
  const shape = [9, 6, 5] as const;
  const n = 9 * 6 * 5;
  const img = new Float32Array(n).map((_, i) => Math.sin(i * 0.37) * 100);
  const lab = new Uint8Array(n).map((_, i) => (i * 7) % 4);
  writeNifti(`${dir}/img.nii.gz`, { data: img, shape, spacing: [0.75, 1.25, 2.5], affine });
  writeNifti(`${dir}/lab.nii.gz`, { data: lab, shape, spacing: [0.75, 1.25, 2.5], affine });
  for (const [name, want, dtype] of [["img", img, "float32"], ["lab", lab, "uint8"]] as const) {
    const info = JSON.parse(await python(READ_WITH_NIBABEL, [`${dir}/${name}.nii.gz`]));
    assertEquals(info.dtype, dtype);
    assertEquals(info.shape, [...shape]);
    assertEquals(info.affine.flat(), affine);
    assertEquals(info.sform_code, 1);
    assertEquals(info.qform_code, 1);
    assertEquals(info.zooms, [0.75, 1.25, 2.5]);
    const qform = info.qform.flat() as number[];
    for (let i = 0; i < 16; i++) assert(Math.abs(qform[i] - affine[i]) < 1e-5, `qform[${i}]`);
    const got = readF64(`${dir}/${name}.nii.gz.data`);
    for (let i = 0; i < n; i++) assertEquals(got[i], want[i]);
    // And Duet reads its own file back.
    const back = readNifti(`${dir}/${name}.nii.gz`);
    assertEquals(Array.from(back.data), Array.from(want));
    assertEquals(back.affine, affine);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("bad NIfTI input gives one-line DataErrors", () => {
  const vol = {
    data: new Float32Array(24).fill(1),
    shape: [4, 3, 2] as const,
    spacing: [1, 1, 1] as const,
    affine: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
  };
  const gz = encodeNifti(vol);
  const expectError = (bytes: Uint8Array, pattern: RegExp) => {
    const e = assertThrows(() => decodeNifti(bytes, "case7.nii.gz"), DataError);
    assert(pattern.test(e.message), e.message);
    assert(!e.message.includes("\n"));
    assert(e.message.startsWith("case7.nii.gz: "), e.message);
  };
  // gzip stream cut short
  expectError(gz.subarray(0, gz.length - 20), /gzip error/);
  // gzip with a corrupted deflate stream
  const bad = gz.slice();
  for (let i = 20; i < 40; i++) bad[i] ^= 0xa5;
  expectError(bad, /gzip error/);
  // truncated voxel data
  const raw = new Uint8Array(gunzipSync(gz));
  expectError(raw.subarray(0, 352 + 50), /truncated file/);
  expectError(raw.subarray(0, 100), /truncated NIfTI header/);
  // unknown datatype code
  const unk = raw.slice();
  new DataView(unk.buffer).setInt16(70, 4242, true);
  expectError(unk, /unknown NIfTI datatype code 4242/);
  const rgb = raw.slice();
  new DataView(rgb.buffer).setInt16(70, 128, true);
  expectError(rgb, /unsupported NIfTI datatype rgb24/);
  // not a NIfTI file at all
  expectError(new TextEncoder().encode("hello world ".repeat(40)), /not a NIfTI file/);
  // 4D without a volume index
  const four = raw.slice();
  const dv = new DataView(four.buffer);
  dv.setInt16(40, 4, true);
  dv.setInt16(46, 1, true); // nz = 1
  dv.setInt16(48, 2, true); // nt = 2
  expectError(four, /2 volumes/);
  assertEquals(decodeNifti(four, "x", { volumeIndex: 1 }).shape, [4, 3, 1]);
  // missing file
  const e = assertThrows(() => readNifti("/nonexistent/dir/x.nii.gz"), DataError);
  assert(/file not found/.test(e.message));
});
