/** refine on the tiny run: fused, confidence-filtered pseudo-labels, one component per class. */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { decodeArrays } from "../../stages/codec.ts";
import { labelComponents } from "../../metrics/components.ts";
import { sha256 } from "../../pipeline/digest.ts";
import { runTiny, stagesThrough } from "./tiny_run.ts";

Deno.test("refine writes a pseudo-label volume per unlabelled case, 255 where unsure, one component per class", async () => {
  const store = makeMemoryStore();
  const { exit } = await runTiny(
    [
      "train.method=supervised",
      "train.steps=200",
      "refine.enabled=true",
      "refine.confidence=0.5",
    ],
    { stages: stagesThrough("refine"), runId: "r", store },
  );
  assert(Exit.isSuccess(exit));
  const keys = (await Effect.runPromise(store.list("runs/r/stages/refine/")))
    .filter((k) => k.includes("/pseudo-"));
  // 6 training phantoms; phantom-000 is the exemplar case, the other 5 are unlabelled.
  assertEquals(keys.length, 5);
  let unsure = 0, labelled = 0;
  for (const key of keys) {
    const { arrays } = decodeArrays((await Effect.runPromise(store.get(key)))!);
    const [nz, h, w] = arrays.label.shape;
    const labels = arrays.label.data as Uint8Array;
    for (const v of labels) {
      assert(v <= 2 || v === 255, `label ${v}`);
      if (v === 255) unsure++;
      else if (v > 0) labelled++;
    }
    for (const c of [1, 2]) {
      const mask = labels.map((v) => (v === c ? 1 : 0));
      assert(labelComponents(mask, [w, h, nz], 26).count <= 1, `${key}: class ${c} split`);
    }
  }
  assert(labelled > 0, "no foreground pseudo-labels");
  assert(unsure > 0 && labelled + unsure < keys.length * 8 * 32 * 32);
});

Deno.test("refine's second round fine-tunes the pair on pseudo-labels, then evaluate and export run on it", async () => {
  const store = makeMemoryStore();
  const { exit } = await runTiny([
    "train.method=supervised",
    "train.steps=40",
    "refine.enabled=true",
    "refine.secondRoundSteps=12",
  ], { runId: "s", store });
  assert(Exit.isSuccess(exit), String(exit));
  const file = async (stage: string, name: string) => {
    const keys = await Effect.runPromise(store.list(`runs/s/stages/${stage}/`));
    const key = keys.find((k) => k.endsWith(`/attempt-1/${name}`))!;
    return (await Effect.runPromise(store.get(key)))!;
  };
  const trained = await file("train", "model-a.safetensors");
  const refined = await file("refine", "model-a.safetensors");
  assert(sha256(trained) !== sha256(refined), "the second round changed nothing");
  const curves = JSON.parse(new TextDecoder().decode(await file("refine", "curves.json")));
  assertEquals(curves.length, 12);
});
