import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import {
  binaryMetrics,
  type CaseMetrics,
  computeMetrics,
  percentileLinear,
} from "../../metrics/medpy.ts";
import { surfaceVoxels } from "../../metrics/surface.ts";
import {
  addThinStructures,
  perturb,
  randomBlobs,
  type ReferenceJob,
  runReference,
  type Shape3,
} from "./helpers.ts";

const METRICS = ["dice", "jaccard", "hd95", "asd", "assd"] as const;

interface Trial {
  name: string;
  pred: Uint8Array;
  label: Uint8Array;
  shape: Shape3;
  spacing: number[] | null;
  classes: number[];
}

function makeTrials(): Trial[] {
  const rng = new Rng(20261122);
  const trials: Trial[] = [];
  const shapes2d: Shape3[] = [[37, 29, 1], [64, 64, 1], [5, 80, 1], [1, 17, 1]];
  const shapes3d: Shape3[] = [[24, 19, 13], [40, 33, 9], [16, 16, 16], [30, 7, 2], [9, 1, 20]];
  const spacings2d = [null, [1, 1], [0.7, 1.9], [2.5, 0.3]];
  const spacings3d = [null, [1, 1, 1], [0.625, 0.625, 2.5], [1.3, 0.4, 0.9]];
  let k = 0;
  for (
    const [dim, shapes, spacings] of [[2, shapes2d, spacings2d], [3, shapes3d, spacings3d]] as const
  ) {
    for (const shape of shapes) {
      for (const spacing of spacings) {
        for (const kind of ["blobs", "thin", "mixed"] as const) {
          const classes = 1 + rng.int(0, 3);
          const maxR = Math.max(2, Math.min(...shape.slice(0, dim)) / 3);
          const label = kind === "thin"
            ? new Uint8Array(shape[0] * shape[1] * shape[2])
            : randomBlobs(rng, shape, { count: 1 + rng.int(0, 4), classes, maxRadius: maxR });
          if (kind !== "blobs") {
            addThinStructures(rng, label, shape, {
              lines: 1 + rng.int(0, 4),
              dots: rng.int(0, 4),
              classes,
            });
          }
          const pred = rng.bool(0.5)
            ? perturb(rng, label, shape, rng.int(0, 30))
            : randomBlobs(rng, shape, { count: 1 + rng.int(0, 4), classes, maxRadius: maxR });
          if (kind === "thin" && rng.bool(0.5)) {
            addThinStructures(rng, pred, shape, { lines: 2, dots: 2, classes });
          }
          const sp = spacing === null ? null : [...spacing];
          // A 2D case is sometimes given a 2-element shape: same semantics.
          trials.push({
            name: `${dim}d#${k++} ${kind} [${shape}] spacing=${sp}`,
            pred,
            label,
            shape,
            spacing: sp,
            // Class classes+1 is absent from both: exercises the both-empty convention.
            classes: Array.from({ length: classes + 1 }, (_, i) => i + 1),
          });
        }
      }
    }
  }
  return trials;
}

Deno.test("metrics equal the scipy implementation of medpy's definitions to 1e-6 (2D, 3D, anisotropic)", async () => {
  const trials = makeTrials();
  const job: ReferenceJob = {
    metrics: trials.map((t) => ({
      pred: t.pred,
      label: t.label,
      shape: t.shape,
      spacing: t.spacing,
      classes: t.classes,
    })),
  };
  const ref = await runReference(job);
  let compared = 0, nonEmpty = 0, nonTrivialHd = 0;
  for (let i = 0; i < trials.length; i++) {
    const t = trials[i];
    const shape = t.shape[2] === 1 && i % 2 === 0 ? [t.shape[0], t.shape[1]] : t.shape;
    const spacing = t.spacing === null ? undefined : t.spacing;
    const ours = computeMetrics(
      { data: t.pred, shape },
      { data: t.label, shape },
      { classes: t.classes, spacing },
    );
    assert.equal(ours.unit, spacing === undefined ? "voxel" : "mm");
    for (const c of t.classes) {
      const r = ref.metrics[i][String(c)];
      const o = ours.classes[String(c)];
      if (ours.empty[String(c)] === undefined) nonEmpty++;
      if (r.hd95 > 1.5) nonTrivialHd++;
      for (const m of METRICS) {
        const diff = Math.abs(o[m] - r[m]);
        assert.ok(
          diff <= 1e-6 && Number.isFinite(o[m]),
          `${t.name} class ${c} ${m}: ours ${o[m]} vs reference ${r[m]}`,
        );
        compared++;
      }
    }
  }
  // The random cases must actually exercise the distance code, not only the empty convention.
  assert.ok(nonEmpty > trials.length, `only ${nonEmpty} non-empty class pairs`);
  assert.ok(nonTrivialHd > trials.length / 2, `only ${nonTrivialHd} cases with hd95 > 1.5`);
  assert.ok(compared > 500);
});

Deno.test("small hand-checked 2D case: a 3x3 square against a shifted one", () => {
  // 7x7 image; A = square x,y in 1..3; B = square x in 2..4, y in 1..3.
  const shape = [7, 7] as const;
  const a = new Uint8Array(49), b = new Uint8Array(49);
  for (let y = 1; y <= 3; y++) {
    for (let x = 1; x <= 3; x++) a[x + 7 * y] = 1;
    for (let x = 2; x <= 4; x++) b[x + 7 * y] = 1;
  }
  const m = binaryMetrics(a, b, shape);
  assert.equal(m.dice, (2 * 6) / 18);
  assert.equal(m.jaccard, 6 / 12);
  // Surfaces: all but the centre voxel ((2,2) for A, (3,2) for B). d(A→B) in scan order:
  // (1,1) 1, (2,1) 0, (3,1) 0, (1,2) 1, (3,2) 1 (B's interior, next to (3,1)), (1,3) 1, (2,3) 0,
  // (3,3) 0; d(B→A) is the mirror image.
  assert.equal(m.asd, 4 / 8);
  assert.equal(m.assd, 8 / 16);
  // 16 values, 8 ones: percentile index 0.95*15 = 14.25 -> between sorted[14] = 1 and [15] = 1.
  assert.equal(m.hd95, 1);
  // Anisotropic: x spacing 2 doubles every x distance; (3,2)'s nearest is (3,1) at y-distance 0.5.
  const an = binaryMetrics(a, b, shape, [2, 0.5]);
  // A's left column (x=1) to B's column x=2: 2; (3,2) → (3,1): 0.5.
  assert.equal(an.asd, (2 + 2 + 2 + 0.5) / 8);
});

Deno.test("surface voxels: border voxels are surface (scipy border_value=0); 2D has no z border", () => {
  // A full 2D image: only its outer ring is surface.
  const full2d = new Uint8Array(5 * 4).fill(1);
  const s2 = surfaceVoxels(full2d, [5, 4, 1]);
  assert.equal(s2.reduce((p, v) => p + v, 0), 5 * 4 - 3 * 2);
  // A full 3D volume 5x4x3: everything but the 3x2x1 core.
  const full3d = new Uint8Array(5 * 4 * 3).fill(1);
  const s3 = surfaceVoxels(full3d, [5, 4, 3]);
  assert.equal(s3.reduce((p, v) => p + v, 0), 60 - 3 * 2 * 1);
  // A one-voxel-thick 3D slab 5x4x2 is all surface.
  assert.equal(surfaceVoxels(new Uint8Array(40).fill(1), [5, 4, 2]).reduce((p, v) => p + v, 0), 40);
});

Deno.test("empty masks follow the documented convention, never NaN", () => {
  const shape = [6, 5, 4];
  const some = new Uint8Array(120);
  some[3 + 6 * (2 + 5 * 1)] = 1;
  const none = new Uint8Array(120);
  const predEmpty = binaryMetrics(none, some, shape);
  assert.deepEqual(predEmpty, { dice: 0, jaccard: 0, hd95: 0, asd: 0, assd: 0, empty: "pred" });
  const labelEmpty = binaryMetrics(some, none, shape, [1, 1, 3]);
  assert.deepEqual(labelEmpty, { dice: 0, jaccard: 0, hd95: 0, asd: 0, assd: 0, empty: "label" });
  const both = binaryMetrics(none, none, shape);
  assert.deepEqual(both, { dice: 1, jaccard: 1, hd95: 0, asd: 0, assd: 0, empty: "both" });
  const same = binaryMetrics(some, some, shape);
  assert.deepEqual(same, { dice: 1, jaccard: 1, hd95: 0, asd: 0, assd: 0 });
  // Multi-class: default classes = those present; empties are listed.
  const pred = new Uint8Array(120), label = new Uint8Array(120);
  pred[0] = 2;
  label[1] = 1;
  label[0] = 2;
  const m: CaseMetrics = computeMetrics({ data: pred, shape }, { data: label, shape });
  assert.deepEqual(Object.keys(m.classes), ["1", "2"]);
  assert.deepEqual(m.empty, { "1": "pred" });
  assert.equal(m.classes["2"].dice, 1);
});

Deno.test("a 3D crop one slice thick keeps 3D semantics; nz = 1 and 2-element shapes agree", () => {
  const rng = new Rng(7);
  const shape: Shape3 = [20, 18, 6];
  const a = new Uint8Array(20 * 18 * 6), b = new Uint8Array(20 * 18 * 6);
  // Everything on slice z = 3 only.
  for (let y = 2; y < 14; y++) {
    for (let x = 3; x < 17; x++) {
      if (rng.bool(0.8)) a[x + 20 * (y + 18 * 3)] = 1;
      if (rng.bool(0.8)) b[x + 20 * (y + 18 * 3)] = 1;
    }
  }
  const m3 = binaryMetrics(a, b, shape);
  // In 3D every voxel of a one-slice mask is surface; compare with a direct full-volume count.
  const sa = surfaceVoxels(a, shape);
  assert.equal(sa.reduce((p, v) => p + v, 0), a.reduce((p, v) => p + v, 0));
  // The 2D reading of that slice differs (interior voxels exist), so asd must differ.
  const slice = (m: Uint8Array) => m.slice(20 * 18 * 3, 20 * 18 * 4);
  const m2 = binaryMetrics(slice(a), slice(b), [20, 18]);
  const m2b = binaryMetrics(slice(a), slice(b), [20, 18, 1]);
  assert.deepEqual(m2, m2b);
  assert.equal(m2.dice, m3.dice);
  assert.notEqual(m2.asd, m3.asd);
});

Deno.test("percentileLinear matches numpy's linear method", () => {
  const v = Float64Array.from([0, 1, 2, 3, 10]);
  // Bit-identical to numpy 1.24 (`_lerp` form), values printed by numpy.percentile.
  assert.equal(percentileLinear(v, 95), 8.599999999999998); // virtual index 3.8
  assert.equal(
    percentileLinear(Float64Array.from([0, 1, 2, 3, 10, 11, 12.5]), 95),
    12.049999999999999,
  );
  assert.equal(percentileLinear(Float64Array.from([0.1, 0.7, 1.3]), 95), 1.24);
  assert.equal(percentileLinear(v, 0), 0);
  assert.equal(percentileLinear(v, 100), 10);
  assert.equal(percentileLinear(Float64Array.from([4]), 95), 4);
  assert.throws(() => percentileLinear(new Float64Array(0), 95));
});

Deno.test("shape and spacing errors are reported", () => {
  const d = new Uint8Array(12);
  assert.throws(
    () => computeMetrics({ data: d, shape: [3, 4] }, { data: d, shape: [4, 3] }),
    /differs/,
  );
  assert.throws(
    () => computeMetrics({ data: d, shape: [3, 5] }, { data: d, shape: [3, 5] }),
    /elements/,
  );
  assert.throws(() => binaryMetrics(d, d, [3, 2, 2], [1, 1]), /3-element spacing/);
  assert.throws(() => binaryMetrics(d, d, [3, 4], [1, 0]), /positive/);
});
