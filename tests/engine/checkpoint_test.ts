import { assert, assertEquals } from "../assert.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  loadModel,
  saveCheckpoint,
  saveModel,
} from "../../engine/checkpoint.ts";
import { crossEntropy, oneHot } from "../../engine/losses.ts";
import { UNet } from "../../engine/models/unet.ts";
import { adam } from "../../engine/optim.ts";
import { TrainStep } from "../../engine/train.ts";
import { Rng } from "../../random/rng.ts";

Deno.test("safetensors layout: u64 header length, JSON header, raw data", () => {
  const bytes = encodeSafetensors({
    a: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    b: { dtype: "U32", shape: [3], data: new Uint32Array([7, 8, 9]) },
  }, { note: "hi" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0, "header padded to 8 bytes");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assertEquals(header.a, { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] });
  assertEquals(header.b.data_offsets, [16, 28]);
  assertEquals(header.__metadata__, { note: "hi" });
  assertEquals(bytes.length, 8 + n + 28);
  const back = decodeSafetensors(bytes);
  assertEquals(Array.from(back.tensors.a.data as Float32Array), [1, 2, 3, 4]);
  assertEquals(Array.from(back.tensors.b.data as Uint32Array), [7, 8, 9]);
});

async function makeStep(seed: number) {
  const model = new UNet({ numClasses: 2, channels: [4, 8], dropout: [0.1, 0.3] }, new Rng(seed));
  const step = await TrainStep.build({
    models: { net: model },
    inputs: { image: [2, 1, 8, 8], label: { shape: [2, 8, 8], dtype: "int32" } },
    optimizer: adam({ weightDecay: 1e-4 }),
    seed: 11,
    session: { threads: 1 },
    loss: (b) => ({
      loss: crossEntropy(b.forward("net", b.input("image")).logits, oneHot(b.input("label"), 2)),
    }),
  });
  return { model, step };
}

function batch(i: number) {
  const rng = new Rng(100 + i);
  const image = new Float32Array(128).map(() => rng.normal());
  const label = new Int32Array(128).map((_, j) => (image[j] > 0 ? 1 : 0));
  return { image, label, lr: 0.01 };
}

Deno.test("resume from checkpoint is bit-identical to never stopping", async () => {
  const straight = await makeStep(1);
  for (let i = 0; i < 4; i++) await straight.step.run(batch(i));

  const first = await makeStep(1);
  for (let i = 0; i < 2; i++) await first.step.run(batch(i));
  const bytes = saveCheckpoint(first.step, { epoch: 3 });
  await first.step.release();

  const resumed = await makeStep(999); // different init: everything must come from the file
  const meta = loadCheckpoint(resumed.step, bytes);
  assertEquals(meta, { epoch: 3 });
  assertEquals(resumed.step.step, 2);
  for (let i = 2; i < 4; i++) await resumed.step.run(batch(i));

  const a = straight.model.store, b = resumed.model.store;
  assert(
    a.params.data.every((v, i) => Object.is(v, b.params.data[i])),
    "weights differ after resume",
  );
  assert(a.buffers.data.every((v, i) => Object.is(v, b.buffers.data[i])), "BN buffers differ");
  const sa = straight.step.optimizerState().get("net")!,
    sb = resumed.step.optimizerState().get("net")!;
  assert(sa[1].every((v, i) => Object.is(v, sb[1][i])), "Adam state differs");
  // And the run really moved: weights are not the initial ones.
  const init = new UNet({ numClasses: 2, channels: [4, 8], dropout: [0.1, 0.3] }, new Rng(1));
  assert(
    a.params.data.some((v, i) => v !== init.store.params.data[i]),
    "training did not change weights",
  );
  await straight.step.release();
  await resumed.step.release();
});

Deno.test("model weights round-trip through saveModel/loadModel with PyTorch names", () => {
  const m = new UNet({ numClasses: 2, channels: [4, 8] }, new Rng(5));
  const bytes = saveModel(m.store, { kind: "unet" });
  const { tensors } = decodeSafetensors(bytes);
  assert("encoder.in_conv.conv_conv.0.weight" in tensors, "SSL4MIS parameter names");
  assert("decoder.up1.conv1x1.weight" in tensors, "bilinear up (SSL4MIS default) name");
  assertEquals(tensors["encoder.in_conv.conv_conv.1.running_var"].shape, [4]);
  const m2 = new UNet({ numClasses: 2, channels: [4, 8] }, new Rng(6));
  assertEquals(loadModel(m2.store, bytes), { kind: "unet" });
  assert(m2.store.params.data.every((v, i) => v === m.store.params.data[i]), "weights differ");
});
