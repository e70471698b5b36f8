/**
 * The baseline stage on the tiny phantom config: beside a mutual-learning method it trains
 * exactly the pair a `train.method=supervised` run of the same config trains (same bytes), and
 * it trains nothing when the method is `supervised` itself or `evaluate.baseline` is off.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { failureOf, resolveStage } from "../../pipeline/runner.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import type { BaselineOutput } from "../../schemas/outputs.ts";
import { runTiny, stageFiles, stagesThrough } from "./tiny_run.ts";

async function run(sets: string[]) {
  const store = makeMemoryStore();
  const { env, exit } = await runTiny(["train.steps=6", "train.validateEvery=3", ...sets], {
    stages: stagesThrough("baseline"),
    store,
  });
  if (Exit.isFailure(exit)) throw failureOf(exit.cause);
  const summary = (await Effect.runPromise(resolveStage(env, "baseline")))!
    .summaries[0] as BaselineOutput;
  return {
    summary,
    train: await stageFiles(store, "train"),
    baseline: stageFiles(store, "baseline"),
  };
}

Deno.test("baseline beside cmems = the models of a supervised run with the same seed", async () => {
  const cmems = await run(["train.method=cmems"]);
  const supervised = await run(["train.method=supervised"]);
  assertEquals(cmems.summary.enabled, true);
  assertEquals(cmems.summary.train?.method, "supervised");
  assertEquals(cmems.summary.train?.validationDice.length, 2);
  const baseline = await cmems.baseline;
  for (const name of ["model-a.safetensors", "model-b.safetensors", "curves.json"]) {
    assertEquals(baseline[name], supervised.train[name], name);
  }
  assert(
    baseline["model-a.safetensors"].some((v, i) => v !== cmems.train["model-a.safetensors"][i]),
    "the baseline equals the cmems model: weak test",
  );
});

Deno.test("baseline trains nothing for method supervised or evaluate.baseline=false", async () => {
  for (const sets of [["train.method=supervised"], ["evaluate.baseline=false"]]) {
    const { summary, baseline } = await run(sets);
    assertEquals(summary, { enabled: false }, sets.join(" "));
    assertEquals(Object.keys(await baseline).filter((n) => n.endsWith(".safetensors")), []);
  }
});
