import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import { computeMetrics } from "../../metrics/medpy.ts";
import { perturb, randomBlobs, type Shape3 } from "./helpers.ts";

Deno.test("metrics of a 200x200x88 volume pair (2 classes, mm spacing) take under three seconds", () => {
  const shape: Shape3 = [200, 200, 88];
  const rng = new Rng(2026);
  // Large blobs: each class's bounding box spans most of the volume, so no crop makes it cheap.
  const label = randomBlobs(rng, shape, { count: 10, classes: 2, maxRadius: 70 });
  // Prediction: the label moved by (3, -2, 1) voxels, plus 5000 random voxel flips.
  const [nx, ny, nz] = shape;
  const moved = new Uint8Array(label.length);
  for (let z = 1; z < nz; z++) {
    for (let y = 0; y < ny - 2; y++) {
      for (let x = 3; x < nx; x++) {
        moved[x + nx * (y + ny * z)] = label[x - 3 + nx * (y + 2 + ny * (z - 1))];
      }
    }
  }
  const pred = perturb(new Rng(1), moved, shape, 5000);
  // Warm-up on a smaller pair (1/8 of the voxels), as in an evaluate stage that has already
  // scored a case: the measurement is then not V8's JIT compilation.
  const small: Shape3 = [100, 100, 44];
  const sl = randomBlobs(rng, small, { count: 4, classes: 2, maxRadius: 35 });
  for (let r = 0; r < 2; r++) {
    const sp = perturb(rng, sl, small, 500);
    computeMetrics({ data: sp, shape: small }, { data: sl, shape: small }, { spacing: [1, 1, 2] });
  }

  // The fastest of three: what the code costs, not what another process took from the machine.
  let ms = Infinity;
  let m!: ReturnType<typeof computeMetrics>;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    m = computeMetrics({ data: pred, shape }, { data: label, shape }, {
      classes: [1, 2],
      spacing: [0.625, 0.625, 2.5],
    });
    ms = Math.min(ms, performance.now() - t);
  }
  console.log(
    `computeMetrics 200x200x88, 2 classes: ${ms.toFixed(0)} ms`,
    JSON.stringify(m.classes),
  );
  for (const c of ["1", "2"]) {
    assert.ok(m.classes[c].dice > 0.5 && m.classes[c].dice < 1, JSON.stringify(m.classes[c]));
    assert.ok(m.classes[c].hd95 > 2, JSON.stringify(m.classes[c]));
  }
  // A guard against an algorithmic regression (a brute-force surface distance search takes far
  // longer), with room for a machine shared with a training run (990-1011 ms measured there).
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
});
