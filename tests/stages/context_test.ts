/**
 * 2.5D models (train.model.context) through the pipeline on the tiny phantoms: every training
 * image is its slice between its neighbours (exemplar, synthetic samples, streamed unlabelled
 * slices), the pair trains on three channels, refine pseudo-labels and trains it again, and the
 * exported ONNX takes the stacks and records them (parity with the engine < 1e-5).
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { failureOf, resolveStage } from "../../pipeline/runner.ts";
import { exitCodeOf } from "../../pipeline/errors.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { decodeModel } from "../../deploy/weights.ts";
import { parseDuetModel } from "../../deploy/onnx_model.ts";
import { loadPool } from "../../training/pool.ts";
import type { ExportOutput } from "../../schemas/outputs.ts";
import { loadCase, normalizedCases } from "../../training/cases.ts";
import { runTiny, stageFiles, stagesThrough, TINY } from "./tiny_run.ts";
import { loadConfig } from "../../pipeline/config.ts";

Deno.test("2.5D pool: each image is its slice between its neighbours, the ends repeated", async () => {
  const { env, exit } = await runTiny(["train.model.context=1"], {
    stages: stagesThrough("synthesize"),
  });
  assert(Exit.isSuccess(exit), String(exit));
  const [flat, stacked, firstCase] = await Effect.runPromise(Effect.gen(function* () {
    const norm = (yield* resolveStage(env, "normalize"))!;
    const synth = (yield* resolveStage(env, "synthesize"))!;
    const info = normalizedCases(norm).find((c) => c.role === "unlabelled")!;
    return [
      yield* loadPool(norm, undefined),
      yield* loadPool(norm, synth, undefined, 1),
      { info, image: (yield* loadCase(norm, info)).image },
    ] as const;
  }));
  const plane = flat.width * flat.height;
  assertEquals(stacked.context, 1);
  assertEquals(stacked.labelled[0].image.length, 3 * plane);
  assertEquals([...stacked.labelled[0].image.subarray(plane, 2 * plane)], [
    ...flat.labelled[0].image,
  ]);
  assert(stacked.synthetic.length > 0);
  assert(stacked.synthetic.every((s) => s.image.length === 3 * plane));
  // Slices 0, 1 and the last of one unlabelled case, against its normalized volume.
  const c = stacked.caseIds.indexOf(firstCase.info.id), n = firstCase.info.slices;
  const planeOf = (z: number) => [...firstCase.image.subarray(z * plane, (z + 1) * plane)];
  for (const [z, want] of [[0, [0, 0, 1]], [1, [0, 1, 2]], [n - 1, [n - 2, n - 1, n - 1]]]) {
    const got = await Effect.runPromise(stacked.unlabelledSlice({ c, z: z as number }));
    (want as number[]).forEach((zz, k) =>
      assertEquals([...got.subarray(k * plane, (k + 1) * plane)], planeOf(zz), `z ${z} plane ${k}`)
    );
  }
});

Deno.test("2.5D fixmatch + synthetic samples: trains on stacks, refines, evaluates mirrored, exports both (parity < 1e-5)", async () => {
  const store = makeMemoryStore();
  const { env, exit } = await runTiny([
    "train.model.context=1",
    "train.method=fixmatch",
    "train.synthetic=always",
    "train.steps=4",
    "refine.enabled=true",
    "refine.secondRoundSteps=2",
    "refine.onlyIfBetter=false",
    "evaluate.baseline=false",
    "evaluate.mirror=true",
  ], { store });
  assert(Exit.isSuccess(exit), String(exit));
  for (const stage of ["train", "refine"]) {
    const { model, inference } = decodeModel(
      (await stageFiles(store, stage))["model-a.safetensors"],
    );
    assertEquals(model.inChannels, 3, stage);
    assertEquals(inference, { kind: "slices", context: 1 }, stage);
  }
  const out = (await Effect.runPromise(resolveStage(env, "export")))!.summaries[0] as ExportOutput;
  assert(out.parity.maxAbsDiff < 1e-5 && out.parity.slices > 0, JSON.stringify(out.parity));
  const exported = await stageFiles(store, "export");
  const model = parseDuetModel("model.onnx", exported["model.onnx"]);
  // Evaluate mirrored each slice, so the exported model records it and predict does the same.
  assertEquals(model.inference, { kind: "slices", context: 1, mirror: true });
  assertEquals(model.header.inputs.find((i) => i.name === "image")!.shape[1], 3);
  assertEquals(out.masks.length, 2);
});

Deno.test("2.5D needs every slice of the volumes kept (exit 64, naming normalize.slices)", async () => {
  const sets = ["train.model.context=1", "normalize.slices=foreground"];
  const exit = await Effect.runPromiseExit(loadConfig(TINY, sets));
  assert(Exit.isFailure(exit));
  const failure = failureOf(exit.cause) as { problems: string[] };
  assertEquals(exitCodeOf(failure), 64);
  assert(failure.problems.some((p) => p.startsWith("normalize.slices")), failure.problems.join());
});
