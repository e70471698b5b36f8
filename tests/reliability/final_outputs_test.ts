/**
 * A damaged final output is never "done": with one bit flipped in the committed model.onnx,
 * `status`, `run` and `resume` exit 65 naming it, and `predict` refuses the model (its graph no
 * longer matches the duet.graph_sha256 recorded at export) instead of writing masks.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { readOnnxHeader } from "../../engine/onnx/proto_reader.ts";
import { duetModelBytes, errorLines, writeCase } from "./fixtures.ts";

/** Flips one bit in the middle of the graph (the weights), keeping the protobuf readable. */
function flipWeightBit(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const graph = readOnnxHeader(out).graph;
  out[graph.byteOffset + (graph.length >> 1)] ^= 1;
  readOnnxHeader(out); // still a well-formed ModelProto: only the digest can tell
  return out;
}

const RUN = ["--config", "tests/pipeline/tiny.json", "--set", "train.steps=2", "--run-id", "f"];

Deno.test("a bit flip in the committed model.onnx: status, run and resume exit 65 naming it", async () => {
  const store = await Deno.makeTempDir();
  const first = await cli(["run", "--store", store, ...RUN]);
  assertEquals(first.code, 0, first.stderr);
  const exportDir = `${store}/runs/f/stages/export`;
  const [key] = [...Deno.readDirSync(exportDir)].map((e) => e.name);
  const model = `${exportDir}/${key}/attempt-1/model.onnx`;
  Deno.writeFileSync(model, flipWeightBit(Deno.readFileSync(model)));

  const status = await cli(["status", "--store", store, "--run-id", "f"]);
  assertEquals(status.code, 65, status.stdout + status.stderr);
  assert(/export\s+corrupted/.test(status.stdout), status.stdout);
  assert(status.stdout.includes("model.onnx"), status.stdout);
  assert(/ingest\s+committed/.test(status.stdout), status.stdout);
  const json = await cli(["status", "--store", store, "--run-id", "f", "--json"]);
  assertEquals(json.code, 65, json.stderr);
  const rows = JSON.parse(json.stdout).stages as { stage: string; state: string }[];
  assertEquals(rows.find((r) => r.stage === "export")?.state, "corrupted");

  for (
    const args of [["resume", "--store", store, "--run-id", "f"], ["run", "--store", store, ...RUN]]
  ) {
    const res = await cli(args);
    assertEquals(res.code, 65, `${args[0]}: ${res.stderr}`);
    const [line] = errorLines(res.stderr);
    assert(line.includes(model) && line.includes("sha256"), `${args[0]}: ${res.stderr}`);
  }
});

Deno.test("predict refuses a model whose weights no longer match its recorded digest (exit 65)", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = duetModelBytes();
  assert(readOnnxHeader(bytes).metadata["duet.graph_sha256"]?.length === 64, "digest recorded");
  Deno.writeFileSync(`${dir}/model.onnx`, flipWeightBit(bytes));
  writeCase(dir, "c0", 0, { label: false });
  const args = ["--input", `${dir}/c0.nii.gz`, "--out", `${dir}/out`];
  const res = await cli(["predict", "--model", `${dir}/model.onnx`, ...args]);
  assertEquals(res.code, 65, res.stderr);
  const [line] = errorLines(res.stderr);
  assert(line.includes(`${dir}/model.onnx`) && line.includes("damaged"), res.stderr);
  assertEquals([...Deno.readDirSync(dir)].some((e) => e.name === "out"), false, "nothing written");
  // The intact model predicts.
  Deno.writeFileSync(`${dir}/model.onnx`, bytes);
  const ok = await cli(["predict", "--model", `${dir}/model.onnx`, ...args]);
  assertEquals(ok.code, 0, ok.stderr);
});
