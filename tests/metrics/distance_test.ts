import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import {
  distanceToFeatures,
  distanceTransformEdt,
  squaredDistanceToFeatures,
} from "../../metrics/distance.ts";

/** Brute force: min over all features of the squared physical distance. */
function bruteForce(features: Uint8Array, shape: number[], spacing: number[]): Float64Array {
  const [nx, ny, nz] = [shape[0], shape[1], shape[2] ?? 1];
  const pts: number[][] = [];
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) if (features[x + nx * (y + ny * z)]) pts.push([x, y, z]);
    }
  }
  const out = new Float64Array(nx * ny * nz).fill(Infinity);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        let best = Infinity;
        for (const [px, py, pz] of pts) {
          const dx = (x - px) * spacing[0], dy = (y - py) * spacing[1];
          const dz = (z - pz) * (spacing[2] ?? 1);
          const d = dx * dx + dy * dy + dz * dz;
          if (d < best) best = d;
        }
        out[x + nx * (y + ny * z)] = best;
      }
    }
  }
  return out;
}

Deno.test("squared EDT equals brute force on random 2D and 3D grids with anisotropic spacing", () => {
  const rng = new Rng(5);
  const cases: [number[], number[]][] = [
    [[1, 1], [1, 1]],
    [[13, 1], [0.5, 1]],
    [[1, 9], [1, 3]],
    [[17, 11], [1, 1]],
    [[23, 16], [0.3, 2.2]],
    [[9, 7, 5], [1, 1, 1]],
    [[12, 10, 8], [0.625, 0.625, 2.5]],
    [[5, 14, 9], [2, 0.7, 1.1]],
    [[1, 1, 13], [1, 1, 0.4]],
  ];
  for (const [shape, spacing] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    for (const density of [0, 0.002, 0.03, 0.3, 1]) {
      const features = new Uint8Array(n);
      for (let i = 0; i < n; i++) features[i] = rng.bool(density) ? 1 : 0;
      if (density > 0 && density < 1 && features.every((v) => v === 0)) features[rng.int(0, n)] = 1;
      const ours = squaredDistanceToFeatures(features, shape, spacing);
      const ref = bruteForce(features, shape, spacing);
      for (let i = 0; i < n; i++) {
        const ok = ref[i] === Infinity ? ours[i] === Infinity : Math.abs(ours[i] - ref[i]) <= 1e-9;
        assert.ok(
          ok,
          `shape ${shape} spacing ${spacing} density ${density} at ${i}: ${ours[i]} vs ${ref[i]}`,
        );
      }
    }
  }
});

Deno.test("distanceTransformEdt has scipy's orientation (distance of non-zero voxels to zeros)", () => {
  // 1D-like: [0 1 1 1 1 0 1] with spacing 2.
  const input = Uint8Array.from([0, 1, 1, 1, 1, 0, 1]);
  assert.deepEqual([...distanceTransformEdt(input, [7, 1], [2, 1])], [0, 2, 4, 4, 2, 0, 2]);
  assert.deepEqual([...distanceToFeatures(input, [7, 1])], [1, 0, 0, 0, 0, 1, 0]);
});

Deno.test("EDT time is linear: 8x the voxels take well under 20x the time", () => {
  const rng = new Rng(11);
  const time = (shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = new Uint8Array(n);
    for (let i = 0; i < n; i++) f[i] = rng.bool(0.01) ? 1 : 0;
    squaredDistanceToFeatures(f, shape); // warm-up
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      squaredDistanceToFeatures(f, shape, [0.8, 0.8, 2]);
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  const small = time([64, 64, 32]);
  const large = time([128, 128, 64]);
  assert.ok(
    large < 20 * small + 5,
    `64x64x32: ${small.toFixed(1)} ms, 128x128x64: ${large.toFixed(1)} ms`,
  );
});
