import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../assert.ts";
import { readDicomSeries } from "../../io/dicom.ts";
import { DataError } from "../../io/errors.ts";
import { type DicomSliceSpec, encodeDicomSlice } from "./dicom_writer.ts";
import { python, readF64, tempDir } from "./python.ts";

// An oblique axial-ish orientation: rows run along (cos, sin, 0), columns along (-sin·c, cos·c, s).
const th = 0.3, ph = 0.2;
const rowDir = [Math.cos(th), Math.sin(th), 0];
const colDir = [-Math.sin(th) * Math.cos(ph), Math.cos(th) * Math.cos(ph), Math.sin(ph)];
const normal = [
  rowDir[1] * colDir[2] - rowDir[2] * colDir[1],
  rowDir[2] * colDir[0] - rowDir[0] * colDir[2],
  rowDir[0] * colDir[1] - rowDir[1] * colDir[0],
];
const origin = [-100.5, 20.25, 33];
const [ROWS, COLS, NZ, DZ] = [4, 6, 5, 2.5];

function series(overrides: (z: number) => Partial<DicomSliceSpec> = () => ({})): DicomSliceSpec[] {
  return Array.from({ length: NZ }, (_, z) => ({
    rows: ROWS,
    columns: COLS,
    pixels: new Int16Array(ROWS * COLS).map((_, i) => z * 100 + i - 7),
    position: [0, 1, 2].map((k) => origin[k] + z * DZ * normal[k]) as [number, number, number],
    orientation: [...rowDir, ...colDir] as [number, number, number, number, number, number],
    pixelSpacing: [0.8, 0.6], // 0.8 mm between rows, 0.6 mm between columns
    slope: 2,
    intercept: -1024,
    instance: NZ - z, // instance numbers run backwards: sorting must use positions
    ...overrides(z),
  }));
}

function writeSeries(dir: string, slices: DicomSliceSpec[]) {
  Deno.mkdirSync(dir, { recursive: true });
  // Names in an order unrelated to position.
  slices.forEach((s, z) =>
    Deno.writeFileSync(`${dir}/IM${(z * 3) % NZ}_${z}.dcm`, encodeDicomSlice(s))
  );
}

const expectedAffine = () => {
  const lps = [0, 1, 2].map((r) => [rowDir[r] * 0.6, colDir[r] * 0.8, normal[r] * DZ, origin[r]]);
  return [...lps[0].map((v) => -v), ...lps[1].map((v) => -v), ...lps[2], 0, 0, 0, 1];
};

Deno.test("DICOM series: sorted by position, spacing, rescale, RAS affine (3 transfer syntaxes)", () => {
  const root = tempDir("dicom");
  for (const ts of ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]) {
    const dir = `${root}/${ts}`;
    writeSeries(dir, series(() => ({ transferSyntax: ts })));
    Deno.writeFileSync(`${dir}/notes.txt`, new TextEncoder().encode("not dicom"));
    const v = readDicomSeries(dir);
    assertEquals(v.shape, [COLS, ROWS, NZ]);
    assertAlmostEquals(v.spacing[0], 0.6, 1e-9);
    assertAlmostEquals(v.spacing[1], 0.8, 1e-9);
    assertAlmostEquals(v.spacing[2], DZ, 1e-4);
    for (let z = 0; z < NZ; z++) {
      for (let i = 0; i < ROWS * COLS; i++) {
        assertEquals(
          v.data[z * ROWS * COLS + i],
          (z * 100 + i - 7) * 2 - 1024,
          `${ts} z${z} i${i}`,
        );
      }
    }
    const want = expectedAffine();
    for (let i = 0; i < 16; i++) {
      assertAlmostEquals(v.affine[i], want[i], 1e-4, `${ts} affine[${i}]`);
    }
  }
  Deno.removeSync(root, { recursive: true });
});

Deno.test("DICOM series written by pydicom reads like pydicom says (skipped without pydicom)", async () => {
  const probe = await new Deno.Command("/usr/bin/python3", { args: ["-c", "import pydicom"] })
    .output();
  if (!probe.success) {
    console.log("python3-pydicom not installed; skipped");
    return;
  }
  const dir = tempDir("pydicom");
  await python(
    `
import sys, numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian, generate_uid
d = sys.argv[1]; rng = np.random.default_rng(5); series = generate_uid()
rowc, colc = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])  # sagittal
normal = np.cross(rowc, colc); vols = []
for k, z in enumerate(rng.permutation(4)):
    meta = FileMetaDataset(); meta.TransferSyntaxUID = ImplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset(); ds.file_meta = meta; ds.SeriesInstanceUID = series; ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [float(v) for v in np.array([10.0, -5.0, 40.0]) + z * 1.5 * normal]
    ds.ImageOrientationPatient = [float(v) for v in np.r_[rowc, colc]]
    ds.PixelSpacing = [0.9, 0.7]; ds.Rows, ds.Columns = 3, 5; ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"; ds.BitsAllocated = 16; ds.BitsStored = 16
    ds.HighBit = 15; ds.PixelRepresentation = 1; ds.RescaleSlope = 1.5; ds.RescaleIntercept = -7
    arr = rng.integers(-2000, 2000, (3, 5)).astype(np.int16); ds.PixelData = arr.tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, True
    ds.save_as(f"{d}/slice{k}.dcm", write_like_original=False)
dsl = [pydicom.dcmread(f"{d}/slice{k}.dcm") for k in range(4)]
dsl.sort(key=lambda s: float(np.dot(s.ImagePositionPatient, normal)))
vol = np.stack([s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in dsl])  # (z, row, col)
vol.astype(np.float64).ravel().tofile(f"{d}/expected.data")
`,
    [dir],
  );
  const v = readDicomSeries(dir);
  assertEquals(v.shape, [5, 3, 4]);
  const want = readF64(`${dir}/expected.data`);
  assertEquals(Array.from(v.data), Array.from(want));
  // sagittal: x (columns) along +y (A in LPS -> -y in RAS), y (rows) along -z, z along normal (-x LPS)
  const expected = [0, 0, 1.5, -10, -0.7, 0, 0, 5, 0, -0.9, 0, 40, 0, 0, 0, 1];
  for (let i = 0; i < 16; i++) assertAlmostEquals(v.affine[i], expected[i], 1e-6, `affine[${i}]`);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("bad DICOM series give one-line DataErrors", () => {
  const root = tempDir("dicom-bad");
  const make = (name: string, slices: DicomSliceSpec[]) => {
    writeSeries(`${root}/${name}`, slices);
    return `${root}/${name}`;
  };
  Deno.mkdirSync(`${root}/empty`);
  const truncated = make("truncated", series());
  const f = [...Deno.readDirSync(truncated)][0].name;
  const b = Deno.readFileSync(`${truncated}/${f}`);
  Deno.writeFileSync(`${truncated}/${f}`, b.subarray(0, b.length - 10));
  const cases: [string, RegExp][] = [
    [`${root}/empty`, /no DICOM files/],
    [
      make("jpeg", series(() => ({ transferSyntax: "1.2.840.10008.1.2.4.50" }))),
      /compressed DICOM transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50.*gdcmconv/,
    ],
    [
      make("two", series((z) => ({ seriesUid: z < 2 ? "1.2.3" : "1.2.4" }))),
      /holds 2 DICOM series/,
    ],
    [
      make("dup", series((z) => (z === 3 ? { position: series()[2].position } : {}))),
      /same position/,
    ],
    [make("gap", series().filter((_, z) => z !== 2)), /non-uniform slice spacing/],
    [truncated, /truncated|unreadable DICOM/],
    [`${root}/missing`, /file not found/],
  ];
  for (const [dir, pattern] of cases) {
    const e = assertThrows(() => readDicomSeries(dir), DataError);
    assert(pattern.test(e.message), e.message);
    assert(!e.message.includes("\n"), e.message);
  }
  Deno.removeSync(root, { recursive: true });
});
