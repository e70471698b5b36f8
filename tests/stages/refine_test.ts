/** refine on the tiny run: fused, confidence-filtered pseudo-labels, one component per class. */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { decodeModel } from "../../deploy/weights.ts";
import { decodeSafetensors } from "../../engine/checkpoint.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { labelComponents } from "../../metrics/components.ts";
import { sha256 } from "../../pipeline/digest.ts";
import { runTiny, stagesThrough } from "./tiny_run.ts";
import { resolveStage } from "../../pipeline/runner.ts";
import { stages as registry } from "../../stages/registry.ts";
import type { AnyStage } from "../../pipeline/stage.ts";
import { Rng } from "../../random/rng.ts";
import { fillSoftTargets } from "../../training/soft_targets.ts";
import { RandomWeak } from "../../transforms/geometric.ts";
import { image2d, label2d } from "../../transforms/image2d.ts";
import type { PairParams } from "../../transforms/views.ts";

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

/** A tiny run whose refine trains a 12-step second round (with `sets`); reads its files. */
async function secondRound(
  sets: readonly string[],
  stages: readonly AnyStage[] = stagesThrough("refine"),
) {
  const store = makeMemoryStore();
  const { env, exit } = await runTiny([
    "train.method=supervised",
    "train.steps=40",
    "refine.enabled=true",
    "refine.secondRoundSteps=12",
    "refine.onlyIfBetter=false",
    ...sets,
  ], { stages, runId: "s", store });
  assert(Exit.isSuccess(exit), String(exit));
  const summary = (await Effect.runPromise(resolveStage(env, "refine")))!.summaries[0];
  const file = async (stage: string, name: string) => {
    const keys = await Effect.runPromise(store.list(`runs/s/stages/${stage}/`));
    return (await Effect.runPromise(
      store.get(keys.find((k) => k.endsWith(`/attempt-1/${name}`))!),
    ))!;
  };
  const curves = JSON.parse(new TextDecoder().decode(await file("refine", "curves.json")));
  return { file, model: await file("refine", "model-a.safetensors"), curves, summary };
}

Deno.test("refine's second round fine-tunes the pair on pseudo-labels, then evaluate and export run on it", async () => {
  const { file, model: refined, curves } = await secondRound([], registry);
  const trained = await file("train", "model-a.safetensors");
  assert(sha256(trained) !== sha256(refined), "the second round changed nothing");
  // Each round's models carry the method that trained them.
  assertEquals(decodeModel(trained).meta.method, "supervised");
  assertEquals(decodeModel(refined).meta.method, "relearn");
  assertEquals(curves.length, 12);
  assert((await file("export", "model.onnx")).length > 0);
});

Deno.test("refine.secondRoundLr sets the second round's step size", async () => {
  // Largest weight change of the second round, trained at the given rate (null: train's 3e-3).
  const change = async (lr: string) => {
    const { file, model } = await secondRound([`refine.secondRoundLr=${lr}`]);
    const before = decodeSafetensors(await file("train", "model-a.safetensors")).tensors;
    const after = decodeSafetensors(model).tensors;
    let most = 0;
    for (const [name, t] of Object.entries(before)) {
      if (!name.endsWith(".weight")) continue; // BatchNorm statistics move at any rate
      const a = after[name].data as Float32Array, b = t.data as Float32Array;
      for (let i = 0; i < b.length; i++) most = Math.max(most, Math.abs(a[i] - b[i]));
    }
    return most;
  };
  const [tiny, full] = [await change("1e-7"), await change("null")];
  // Adam's steps are about lr each: 12 steps move a weight by at most ~12 lr.
  assert(tiny < 1e-5, `lr 1e-7 moved a weight by ${tiny}`);
  assert(full > 100 * tiny && full > 1e-3, `train's lr moved weights by ${full} only`);
});

Deno.test("soft targets follow the weak view like the labels do; real labels enter one-hot", () => {
  const w = 8, h = 8, k = 3, plane = w * h;
  const rng = new Rng(3);
  const probs = new Uint8Array(k * plane), label = new Uint8Array(plane);
  for (let q = 0; q < plane; q++) {
    const raw = [rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1)];
    raw.forEach((
      v,
      c,
    ) => (probs[c * plane + q] = Math.round((255 * v) / (raw[0] + raw[1] + raw[2]))));
    label[q] = raw.indexOf(Math.max(...raw));
  }
  const image = Float32Array.from({ length: plane }, () => rng.normal());
  const weak = { k: 1, flipX: true, flipY: false, zoom: 1.3, cropX: 1.2, cropY: 0.4 };
  const params = [{ weak }, { weak }] as unknown as PairParams[];
  const moved = new RandomWeak().apply(weak, image2d(w, h, image), label2d(w, h, label)).label!;
  const weakLabels = new Uint8Array(2 * plane);
  weakLabels.set(moved.data);
  weakLabels.set(moved.data.map((v) => (v + 1) % k), plane);
  const out = new Float32Array(2 * k * plane);
  fillSoftTargets(out, [{ image, label, probs }, { image, label }], params, weakLabels, k, w, h);
  for (let q = 0; q < plane; q++) {
    const p = [0, 1, 2].map((c) => out[c * plane + q]);
    assertEquals(
      p.indexOf(Math.max(...p)),
      moved.data[q],
      `pixel ${q}: argmax moved with the label`,
    );
    assert(p.every((v) => Math.abs(v * 255 - Math.round(v * 255)) < 1e-3), "steps of 1/255");
    const onehot = [0, 1, 2].map((c) => out[k * plane + c * plane + q]);
    assertEquals(onehot, [0, 1, 2].map((c) => (c === weakLabels[plane + q] ? 1 : 0)));
  }
});

Deno.test("refine.soft: the second round re-learns the fused probabilities, not the hard labels", async () => {
  const [hard, soft] = [await secondRound([]), await secondRound(["refine.soft=true"])];
  assertEquals(soft.curves.length, 12);
  assert(soft.curves.every((c: { loss: number }) => Number.isFinite(c.loss) && c.loss > 0));
  assert(sha256(hard.model) !== sha256(soft.model), "soft and hard rounds trained the same");
});

Deno.test("refine.synthetic: the second round's batches also hold the synthetic samples", async () => {
  const [without, withSamples] = [
    await secondRound([]),
    await secondRound(["refine.synthetic=true"]),
  ];
  assertEquals(withSamples.curves.length, 12);
  assert(sha256(without.model) !== sha256(withSamples.model), "the samples changed nothing");
});

Deno.test("refine.onlyIfBetter: a second round only on pseudo-labels that beat both models, kept only if it beats the first", async () => {
  const store = makeMemoryStore();
  const { env, exit } = await runTiny([
    "train.method=supervised",
    "train.steps=40",
    "refine.enabled=true",
    "refine.secondRoundSteps=12",
  ], { stages: stagesThrough("refine"), runId: "g", store });
  assert(Exit.isSuccess(exit), String(exit));
  const out = (await Effect.runPromise(resolveStage(env, "refine")))!.summaries[0];
  const q = out.quality!;
  assertEquals(q.models.length, 2);
  for (const v of [q.pseudo, q.kept, ...q.models]) assert(v >= 0 && v <= 1, JSON.stringify(q));
  assert(q.kept < 1, "the confidence threshold leaves pixels out");
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (q.pseudo <= Math.max(...q.models)) {
    assertEquals([out.models.length, out.secondRound], [0, null], "no second round trained");
  } else {
    const second = out.secondRound!;
    for (const d of [...second.validationDice, ...second.firstRoundDice]) assert(d >= 0 && d <= 1);
    assertEquals(second.kept, mean(second.validationDice) > mean(second.firstRoundDice));
    assertEquals(out.models.length, second.kept ? 2 : 0, JSON.stringify(out));
  }
});

Deno.test("refine records the models downstream uses as an artifact, so evaluate's key follows the decision", async () => {
  const keyOf = async (onlyIfBetter: boolean) => {
    const { env, exit } = await runTiny([
      "train.method=supervised",
      "train.steps=40",
      "refine.enabled=true",
      "refine.secondRoundSteps=12",
      `refine.onlyIfBetter=${onlyIfBetter}`,
    ], { stages: stagesThrough("refine"), runId: "k", store: makeMemoryStore() });
    assert(Exit.isSuccess(exit), String(exit));
    const up = (await Effect.runPromise(resolveStage(env, "refine")))!;
    const json = JSON.parse(
      new TextDecoder().decode(await Effect.runPromise(up.read("models.json"))),
    );
    assertEquals(json.models, [...up.summaries[0].models]);
    return { digest: up.digest, models: up.summaries[0].models.length };
  };
  const [off, on] = [await keyOf(false), await keyOf(true)];
  assertEquals(off.models, 2);
  if (on.models === 0) {
    assert(on.digest !== off.digest, "a kept first round must change the digest");
  } else assertEquals(on.digest, off.digest);
});

Deno.test("refine's gate scores both rounds as evaluate does: mirrored where evaluate.mirror is on", async () => {
  const run = async (mirror: boolean) => {
    const { model, summary } = await secondRound([`evaluate.mirror=${mirror}`]);
    return { out: summary, model: sha256(model) };
  };
  const [plain, mirrored] = [await run(false), await run(true)];
  // Mirroring changes how the gate scores, not what the second round learns from.
  assertEquals(mirrored.out.quality, plain.out.quality);
  assertEquals(mirrored.model, plain.model);
  const [p, m] = [plain.out.secondRound!, mirrored.out.secondRound!];
  // (At 40 steps one model may still predict no foreground: Dice 0 either way.)
  const differ = (x: readonly number[], y: readonly number[]) => x.some((v, k) => v !== y[k]);
  assert(differ(m.firstRoundDice, p.firstRoundDice), "first round: scored without mirroring");
  assert(differ(m.validationDice, p.validationDice), "second round: scored without mirroring");
});
