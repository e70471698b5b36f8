/**
 * Datasets made of symbolic links (DataLad, git-annex, DVC) are read like plain folders: every
 * linked case is found (a linked exemplar too), a linked DICOM series has all its slices, and a
 * link to content that is not there is exit 65 naming it, never a silently smaller dataset.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { discoverCases } from "../../io/dataset.ts";
import { listDicomFiles, readDicomSeries } from "../../io/dicom.ts";
import { DataError } from "../../io/errors.ts";
import { encodeDicomSlice } from "../io/dicom_writer.ts";
import { errorLines, writeCase, writeConfig } from "./fixtures.ts";

/** `ds/` holds c0..c3 as files and c4, c5 as links into `annex/`, the way git-annex lays it out. */
async function annexLikeDataset(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/ds`);
  await Deno.mkdir(`${dir}/annex`);
  for (let i = 0; i < 6; i++) writeCase(i < 4 ? `${dir}/ds` : `${dir}/annex`, `c${i}`, i);
  for (const name of ["c4.nii.gz", "c4_label.nii.gz", "c5.nii.gz", "c5_label.nii.gz"]) {
    await Deno.symlink(`../annex/${name}`, `${dir}/ds/${name}`);
  }
  return dir;
}

Deno.test("symlinked cases are found, a symlinked exemplar too, and ingest reads them all", async () => {
  const dir = await annexLikeDataset();
  const specs = await discoverCases(`${dir}/ds`);
  assertEquals(specs.map((s) => [s.id, s.labelPath !== undefined]), [
    ["c0", true],
    ["c1", true],
    ["c2", true],
    ["c3", true],
    ["c4", true],
    ["c5", true],
  ]);
  writeConfig(`${dir}/config.json`, `${dir}/ds`, {
    exemplar: { case: "c5", slice: "largest" },
    labelled: 1,
    validation: ["c4"],
  });
  const args = ["--store", `${dir}/store`, "--run-id", "s"];
  const manifest = await cli([
    "run",
    ...args,
    "--config",
    `${dir}/config.json`,
    "--from",
    "augment",
  ]);
  assertEquals(manifest.code, 64, manifest.stderr);
  const ingest = await cli(["stage", "ingest", ...args, "--log-format", "plain"]);
  assertEquals(ingest.code, 0, ingest.stderr);
  assert(ingest.stderr.includes("ingest 6/6"), ingest.stderr);
});

Deno.test("a DICOM series of symlinked slices has all its slices", async () => {
  const [dir, annex] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  await Deno.mkdir(`${dir}/series`);
  for (let z = 0; z < 3; z++) {
    const pixels = new Int16Array(8 * 6).fill(10 * z);
    Deno.writeFileSync(
      `${annex}/im${z}.dcm`,
      encodeDicomSlice({ rows: 6, columns: 8, pixels, position: [0, 0, 2 * z], instance: z + 1 }),
    );
    await Deno.symlink(`${annex}/im${z}.dcm`, `${dir}/series/im${z}.dcm`);
  }
  assertEquals(listDicomFiles(`${dir}/series`).length, 3);
  assertEquals(readDicomSeries(`${dir}/series`).shape, [8, 6, 3]);
  // A linked series folder is a case too.
  await Deno.symlink(annex, `${dir}/linked`);
  const specs = await discoverCases(dir);
  assertEquals(specs.map((s) => [s.id, s.format]), [["linked", "dicom"], ["series", "dicom"]]);
});

Deno.test("a link to content that is not there (not fetched) is exit 65 naming it", async () => {
  const dir = await annexLikeDataset();
  await Deno.remove(`${dir}/annex/c5.nii.gz`);
  let error: unknown;
  try {
    await discoverCases(`${dir}/ds`);
  } catch (e) {
    error = e;
  }
  assert(error instanceof DataError, String(error));
  assert(error.message.includes(`${dir}/ds/c5.nii.gz`), error.message);
  assert(error.message.includes("datalad get"), error.message);
  writeConfig(`${dir}/config.json`, `${dir}/ds`, { labelled: 2, validation: ["c4"] });
  const res = await cli(["run", "--config", `${dir}/config.json`, "--store", `${dir}/store`]);
  assertEquals(res.code, 65, res.stderr);
  assertEquals(errorLines(res.stderr).length, 1, res.stderr);
});
