import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import {
  assignRoles,
  bindRoles,
  largestForegroundSlice,
  loadRoledCase,
  pickExemplarSlice,
  RolesConfigError,
} from "../../io/roles.ts";
import { discoverCases } from "../../io/dataset.ts";
import { writeNifti } from "../../io/nifti.ts";
import { writeHdf5 } from "../../io/hdf5.ts";
import { DataError } from "../../io/errors.ts";
import { tempDir } from "./python.ts";

const ids = ["a", "b", "c", "d", "e", "f", "g", "h"];

Deno.test("assignRoles: labelled K is the first K of the pool, the rest unlabelled", () => {
  const r = assignRoles(ids, { labelled: 2, validation: ["b", "h"], test: ["a"] });
  assertEquals(r, {
    labelled: ["c", "d"],
    unlabelled: ["e", "f", "g"],
    validation: ["b", "h"],
    test: ["a"],
  });
  const ex = assignRoles(ids, { exemplar: { case: "c", slice: "largest" }, test: ["h"] });
  assertEquals(ex.exemplar, { case: "c", slice: "largest" });
  assertEquals(ex.labelled, []);
  assertEquals(ex.unlabelled, ["a", "b", "d", "e", "f", "g"]);
  const explicit = assignRoles(ids, { labelled: ["g", "a"] });
  assertEquals(explicit.labelled, ["g", "a"]);
  assertEquals(explicit.unlabelled, ["b", "c", "d", "e", "f", "h"]);
  // a seeded validation draw is reproducible and disjoint from test
  const v1 = assignRoles(ids, { validation: { count: 3, seed: 7 }, test: ["a"] });
  const v2 = assignRoles(ids, { validation: { count: 3, seed: 7 }, test: ["a"] });
  assertEquals(v1, v2);
  assertEquals(v1.validation.length, 3);
  assert(!v1.validation.includes("a"));
  assertEquals(new Set([...v1.validation, ...v1.unlabelled, ...v1.test]).size, 8);
});

Deno.test("assignRoles: contradictions are config errors", () => {
  const bad: [Parameters<typeof assignRoles>[1], RegExp][] = [
    [{ labelled: ["zz"] }, /roles\.labelled: unknown case ID "zz"/],
    [{ validation: ["a"], test: ["a"] }, /"a" is in both roles\.test and roles\.validation/],
    [{ exemplar: { case: "b", slice: 3 }, validation: ["b"] }, /both/],
    [{ labelled: 9 }, /roles\.labelled 9 not in 0\.\.8/],
    [{ labelled: 8, test: ["a"] }, /not in 0\.\.7/],
    [{ exemplar: { case: "b", slice: -1 } }, /slice/],
    [{ validation: { count: 20, seed: 1 } }, /count 20/],
  ];
  for (const [cfg, pattern] of bad) {
    const e = assertThrows(() => assignRoles(ids, cfg), RolesConfigError);
    assert(pattern.test(e.message), e.message);
  }
});

Deno.test("unlabelled cases never expose or read their label; exemplar keeps one slice", async () => {
  const root = tempDir("roles");
  const shape = [4, 3, 5] as const;
  const n = 60;
  const A = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  const image = {
    data: new Float32Array(n).map((_, i) => i),
    shape,
    spacing: [1, 1, 1] as const,
    affine: A,
  };
  // foreground: 2 voxels on z=1, 7 on z=3
  const lab = new Float32Array(n);
  [12, 13].forEach((i) => (lab[i] = 1));
  for (let i = 36; i < 43; i++) lab[i] = 1;
  const label = { ...image, data: lab };
  for (const id of ["u1", "u2", "x1", "x2"]) {
    writeNifti(`${root}/${id}.nii.gz`, image);
    writeNifti(`${root}/${id}_label.nii.gz`, label);
  }
  // The unlabelled cases' label files are garbage: any read of them would fail.
  Deno.writeTextFileSync(`${root}/u1_label.nii.gz`, "corrupt");
  Deno.writeTextFileSync(`${root}/u2_label.nii.gz`, "corrupt");
  const specs = await discoverCases(root);
  assertEquals(specs.map((s) => [s.id, !!s.labelPath]), [["u1", true], ["u2", true], ["x1", true], [
    "x2",
    true,
  ]]);
  const roles = assignRoles(specs.map((s) => s.id), {
    exemplar: { case: "x1", slice: "largest" },
    validation: ["x2"],
  });
  assertEquals(roles.unlabelled, ["u1", "u2"]);
  const bound = bindRoles(specs, roles);
  const opts = { classes: 2 };
  for (const c of bound) {
    const item = await loadRoledCase(c, opts);
    if (c.role === "unlabelled") {
      assert(!("labelPath" in c.spec), "unlabelled spec must not carry a label path");
      assert(!("label" in item) && !("sliceLabel" in item), "unlabelled item must carry no label");
      assertEquals(item.image.shape, shape);
    }
    if (item.role === "exemplar") {
      assertEquals(item.slice, 3);
      assertEquals(item.sliceLabel.shape, [4, 3, 1]);
      assertEquals(Array.from(item.sliceLabel.data).reduce((a, b) => a + b, 0), 7);
      assertEquals(item.sliceLabel.affine[11], 3);
    }
    if (item.role === "validation") assertEquals(item.label.data[40], 1);
  }
  // The same spec read as labelled does touch the (corrupt) label: proof the path above did not.
  const u1 = specs.find((s) => s.id === "u1")!;
  await assertRejects(() => loadRoledCase({ role: "labelled", spec: u1 }, opts), DataError);
  // fixed slice index, out of range: the config contradicts the data (exit 64, as for phantoms)
  await assertRejects(
    () => loadRoledCase({ role: "exemplar", spec: specs[2], slice: 9 }, opts),
    RolesConfigError,
  );
  // a labelled role without a label is a data error naming the file
  writeNifti(`${root}/nolabel.nii.gz`, image);
  const e = assertThrows(
    () =>
      bindRoles([{ id: "n", format: "nifti", imagePath: `${root}/nolabel.nii.gz` }], {
        labelled: ["n"],
        unlabelled: [],
        validation: [],
        test: [],
      }),
    DataError,
  );
  assert(/has role labelled but no label/.test(e.message), e.message);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("unlabelled h5 cases never read the label dataset", async () => {
  const root = tempDir("roles-h5");
  const v = {
    data: new Float32Array(24),
    shape: [2, 3, 4] as const,
    spacing: [1, 1, 1] as const,
    affine: [],
  };
  // label values outside the classes: reading it would throw
  await writeHdf5(`${root}/u.h5`, [{ name: "image", volume: v }, {
    name: "label",
    volume: { ...v, data: new Float32Array(24).fill(9) },
  }]);
  const [spec] = await discoverCases(root);
  assertEquals(spec.labelPath, spec.imagePath);
  const [c] = bindRoles([spec], assignRoles([spec.id], {}));
  assertEquals(c.role, "unlabelled");
  const item = await loadRoledCase(c, { classes: 2 });
  assert(!("label" in item));
  await assertRejects(() => loadRoledCase({ role: "labelled", spec }, { classes: 2 }), DataError);
  assertEquals(largestForegroundSlice({ ...v, data: new Uint8Array(24) }), 0);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("pickExemplarSlice: largest, and central = the middle slice showing every class", () => {
  // 9 slices: class 1 on z 1..7 (biggest at z 2), class 2 on z 3..6: every class on z 3..6.
  const [nx, ny, nz] = [6, 5, 9];
  const data = new Uint8Array(nx * ny * nz);
  const paint = (z: number, k: number, n: number) => {
    for (let i = 0, at = z * nx * ny; i < n; i++) if (!data[at + i]) data[at + i] = k;
  };
  for (let z = 1; z <= 7; z++) paint(z, 1, z === 2 ? 25 : 8);
  for (let z = 3; z <= 6; z++) data[z * nx * ny + 29] = 2;
  const label = { data, shape: [nx, ny, nz] as const, spacing: [1, 1, 1] as const, affine: [] };
  assertEquals(pickExemplarSlice(label as never, "largest"), 2);
  assertEquals(pickExemplarSlice(label as never, "central"), 4);
  // No slice shows every class: the middle of those with any foreground.
  data.fill(0);
  paint(2, 1, 4);
  paint(6, 2, 4);
  paint(7, 1, 4);
  assertEquals(pickExemplarSlice(label as never, "central"), 6);
});
