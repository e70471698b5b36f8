/** The memory bank (engine/models/memory_bank.ts): per-class FIFO, written back, checkpointed. */
import { assertEquals } from "../assert.ts";
import { MemoryBank } from "../../engine/models/memory_bank.ts";
import { loadCheckpoint, saveCheckpoint } from "../../engine/checkpoint.ts";
import * as op from "../../engine/ops.ts";
import { sgd } from "../../engine/optim.ts";
import { TrainStep } from "../../engine/train.ts";

Deno.test("memory bank: newest first per class, oldest fall out, restored by a checkpoint", async () => {
  const bank = new MemoryBank({ classes: 2, size: 3, dim: 2 });
  const step = await TrainStep.build({
    models: { bank: { model: bank, trainable: false } },
    inputs: { f: [2, 2, 2], v: [2, 2] },
    optimizer: sgd(),
    session: { threads: 1 },
    loss: (g) => {
      const next = bank.push(g.context("bank"), g.input("f"), g.input("v"));
      return { loss: op.sum(next.features) };
    },
  });
  const features = () => Array.from(bank.store.buffers.view("features"));
  const valid = () => Array.from(bank.store.buffers.view("valid"));
  // Class c's new entries: [c·10 + 1, c·10 + 2] and [c·10 + 3, c·10 + 4] (then + 100).
  const f1 = Float32Array.from([1, 2, 3, 4, 11, 12, 13, 14]);
  await step.run({ f: f1, v: Float32Array.from([1, 1, 1, 0]), lr: 0 });
  assertEquals(features(), [1, 2, 3, 4, 0, 0, 11, 12, 13, 14, 0, 0]);
  assertEquals(valid(), [1, 1, 0, 1, 0, 0]);
  await step.run({ f: f1.map((x) => x + 100), v: Float32Array.from([1, 0, 1, 1]), lr: 0 });
  const afterTwo = [101, 102, 103, 104, 1, 2, 111, 112, 113, 114, 11, 12];
  assertEquals(features(), afterTwo);
  assertEquals(valid(), [1, 0, 1, 1, 1, 1]);
  const saved = saveCheckpoint(step);
  await step.run({ f: f1.map((x) => x + 200), v: Float32Array.from([1, 1, 1, 1]), lr: 0 });
  assertEquals(features()[0], 201);
  loadCheckpoint(step, saved);
  assertEquals(features(), afterTwo);
  assertEquals(valid(), [1, 0, 1, 1, 1, 1]);
  await step.release();
});
