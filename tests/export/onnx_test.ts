/**
 * Duet's ONNX export: parity with the training engine's live-weight Predictor, onnx.checker
 * (Debian's python3-onnx, full_check), metadata read back by readDuetModel, and clear errors for
 * ONNX files that are not Duet exports.
 */
import { assert, assertEquals } from "../assert.ts";
import { UNet } from "../../engine/models/unet.ts";
import { exportOnnx, Predictor } from "../../engine/predict.ts";
import { ort, Session } from "../../engine/session.ts";
import { DataError } from "../../io/errors.ts";
import type { NormalizeRecipe } from "../../preprocess/normalize.ts";
import { Rng } from "../../random/rng.ts";
import {
  DUET_FORMAT,
  exportSegmentation,
  parseDuetModel,
  readDuetModel,
} from "../../deploy/onnx_model.ts";
import { duetVersion } from "../../pipeline/version.ts";
import { python, tempDir } from "../io/python.ts";

const RECIPE: NormalizeRecipe = {
  intensity: { kind: "percentile", lower: 0.5, upper: 99.5 },
  crop: { by: "body", margin: 4, axes: "xy", atPredict: "body" },
  size: [24, 16],
};

function trainedLike(seed: number): UNet {
  const model = new UNet({ numClasses: 3, channels: [4, 8, 16] }, new Rng(seed));
  // Non-trivial running statistics and weights, as after training.
  const rng = new Rng(seed + 1);
  model.store.buffers.data.forEach((_, i, a) => (a[i] = 0.4 + rng.next()));
  model.store.params.data.forEach((v, i, a) => (a[i] = v + 0.05 * rng.normal()));
  return model;
}

const INFO = {
  classes: ["background", "left atrium", "scar"],
  inputSize: [24, 16] as [number, number],
  normalize: RECIPE,
  configDigest: "abc123",
};

Deno.test("exportSegmentation: probabilities equal the engine Predictor's (max abs diff < 1e-5)", async () => {
  const model = trainedLike(3);
  const bytes = exportSegmentation(model, INFO);
  const session = await Session.create(bytes, { threads: 1 });
  const predictor = await Predictor.create(model, { spatial: [16, 24], session: { threads: 1 } });
  const rng = new Rng(9);
  let worst = 0;
  for (const n of [1, 5]) {
    const x = new Float32Array(n * 16 * 24).map(() => rng.normal());
    const a = await session.run({ image: new ort.Tensor("float32", x, [n, 1, 16, 24]) });
    assertEquals(a.probs.dims, [n, 3, 16, 24]);
    const p = a.probs.data as Float32Array;
    const q = (await predictor.run(x, n)).probs;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
  }
  assert(worst < 1e-5, `max abs diff ${worst}`);
  await session.release();
  await predictor.release();
});

Deno.test("exportSegmentation: passes onnx.checker full_check, opset 17, dynamic batch, metadata", async () => {
  const dir = tempDir("export-onnx");
  try {
    await Deno.writeFile(`${dir}/model.onnx`, exportSegmentation(trainedLike(4), INFO));
    const out = await python(
      `
import json, sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1] + "/model.onnx")
onnx.checker.check_model(m, full_check=True)
dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
print(json.dumps({"opset": m.opset_import[0].version, "input": [m.graph.input[0].name] + dims,
                  "outputs": [o.name for o in m.graph.output],
                  "meta": {p.key: p.value for p in m.metadata_props}}))
# A valid ONNX model that is not a Duet export, for the reader test below.
n = helper.make_node("Relu", ["x"], ["y"])
g = helper.make_graph([n], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
onnx.save(helper.make_model(g, producer_name="someone-else"), sys.argv[1] + "/other.onnx")
`,
      [dir],
    );
    const r = JSON.parse(out);
    assertEquals(r.opset, 17);
    assertEquals(r.input, ["image", "batch", 1, 16, 24]);
    assertEquals(r.outputs, ["probs"]);
    assertEquals(r.meta["duet.format"], DUET_FORMAT);
    assertEquals(r.meta["duet.version"], duetVersion);
    assertEquals(JSON.parse(r.meta["duet.classes"]), INFO.classes);
    assertEquals(JSON.parse(r.meta["duet.input_size"]), [24, 16]);
    assertEquals(JSON.parse(r.meta["duet.normalize"]), RECIPE);
    assertEquals(r.meta["duet.config_digest"], "abc123");
    assertEquals(JSON.parse(r.meta["duet.model"]).kind, "unet2d");

    const model = readDuetModel(`${dir}/model.onnx`);
    assertEquals(model.classes, INFO.classes);
    assertEquals(model.inputSize, [24, 16]);
    assertEquals(model.normalize, RECIPE);
    assertEquals(model.configDigest, "abc123");
    assertEquals(model.opset, 17);
    assertEquals(model.network.numClasses, 3);

    const expectError = (f: () => unknown, pattern: RegExp) => {
      try {
        f();
      } catch (e) {
        assert(e instanceof DataError, `expected a DataError, got ${e}`);
        assert(pattern.test(e.message), e.message);
        assert(!e.message.includes("\n"), "one line");
        return;
      }
      throw new Error("no error");
    };
    expectError(
      () => readDuetModel(`${dir}/other.onnx`),
      /other\.onnx: an ONNX model \(producer "someone-else"\) but not a Duet segmentation export/,
    );
    // The engine's plain export (no Duet metadata) is not a Duet model either.
    const plain = exportOnnx(trainedLike(5), { spatial: [16, 24] });
    expectError(() => parseDuetModel("plain.onnx", plain), /not a Duet segmentation export/);
    expectError(
      () => parseDuetModel("x.onnx", new TextEncoder().encode("hello, I am not a model")),
      /x\.onnx: not an ONNX model/,
    );
    expectError(() => readDuetModel(`${dir}/missing.onnx`), /file not found/);
    // Metadata that contradicts the graph.
    const lying = exportSegmentation(trainedLike(6), {
      ...INFO,
      extra: {},
    });
    const patched = new Uint8Array(lying);
    const at = findBytes(patched, new TextEncoder().encode("[24,16]"));
    patched.set(new TextEncoder().encode("[16,24]"), at);
    expectError(() => parseDuetModel("lying.onnx", patched), /does not match its metadata/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exportSegmentation refuses an opset it cannot write and mismatched class names", () => {
  let message = "";
  try {
    exportSegmentation(trainedLike(7), { ...INFO, opset: 18 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("opset 17"), message);
  try {
    exportSegmentation(trainedLike(7), { ...INFO, classes: ["bg", "fg"] });
    message = "";
  } catch (e) {
    message = (e as Error).message;
  }
  assert(message.includes("2 class names for a model with 3 outputs"), message);
});

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("not found");
}
