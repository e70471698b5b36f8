/**
 * The train stage through the runner on the tiny phantom config: every method trains and writes
 * both model artifacts and validation curves; the same seed gives the same models; a method that
 * needs unlabelled slices refuses a pool without them; precise BatchNorm changes only the saved
 * statistics.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { failureOf, resolveStage } from "../../pipeline/runner.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { exitCodeOf } from "../../pipeline/errors.ts";
import { sha256 } from "../../pipeline/digest.ts";
import { Methods } from "../../schemas/config.ts";
import { decodeModel } from "../../deploy/weights.ts";
import { loadPool } from "../../training/pool.ts";
import { methodOf, methods } from "../../training/methods.ts";
import { runTiny, stageFiles, stagesThrough } from "./tiny_run.ts";

/** Trains 4 steps on the tiny config; returns the train stage's files by name. */
async function train(sets: string[]) {
  const store = makeMemoryStore();
  const { exit } = await runTiny(["train.steps=4", ...sets], {
    stages: stagesThrough("train"),
    store,
  });
  return { exit, files: Exit.isSuccess(exit) ? await stageFiles(store, "train") : {} };
}

for (const method of Methods) {
  Deno.test(`train ${method}: both models written, curves validated, losses finite`, async () => {
    const { exit, files } = await train([`train.method=${method}`, "train.validateEvery=2"]);
    assert(Exit.isSuccess(exit), String(exit));
    for (const name of ["model-a.safetensors", "model-b.safetensors", "best-a.safetensors"]) {
      const { model } = decodeModel(files[name]);
      assertEquals(model.numClasses, 3);
    }
    const curves = JSON.parse(new TextDecoder().decode(files["curves.json"]));
    assertEquals(curves.length, 4);
    assert(curves.every((c: { loss: number }) => Number.isFinite(c.loss)));
    assertEquals(curves.filter((c: { dice?: number[] }) => c.dice).length, 2);
  });
}

Deno.test("train is deterministic by seed: same seed same weights, other seed other weights", async () => {
  const digest = async (sets: string[]) => {
    const { files } = await train(["train.method=cmems", ...sets]);
    return sha256(files["model-a.safetensors"]);
  };
  const [one, two, other] = [await digest([]), await digest([]), await digest(["seed=2"])];
  assertEquals(one, two);
  assert(one !== other);
});

Deno.test("a mutual-learning method without unlabelled slices is a config error (64)", async () => {
  const { exit } = await train(["train.method=cps", "train.batch.unlabelled=0"]);
  assert(Exit.isFailure(exit));
  const failure = failureOf(exit.cause);
  assertEquals(exitCodeOf(failure), 64);
  assert(String((failure as { problems: string[] }).problems).includes("train.method=supervised"));
});

Deno.test("unlabelled slices stream through a bounded cache: same slices with a 1-byte budget", async () => {
  const { env } = await runTiny([], { stages: stagesThrough("synthesize") });
  const pools = await Effect.runPromise(Effect.gen(function* () {
    const norm = (yield* resolveStage(env, "normalize"))!;
    const synth = (yield* resolveStage(env, "synthesize"))!;
    return [yield* loadPool(norm, synth), yield* loadPool(norm, synth, 1)];
  }));
  const [big, tinyCache] = pools;
  assertEquals(big.unlabelled.length, 6 * 8 - 1); // 6 training cases x 8 slices, minus the exemplar slice
  assertEquals(big.labelled.length, 1);
  for (const ref of [...big.unlabelled].reverse()) {
    const a = await Effect.runPromise(big.unlabelledSlice(ref));
    const b = await Effect.runPromise(tinyCache.unlabelledSlice(ref));
    assertEquals([...a], [...b]);
  }
});

Deno.test("precise BatchNorm: same training, only the saved models' statistics differ", async () => {
  const sets = ["train.method=cmems", "train.validateEvery=2"];
  const [precise, running] = [await train(sets), await train([...sets, "train.preciseBn=0"])];
  const curves = (r: typeof precise): { loss: number }[] =>
    JSON.parse(new TextDecoder().decode(r.files["curves.json"]));
  assertEquals(curves(precise).map((c) => c.loss), curves(running).map((c) => c.loss));
  for (const name of ["model-a.safetensors", "model-b.safetensors"]) {
    const [p, r] = [precise, running].map((x) => decodeModel(x.files[name]).model.store);
    assertEquals(p.params.data, r.params.data, `${name}: weights`);
    // Recomputed: every running mean moved off training's EMA, and variances stay positive.
    const moved = p.buffers.data.filter((v, i) => Math.abs(v - r.buffers.data[i]) > 1e-6);
    assert(moved.length > 0.9 * p.buffers.data.length, `${name}: ${moved.length} statistics moved`);
    for (const info of p.buffers.list().filter((i) => i.name.endsWith("running_var"))) {
      assert(p.buffers.view(info.name).every((v) => v > 0), info.name);
    }
  }
});

for (const method of ["supervised", "cmems"]) {
  Deno.test(`train ${method} + prototype contrast: logged, finite, saved models stay plain U-Nets`, async () => {
    const sets = [`train.method=${method}`, "train.prototypeContrast.weight=0.1"];
    const { exit, files } = await train(sets);
    assert(Exit.isSuccess(exit), String(exit));
    const curves: { loss: number; logs: Record<string, number> }[] = JSON.parse(
      new TextDecoder().decode(files["curves.json"]),
    );
    // Two models, each a cross-entropy over 3 classes with τ = 0.1: positive, below 2·ln(3)+slack.
    assert(curves.every((c) => c.logs.ppc > 0 && c.logs.ppc < 5), JSON.stringify(curves[0].logs));
    const plain = await train([`train.method=${method}`]);
    const off = JSON.parse(new TextDecoder().decode(plain.files["curves.json"]));
    assert(!("ppc" in off[0].logs), "off by default");
    for (const name of ["model-a.safetensors", "model-b.safetensors"]) {
      const [on, without] = [files, plain.files].map((f) => decodeModel(f[name]).model.store);
      assertEquals(on.params.data.length, without.params.data.length, "no head in the model");
      assert(on.params.data.some((v, i) => v !== without.params.data[i]), "the contrast trains");
    }
  });
}

Deno.test("train caml + CMA + OCC: the bank fills, OCC is logged, saved models stay plain U-Nets", async () => {
  const sets = ["train.method=caml", "train.caml.cma=true", "train.caml.occ.weight=0.05"];
  const { exit, files } = await train([...sets, "train.validateEvery=2"]);
  assert(Exit.isSuccess(exit), String(exit));
  const curves: { loss: number; logs: Record<string, number> }[] = JSON.parse(
    new TextDecoder().decode(files["curves.json"]),
  );
  assert(curves.every((c) => Number.isFinite(c.logs.occ) && c.logs.occ >= 0), "occ logged");
  // The bank holds entries from step 1 on, so the correlation loss is active (log(2·256) ≈ 6.2
  // for uniform correlations with 2 classes present).
  assert(curves.some((c) => c.logs.occ > 0.1), JSON.stringify(curves.map((c) => c.logs.occ)));
  const plain = await train(["train.method=caml"]);
  for (const name of ["model-a.safetensors", "model-b.safetensors"]) {
    const [on, off] = [files, plain.files].map((f) => decodeModel(f[name]).model.store);
    assertEquals(on.params.data.length, off.params.data.length, `${name}: no CMA/OCC weights`);
    assert(on.params.data.some((v, i) => v !== off.params.data[i]), `${name}: modules train`);
  }
});

Deno.test("every method's spec carries the name train.method gives it", () => {
  for (const [name, spec] of Object.entries(methods)) assertEquals(spec.name, name);
});

Deno.test("train.synthetic: any method can mix in the synthetic samples, or leave them out", async () => {
  assertEquals(methodOf({ method: "fixmatch", synthetic: "method" }).synthetic, false);
  assertEquals(methodOf({ method: "fixmatch", synthetic: "always" }).synthetic, true);
  assertEquals(methodOf({ method: "cmems", synthetic: "never" }).synthetic, false);
  const digest = async (sets: string[]) =>
    sha256((await train(["train.method=supervised", ...sets])).files["model-a.safetensors"]);
  const plain = await digest([]);
  assertEquals(await digest(["train.synthetic=never"]), plain);
  assert(await digest(["train.synthetic=always"]) !== plain, "synthetic samples change training");
});
