/**
 * `metrics` refuses two NIfTI maps that are not of the same place (affine or spacing apart, as
 * ingest refuses such a label), and flags the classes where the empty-mask convention gave
 * the scores (`"empty": true` in --json, a note in the table).
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { encodeNifti } from "../../io/nifti.ts";
import { caseVolumes, errorLines } from "./fixtures.ts";

Deno.test("metrics: the same masks 5 mm apart are exit 65 naming the prediction, not Dice 1", async () => {
  const dir = await Deno.makeTempDir();
  const { label } = caseVolumes(0);
  Deno.writeFileSync(`${dir}/label.nii.gz`, encodeNifti(label));
  Deno.writeFileSync(`${dir}/same.nii.gz`, encodeNifti(label));
  Deno.writeFileSync(`${dir}/moved.nii.gz`, encodeNifti(caseVolumes(0, 5).label));
  const same = await cli([
    "metrics",
    "--pred",
    `${dir}/same.nii.gz`,
    "--label",
    `${dir}/label.nii.gz`,
    "--json",
  ]);
  assertEquals(same.code, 0, same.stderr);
  assertEquals(JSON.parse(same.stdout).classes["1"].dice, 1);
  const moved = await cli([
    "metrics",
    "--pred",
    `${dir}/moved.nii.gz`,
    "--label",
    `${dir}/label.nii.gz`,
  ]);
  assertEquals(moved.code, 65, moved.stdout + moved.stderr);
  const [line] = errorLines(moved.stderr);
  assert(
    line.startsWith(`error: bad input ${dir}/moved.nii.gz: prediction geometry differs`),
    line,
  );
  assert(line.includes(`${dir}/label.nii.gz`) && line.includes("affine[0][3]"), line);
  assertEquals(moved.stdout, "");
});

Deno.test("metrics --json flags an empty prediction per class; the table says so", async () => {
  const dir = await Deno.makeTempDir();
  const { label } = caseVolumes(1);
  // Class 2 only in the label, and nowhere in the prediction.
  const withTwo = label.data.slice();
  withTwo[0] = 2;
  Deno.writeFileSync(`${dir}/label.nii.gz`, encodeNifti({ ...label, data: withTwo }));
  Deno.writeFileSync(`${dir}/pred.nii.gz`, encodeNifti(label));
  const args = ["metrics", "--pred", `${dir}/pred.nii.gz`, "--label", `${dir}/label.nii.gz`];
  const json = await cli([...args, "--json"]);
  assertEquals(json.code, 0, json.stderr);
  const classes = JSON.parse(json.stdout).classes;
  assertEquals(classes["2"].empty, true);
  assertEquals(classes["2"].emptyIn, "pred");
  assertEquals(classes["2"].hd95, 0);
  assertEquals("empty" in classes["1"], false, "class 1 was measured");
  const table = await cli(args);
  assert(/^2 .*\(prediction empty/m.test(table.stdout), table.stdout);
});
