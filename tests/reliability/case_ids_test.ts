/**
 * Case IDs with spaces, non-ASCII letters, '%' or ',' (file names like `c 2.nii.gz`) run
 * through the whole pipeline: artifact names encode them one-to-one (pipeline/artifact_name.ts),
 * summaries and reports keep the IDs as they are.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { caseArtifact, encodeIdForName } from "../../pipeline/artifact_name.ts";
import { writeCase, writeConfig } from "./fixtures.ts";

/** The commit marker of the one unit of `stage` in run "ids". */
function marker(store: string, stage: string) {
  const dir = `${store}/runs/ids/stages/${stage}`;
  const [key] = [...Deno.readDirSync(dir)].map((e) => e.name);
  return JSON.parse(Deno.readTextFileSync(`${dir}/${key}/_SUCCESS.json`));
}

Deno.test("encodeIdForName: plain IDs unchanged, others one-to-one into [A-Za-z0-9._%-]", () => {
  for (const id of ["case_001", "la-12", "patient.3", "ABC"]) assertEquals(encodeIdForName(id), id);
  const ids = ["c 0", "c_0", "c%200", "c%0", "é2", "e\u03012", "c/0", "..", "c,5", "日本"];
  const names = ids.map(encodeIdForName);
  assertEquals(new Set(names).size, ids.length, names.join(" "));
  for (const n of names) assert(/^[A-Za-z0-9._%-]+$/.test(n), n);
  assertEquals(encodeIdForName("c 0"), "c%200");
  assertEquals(encodeIdForName("é2"), "%C3%A92");
  assertEquals(caseArtifact("case", "c%4", ".bin"), "case-c%254.bin");
});

Deno.test("a dataset whose IDs have spaces, accents, '%' and ',' runs to the end (exit 0)", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/ds`);
  const ids = ["c 0", "c1", "é2", "c3", "c%4", "c,5"];
  ids.forEach((id, i) => writeCase(`${dir}/ds`, id, i));
  writeConfig(`${dir}/config.json`, `${dir}/ds`, {
    exemplar: { case: "c 0", slice: "largest" },
    labelled: 1,
    validation: ["é2"],
    test: ["c,5"],
  });
  const res = await cli([
    "run",
    "--config",
    `${dir}/config.json`,
    "--store",
    `${dir}/store`,
    "--run-id",
    "ids",
  ]);
  assertEquals(res.code, 0, res.stderr);
  const ingest = marker(`${dir}/store`, "ingest");
  assertEquals(
    ingest.summary.cases.map((c: { id: string; artifact: string }) => [c.id, c.artifact]).sort(),
    ids.map((id) => [id, caseArtifact("case", id, ".bin")]).sort(),
  );
  const masks = marker(`${dir}/store`, "export").artifacts
    .map((a: { name: string }) => a.name)
    .filter((n: string) => n.startsWith("mask-"));
  assertEquals(masks.sort(), ["mask-%C3%A92.nii.gz", "mask-c%2C5.nii.gz"]);
});
