import assert from "node:assert/strict";
import { Rng } from "../../random/rng.ts";
import {
  type Connectivity,
  keepLargestComponent,
  labelClassComponents,
  labelComponents,
} from "../../metrics/components.ts";
import { addThinStructures, randomBlobs, runReference, type Shape3 } from "./helpers.ts";

/** scipy's generate_binary_structure rank for a Duet connectivity. */
const RANK: Record<Connectivity, number> = { 4: 1, 8: 2, 6: 1, 18: 2, 26: 3 };

function randomMasks(): { mask: Uint8Array; shape: Shape3; classes: number }[] {
  const rng = new Rng(99);
  const out: { mask: Uint8Array; shape: Shape3; classes: number }[] = [];
  const shapes: Shape3[] = [[31, 23, 1], [50, 40, 1], [17, 13, 11], [25, 9, 14], [1, 12, 9]];
  for (const shape of shapes) {
    for (let r = 0; r < 3; r++) {
      const classes = 1 + rng.int(0, 3);
      const mask = randomBlobs(rng, shape, { count: 3 + rng.int(0, 8), classes, maxRadius: 4 });
      addThinStructures(rng, mask, shape, { lines: 4, dots: 12, classes });
      // Speckle: many small diagonal-touching pieces make 4/8 and 6/18/26 differ.
      for (let k = 0; k < mask.length / 6; k++) {
        mask[rng.int(0, mask.length)] = 1 + rng.int(0, classes);
      }
      out.push({ mask, shape, classes });
    }
  }
  return out;
}

Deno.test("labelComponents equals scipy.ndimage.label (2D 4/8, 3D 6/18/26), numbering included", async () => {
  const cases: { mask: Uint8Array; shape: Shape3; connectivity: Connectivity }[] = [];
  for (const { mask, shape } of randomMasks()) {
    const conns: Connectivity[] = shape[2] === 1 ? [4, 8] : [6, 18, 26];
    for (const connectivity of conns) cases.push({ mask, shape, connectivity });
  }
  const ref = await runReference({
    label: cases.map((c) => ({ mask: c.mask, shape: c.shape, connectivity: RANK[c.connectivity] })),
  });
  const counts = new Set<number>();
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const ours = labelComponents(c.mask, c.shape, c.connectivity);
    assert.equal(ours.count, ref.label[i].count, `count, case ${i} conn ${c.connectivity}`);
    assert.deepEqual(ours.labels, ref.label[i].labels, `labels, case ${i} conn ${c.connectivity}`);
    // sizes agree with the label image
    const sizes = new Float64Array(ours.count + 1);
    for (const l of ours.labels) if (l > 0) sizes[l]++;
    assert.deepEqual(ours.sizes, sizes);
    counts.add(ours.count);
  }
  assert.ok(counts.size > 5, "the random masks should give varied component counts");
});

Deno.test("keepLargestComponent per class equals the papers' getLargestCC applied per class", async () => {
  const masks = randomMasks();
  const cases = masks.flatMap(({ mask, shape, classes }) => {
    const all = Array.from({ length: classes }, (_, i) => i + 1);
    const full: Connectivity = shape[2] === 1 ? 8 : 26;
    const face: Connectivity = shape[2] === 1 ? 4 : 6;
    return [
      { mask, shape, classes: all, connectivity: full },
      { mask, shape, classes: all, connectivity: face },
    ];
  });
  const ref = await runReference({
    largestCc: cases.map((c) => ({
      mask: c.mask,
      shape: c.shape,
      classes: c.classes,
      connectivity: RANK[c.connectivity],
    })),
  });
  let changed = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const ours = c.connectivity === 8 || c.connectivity === 26
      ? keepLargestComponent(c.mask, c.shape) // default = full connectivity (skimage)
      : keepLargestComponent(c.mask, c.shape, { connectivity: c.connectivity });
    assert.deepEqual(ours, ref.largestCc[i], `case ${i}`);
    if (ours.some((v, j) => v !== c.mask[j])) changed++;
  }
  assert.ok(changed > cases.length / 2, "post-processing should remove something in most cases");
});

Deno.test("keepLargestComponent: tie goes to the first component; unlisted classes untouched", () => {
  // 1D-like 2D image: class 1 pieces of sizes 2, 2 (tie) and class 2 pieces of sizes 1, 3.
  const row = [1, 1, 0, 1, 1, 0, 2, 0, 2, 2, 2];
  const mask = Uint8Array.from(row);
  assert.deepEqual([...keepLargestComponent(mask, [11, 1])], [1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2]);
  assert.deepEqual(
    [...keepLargestComponent(mask, [11, 1], { classes: [2] })],
    [1, 1, 0, 1, 1, 0, 0, 0, 2, 2, 2],
  );
  // Classes touching each other stay separate components.
  const touching = Uint8Array.from([1, 1, 2, 2, 2, 1]);
  const comps = labelClassComponents(touching, [6, 1], 4);
  assert.equal(comps.count, 3);
  assert.deepEqual([...comps.values], [0, 1, 2, 1]);
  assert.deepEqual([...keepLargestComponent(touching, [6, 1])], [1, 1, 2, 2, 2, 0]);
  assert.throws(() => labelComponents(touching, [3, 1, 2], 8), /2D/);
});
