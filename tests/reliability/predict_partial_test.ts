/**
 * `predict` over many inputs with bad ones among them: every good input's mask is written (also
 * those after a bad one), then exit 65 with one line naming each bad input.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { duetModelBytes, errorLines, hasStackTrace, writeCase } from "./fixtures.ts";

const ids = Array.from({ length: 20 }, (_, i) => `c${String(i).padStart(2, "0")}`);

async function inputs(corrupt: string[]): Promise<string> {
  const dir = await Deno.makeTempDir();
  Deno.writeFileSync(`${dir}/model.onnx`, duetModelBytes());
  ids.forEach((id, i) => writeCase(dir, id, i, { label: false }));
  for (const id of corrupt) {
    const bytes = Deno.readFileSync(`${dir}/${id}.nii.gz`);
    Deno.writeFileSync(`${dir}/${id}.nii.gz`, bytes.subarray(0, bytes.length >> 1));
  }
  return dir;
}

const predict = (dir: string) =>
  cli([
    "predict",
    "--model",
    `${dir}/model.onnx`,
    "--input",
    ...ids.map((id) => `${dir}/${id}.nii.gz`),
    "--out",
    `${dir}/out`,
  ]);

const masks = (dir: string) => [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name).sort();

Deno.test("predict, 20 inputs, the 11th corrupt: the 19 others written, exit 65 naming it", async () => {
  const dir = await inputs(["c10"]);
  const res = await predict(dir);
  assertEquals(res.code, 65, res.stderr);
  assertEquals(masks(dir), ids.filter((id) => id !== "c10").map((id) => `${id}.nii.gz`));
  const lines = errorLines(res.stderr);
  assertEquals(lines.length, 1, res.stderr);
  assert(lines[0].includes(`${dir}/c10.nii.gz`), lines[0]);
  assert(res.stderr.includes("[11/20] c10: skipped"), res.stderr);
  assert(res.stderr.includes("[20/20] c19"), res.stderr);
  assert(!hasStackTrace(res.stderr), res.stderr);
});

Deno.test("predict with two corrupt inputs: one error line naming both, the others written", async () => {
  const dir = await inputs(["c03", "c15"]);
  const res = await predict(dir);
  assertEquals(res.code, 65, res.stderr);
  assertEquals(masks(dir).length, 18);
  const lines = errorLines(res.stderr);
  assertEquals(lines.length, 1, res.stderr);
  for (const needle of ["2 of 20 inputs", `${dir}/c03.nii.gz`, `${dir}/c15.nii.gz`, "18 masks"]) {
    assert(lines[0].includes(needle), `${needle} not in ${lines[0]}`);
  }
});
