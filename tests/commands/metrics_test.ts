/**
 * `deno task pipeline metrics` as a user runs it: label maps written by nibabel (NIfTI) and h5py
 * (SSL4MIS .h5), JSON compared with the scipy implementation of medpy's definitions
 * (tests/reference/medpy_reference.py) to 1e-6; shape mismatch -> exit 65 naming both files.
 */
import { assert, assertAlmostEquals, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { Rng } from "../../random/rng.ts";
import { perturb, randomBlobs, runReference, type Shape3 } from "../metrics/helpers.ts";
import { python, tempDir } from "../io/python.ts";

const metricsCli = (args: string[]) => cli(["metrics", ...args]);
const METRICS = ["dice", "jaccard", "hd95", "asd", "assd"] as const;

/**
 * Writes Duet-layout uint8 maps (x fastest) as files with nibabel / h5py.
 * kind "nifti": affine diag(spacing); kind "h5": datasets named by `datasets` in (X, Y, Z) order.
 */
async function writeMaps(
  dir: string,
  files: {
    path: string;
    kind: "nifti" | "h5";
    shape: Shape3;
    spacing?: number[];
    datasets: Record<string, Uint8Array>;
  }[],
) {
  const jobs = [];
  for (const [i, f] of files.entries()) {
    const raws: Record<string, string> = {};
    for (const [name, data] of Object.entries(f.datasets)) {
      raws[name] = `${dir}/raw${i}_${name}.u8`;
      await Deno.writeFile(raws[name], data);
    }
    jobs.push({ ...f, datasets: raws });
  }
  await python(
    `
import json, sys, numpy as np, nibabel as nib, h5py
for f in json.load(open(sys.argv[1])):
    nx, ny, nz = f["shape"]
    arrays = {k: np.fromfile(p, np.uint8).reshape(nz, ny, nx).transpose(2, 1, 0)
              for k, p in f["datasets"].items()}
    if f["kind"] == "nifti":
        (a,) = arrays.values()
        sp = f.get("spacing") or [1, 1, 1]
        nib.save(nib.Nifti1Image(np.ascontiguousarray(a), np.diag(sp + [1.0])), f["path"])
    else:
        with h5py.File(f["path"], "w") as h:
            for k, a in arrays.items():
                h.create_dataset(k, data=a, compression="gzip")
`,
    [await writeJob(dir, jobs)],
  );
}

async function writeJob(dir: string, jobs: unknown): Promise<string> {
  const path = `${dir}/job.json`;
  await Deno.writeTextFile(path, JSON.stringify(jobs));
  return path;
}

function compare(
  actual: Record<string, Record<string, number>>,
  expected: Record<string, Record<string, number>>,
  what: string,
) {
  assertEquals(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: classes`);
  for (const [cls, ref] of Object.entries(expected)) {
    for (const m of METRICS) {
      assert(Number.isFinite(actual[cls][m]), `${what}: class ${cls} ${m} not finite`);
      assertAlmostEquals(actual[cls][m], ref[m], 1e-6, `${what}: class ${cls} ${m}`);
    }
  }
}

Deno.test("metrics: NIfTI and .h5 files from nibabel/h5py equal the scipy medpy reference (voxels and mm)", async () => {
  const dir = tempDir("metrics-cmd");
  try {
    const rng = new Rng(61);
    const shape3: Shape3 = [41, 33, 17];
    const label3 = randomBlobs(rng, shape3, { count: 5, classes: 3, maxRadius: 10 });
    const pred3 = perturb(rng, label3, shape3, 60);
    // Class 3 is missing from the prediction: the empty-mask convention (zeros, never NaN).
    for (let i = 0; i < pred3.length; i++) if (pred3[i] === 3) pred3[i] = 0;
    label3[5] = 3;
    const shape2: Shape3 = [48, 37, 1];
    const label2 = randomBlobs(rng, shape2, { count: 4, classes: 2, maxRadius: 14 });
    const pred2 = perturb(rng, label2, shape2, 25);
    const spacing3 = [0.625, 0.8, 2.5];
    await writeMaps(dir, [
      {
        path: `${dir}/label.nii.gz`,
        kind: "nifti",
        shape: shape3,
        spacing: spacing3,
        datasets: { l: label3 },
      },
      {
        path: `${dir}/pred.nii`,
        kind: "nifti",
        shape: shape3,
        spacing: spacing3,
        datasets: { p: pred3 },
      },
      {
        path: `${dir}/case.h5`,
        kind: "h5",
        shape: shape3,
        datasets: { image: label3, label: label3 },
      },
      // An .h5 prediction with both datasets: `pred` wins over `label`.
      {
        path: `${dir}/pred.h5`,
        kind: "h5",
        shape: shape3,
        datasets: { label: label3, pred: pred3 },
      },
      {
        path: `${dir}/label2.nii.gz`,
        kind: "nifti",
        shape: shape2,
        spacing: [0.7, 1.9, 1],
        datasets: { l: label2 },
      },
      {
        path: `${dir}/pred2.nii.gz`,
        kind: "nifti",
        shape: shape2,
        spacing: [0.7, 1.9, 1],
        datasets: { p: pred2 },
      },
    ]);
    const classes3 = [1, 2, 3];
    const reference = await runReference({
      metrics: [
        { pred: pred3, label: label3, shape: shape3, spacing: null, classes: classes3 },
        { pred: pred3, label: label3, shape: shape3, spacing: spacing3, classes: classes3 },
        { pred: pred3, label: label3, shape: shape3, spacing: [1.5, 1, 0.5], classes: classes3 },
        { pred: pred2, label: label2, shape: [48, 37], spacing: [0.7, 1.9], classes: [1, 2] },
      ],
    });
    const runs: [string[], number][] = [
      [["--pred", `${dir}/pred.nii`, "--label", `${dir}/label.nii.gz`, "--json"], 0],
      [["--pred", `${dir}/pred.nii`, "--label", `${dir}/label.nii.gz`, "--spacing", "--json"], 1],
      [["--pred", `${dir}/pred.h5`, "--label", `${dir}/case.h5`, "--json"], 0],
      [[
        "--pred",
        `${dir}/pred.nii`,
        "--label",
        `${dir}/case.h5`,
        "--spacing",
        "1.5,1,0.5",
        "--json",
      ], 2],
      [
        ["--pred", `${dir}/pred2.nii.gz`, "--label", `${dir}/label2.nii.gz`, "--json", "--spacing"],
        3,
      ],
    ];
    for (const [args, k] of runs) {
      const r = await metricsCli(args);
      assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      const parsed = JSON.parse(r.stdout);
      assertEquals(Object.keys(parsed), ["classes"], "exactly one object {classes}");
      assert(!r.stdout.includes("NaN") && !r.stdout.includes("null"), r.stdout);
      compare(parsed.classes, reference.metrics[k], args.join(" "));
    }
    // The empty-prediction class got the papers' zeros.
    const r = await metricsCli(["--pred", `${dir}/pred.nii`, "--label", `${dir}/label.nii.gz`]);
    assertEquals(r.code, 0, r.stderr);
    assert(
      /^3 +0\.0000 +0\.0000 +0\.0000 +0\.0000 +0\.0000 +\(prediction empty/m.test(r.stdout),
      r.stdout,
    );
    assert(r.stdout.includes("distances in voxels"), r.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics: mismatched shapes, missing files and bad flags fail with one clear line", async () => {
  const dir = tempDir("metrics-cmd-err");
  try {
    const a = new Uint8Array(10 * 8 * 6).fill(1), b = new Uint8Array(10 * 8 * 5).fill(1);
    await writeMaps(dir, [
      { path: `${dir}/a.nii.gz`, kind: "nifti", shape: [10, 8, 6], datasets: { a } },
      { path: `${dir}/b.h5`, kind: "h5", shape: [10, 8, 5], datasets: { image: b } },
      { path: `${dir}/c.h5`, kind: "h5", shape: [10, 8, 5], datasets: { label: b } },
    ]);
    let r = await metricsCli(["--pred", `${dir}/a.nii.gz`, "--label", `${dir}/c.h5`]);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes(`${dir}/a.nii.gz`) && r.stderr.includes(`${dir}/c.h5`), r.stderr);
    assert(r.stderr.includes("10x8x6") && r.stderr.includes("10x8x5"), r.stderr);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertEquals(r.stdout, "");
    r = await metricsCli(["--pred", `${dir}/c.h5`, "--label", `${dir}/b.h5`]);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes('no "label" dataset'), r.stderr);
    r = await metricsCli(["--pred", `${dir}/missing.nii.gz`, "--label", `${dir}/c.h5`]);
    assertEquals(r.code, 65, r.stderr);
    assert(r.stderr.includes("file not found"), r.stderr);
    r = await metricsCli(["--pred", `${dir}/c.h5`, "--label", `${dir}/c.h5`, "--spacing=1,-2,1"]);
    assertEquals(r.code, 64, r.stderr);
    assert(r.stderr.includes("--spacing"), r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
