/**
 * The evaluate and export stages on the tiny phantom run (tests/pipeline/tiny.json), through the
 * runner: the exported model.onnx is a valid Duet model (recipe = recipeOf(config), config
 * digest, input size, onnx.checker), parity with the engine is recorded, the masks are on the
 * original grid, equal to what `predict` writes for the same image and scoring what evaluate
 * reported (its largest-component post-processing recorded in the model), and report.html is
 * self-contained and renders in headless Chromium (screenshot checked for overlays and curves;
 * DUET_REPORT_SCREENSHOT=path keeps a copy to look at).
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { configDigest } from "../../pipeline/manifest.ts";
import { failureOf, resolveStage } from "../../pipeline/runner.ts";
import { decodeNifti, encodeNifti } from "../../io/nifti.ts";
import { OVERLAY_COLORS } from "../../report/overlay.ts";
import { SERIES_COLORS } from "../../report/chart.ts";
import type {
  EvaluateOutput,
  ExportOutput,
  IngestOutput,
  TrainOutput,
} from "../../schemas/outputs.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { Predictor } from "../../engine/predict.ts";
import { ort, Session } from "../../engine/session.ts";
import { decodeModel } from "../../deploy/weights.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { parseDuetModel } from "../../deploy/onnx_model.ts";
import { recipeOf } from "../../schemas/normalize_recipe.ts";
import { python, tempDir } from "../io/python.ts";
import { cli } from "../cli.ts";
import { runTiny } from "./tiny_run.ts";
import { chooseOnValidation } from "../../stages/export/stage.ts";
import { firstSeriesRgb, screenshot } from "../report/chromium.ts";

async function tinyRun() {
  const { env, exit } = await runTiny([
    "train.steps=150",
    "train.validateEvery=25",
    // Model b segments something after 150 steps (a is still empty): masks are not all 0.
    "export.model=b",
    "evaluate.largestComponent=true",
  ]);
  if (Exit.isFailure(exit)) throw failureOf(exit.cause);
  const stage = async (name: "ingest" | "evaluate" | "export") => {
    const up = (await Effect.runPromise(resolveStage(env, name)))!;
    return {
      summary: up.summaries[0],
      read: (artifact: string) => Effect.runPromise(up.read(artifact)),
    };
  };
  return { config: env.config, stage };
}

const run = tinyRun();

Deno.test("export stage: Duet model.onnx with the run's recipe and digest, parity, masks = predict's", async () => {
  const { config, stage } = await run;
  const exported = await stage("export");
  const out = exported.summary as ExportOutput;
  assertEquals(out.format, "duet-segmentation-1");
  assert(out.parity.maxAbsDiff < 1e-5 && out.parity.slices > 0, JSON.stringify(out.parity));
  const bytes = await exported.read(out.model);
  const model = parseDuetModel("model.onnx", bytes);
  assertEquals(model.normalize, JSON.parse(JSON.stringify(recipeOf(config.normalize))));
  assertEquals(model.configDigest, configDigest(config));
  assertEquals(model.inputSize, [...config.normalize.size]);
  assertEquals(model.classes, [...config.data.classes]);
  // Evaluate's post-processing goes with the model, so its masks are the ones evaluate scored.
  assertEquals(model.postprocess, { largestComponent: true });

  const dir = tempDir("export-stage");
  try {
    await Deno.writeFile(`${dir}/model.onnx`, bytes);
    await python(
      "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)",
      [`${dir}/model.onnx`],
    );
    // Every validation/test case has a mask on its original grid, equal to `predict`'s.
    const ingest = await stage("ingest");
    const records = (ingest.summary as IngestOutput).cases.filter((c) =>
      c.role === "validation" || c.role === "test"
    );
    assertEquals(out.masks.length, records.length);
    const scored = (await stage("evaluate")).summary as EvaluateOutput;
    let foreground = 0;
    const labels = new Map<string, Uint8Array>();
    for (const r of records) {
      const { image: stored, label } = decodeArrays(await ingest.read(r.artifact)).arrays;
      const image = stored.data as Float32Array;
      labels.set(r.id, label!.data as Uint8Array);
      await Deno.writeFile(
        `${dir}/${r.id}.nii.gz`,
        encodeNifti({ data: image, shape: r.shape, spacing: r.spacing, affine: [...r.affine] }),
      );
    }
    const p = await cli([
      "predict",
      "--model",
      `${dir}/model.onnx`,
      "--out",
      `${dir}/pred`,
      "--input",
      ...records.map((r) => `${dir}/${r.id}.nii.gz`),
    ]);
    assertEquals(p.code, 0, p.stderr);
    for (const r of records) {
      const name = out.masks.find((m) => m === `mask-${r.id}.nii.gz`);
      assert(name, `no mask for ${r.id}`);
      const mask = decodeNifti(await exported.read(name), name);
      assertEquals(mask.shape, r.shape);
      for (let i = 0; i < 12; i++) assert(Math.abs(mask.affine[i] - r.affine[i]) < 1e-5, "affine");
      const predicted = decodeNifti(await Deno.readFile(`${dir}/pred/${r.id}.nii.gz`), r.id);
      assertEquals(
        [...predicted.data],
        [...mask.data],
        `${r.id}: export mask differs from predict`,
      );
      foreground += mask.data.filter((v) => v !== 0).length;
      // Dice of the mask, per class, is what evaluate reported for model b on this case's split
      // (one case per split).
      const split = config.data.roles.validation.includes(r.id) ? "validation" : "test";
      for (const k of [1, 2]) {
        let both = 0, sum = 0;
        mask.data.forEach((v, i) => {
          const t = labels.get(r.id)![i] === k, p = v === k;
          both += Number(t && p);
          sum += Number(t) + Number(p);
        });
        if (sum === 0) continue;
        const reported = scored.splits[split].models.b.dice[String(k)].mean;
        assert(Math.abs(2 * both / sum - reported) < 1e-9, `${r.id} class ${k}: ${reported}`);
      }
    }
    assert(foreground > 0, "the exported model predicted nothing: weak test");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluate stage: self-contained report.html that renders in headless Chromium", async () => {
  const { stage } = await run;
  const evaluation = await stage("evaluate");
  const out = evaluation.summary as EvaluateOutput;
  const html = new TextDecoder().decode(await evaluation.read(out.report));
  assert(html.startsWith("<!DOCTYPE html>"));
  assert(!/\b(src|href)="(?!data:)/.test(html) && !/https?:\/\//.test(html), "external resource");
  assert(!/NaN|undefined|Infinity/.test(html), "NaN/undefined in the report");
  assertEquals(html.match(/<svg /g)?.length, 2, "loss and validation Dice charts");
  const overlays = html.match(/class="overlay"><img src="data:image\/png;base64,/g)?.length ?? 0;
  assert(overlays >= 1 && overlays <= 3, `${overlays} overlays`);
  assert(/What training sees[^]*class="views"><img src="data:image\/png;base64,/.test(html));
  for (
    const text of [
      "cmems",
      "organ (1)",
      "vessel (2)",
      "Validation Dice",
      "phantom-00",
      "baseline b (supervised)",
      "model a vs supervised baseline",
    ]
  ) {
    assert(html.includes(text), text);
  }
  const metrics = JSON.parse(new TextDecoder().decode(await evaluation.read(out.json)));
  assertEquals(Object.keys(metrics.models).sort(), [
    "a",
    "b",
    "baseline a",
    "baseline b",
    "baseline pair",
    "pair",
  ]);
  // The report's gains, per split, are the differences of the models' mean Dice over classes.
  assertEquals(Object.keys(out.splits).sort(), ["test", "validation"]);
  for (const [split, { cases, models }] of Object.entries(out.splits)) {
    assertEquals(cases, 1, split);
    const mean = (m: string) =>
      Object.values(models[m].dice).reduce((a, s) => a + s.mean, 0) /
      Object.keys(models[m].dice).length;
    const gain = 100 * (mean("a") - mean("baseline a"));
    const row = `model a vs supervised baseline, ${split}</th><td>${gain >= 0 ? "+" : ""}${
      gain.toFixed(1)
    } Dice points`;
    assert(html.includes(row), `${split}: ${gain}`);
  }
  const shot = await screenshot(html, 90_000);
  assert(shot.colours > 200, `only ${shot.colours} colours: blank page?`);
  assert(shot.seen(OVERLAY_COLORS.label) > 100, "ground-truth contours not drawn");
  assert(shot.seen(firstSeriesRgb(SERIES_COLORS[0])) > 20, "curves not drawn");
});

Deno.test("evaluate.checkpoint best: evaluate and export use the models at their best validation Dice", async () => {
  const store = makeMemoryStore();
  const sets = ["train.steps=60", "train.validateEvery=15", "export.model=b"];
  const last = await runTiny(sets, { store });
  const best = await runTiny([...sets, "evaluate.checkpoint=best"], { store });
  for (const r of [last, best]) if (Exit.isFailure(r.exit)) throw failureOf(r.exit.cause);
  const up = async (env: typeof last.env, name: "train" | "export") =>
    (await Effect.runPromise(resolveStage(env, name)))!;
  const train = await up(best.env, "train");
  const t = train.summaries[0] as TrainOutput;
  const modelOf = async (artifact: string) =>
    decodeModel(await Effect.runPromise(train.read(artifact)));
  const bestB = await modelOf(t.best[1]);
  const lastB = await modelOf(t.models[1]);
  // The shared training chose its best step on validation; the test needs it to differ.
  assert(bestB.meta.step !== t.steps, `best step ${bestB.meta.step} is the last`);
  const probs = async (env: typeof last.env) => {
    const ex = await up(env, "export");
    const bytes = await Effect.runPromise(ex.read((ex.summaries[0] as ExportOutput).model));
    const session = await Session.create(bytes, { threads: 1 });
    const x = new Float32Array(2 * 32 * 32).map((_, i) => Math.sin(i / 7));
    const out = await session.run({ image: new ort.Tensor("float32", x, [2, 1, 32, 32]) });
    await session.release();
    return { x, p: out.probs.data as Float32Array };
  };
  const engine = async (model: typeof bestB.model, x: Float32Array) => {
    const predictor = await Predictor.create(model, { spatial: [32, 32], session: { threads: 1 } });
    const p = (await predictor.run(x, 2)).probs;
    await predictor.release();
    return p;
  };
  const maxDiff = (a: Float32Array, b: Float32Array) =>
    a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const fromBest = await probs(best.env), fromLast = await probs(last.env);
  assert(
    maxDiff(fromBest.p, await engine(bestB.model, fromBest.x)) < 1e-5,
    "best export != best-b",
  );
  assert(
    maxDiff(fromLast.p, await engine(lastB.model, fromLast.x)) < 1e-5,
    "last export != model-b",
  );
  assert(maxDiff(fromBest.p, fromLast.p) > 1e-4, "best and last exports should differ");
  // Evaluate scored the best models too: its model b differs from the last run's.
  const diceB = async (env: typeof last.env) => {
    const e = (await Effect.runPromise(resolveStage(env, "evaluate")))!
      .summaries[0] as EvaluateOutput;
    return JSON.stringify(e.models.b.dice);
  };
  assert((await diceB(best.env)) !== (await diceB(last.env)), "evaluate ignored the checkpoint");
});

Deno.test("export.model auto: the model with the best validation Dice, whatever the test split says", async () => {
  const stats = (dice: number) => ({
    dice: { "1": { mean: dice, std: 0 }, "2": { mean: dice, std: 0 } },
  });
  const evaluated = (validation: number[] | undefined, test: number[]) => ({
    cases: 4,
    models: {},
    splits: {
      ...(validation
        ? {
          validation: {
            cases: 2,
            models: {
              a: stats(validation[0]),
              b: stats(validation[1]),
              pair: stats(validation[2]),
            },
          },
        }
        : {}),
      test: { cases: 2, models: { a: stats(test[0]), b: stats(test[1]), pair: stats(test[2]) } },
    },
    report: "",
    csv: "",
    json: "",
  });
  assertEquals(chooseOnValidation(evaluated([0.5, 0.6, 0.55], [0.9, 0.1, 0.1])), "b");
  assertEquals(chooseOnValidation(evaluated([0.5, 0.6, 0.65], [0.9, 0.1, 0.1])), "pair");
  assertEquals(chooseOnValidation(evaluated([0.7, 0.6, 0.65], [0.1, 0.9, 0.9])), "a");
  assertEquals(chooseOnValidation(evaluated(undefined, [0.1, 0.9, 0.9])), undefined);

  // In a run: what export wrote (summary and the model's metadata) is the validation argmax.
  const { env, exit } = await runTiny([
    "train.steps=40",
    "train.validateEvery=20",
    "export.model=auto",
  ]);
  if (Exit.isFailure(exit)) throw failureOf(exit.cause);
  const scored = (await Effect.runPromise(resolveStage(env, "evaluate")))!;
  const ex = (await Effect.runPromise(resolveStage(env, "export")))!;
  const validation = scored.summaries[0].splits.validation!.models;
  const mean = (n: string) => Object.values(validation[n].dice).reduce((s, c) => s + c.mean, 0);
  const expected = ["a", "b", "pair"].reduce((best, n) => (mean(n) > mean(best) ? n : best));
  assertEquals(ex.summaries[0].exported, expected);
  const bytes = await Effect.runPromise(ex.read(ex.summaries[0].model));
  assertEquals(
    parseDuetModel("model.onnx", bytes).header.metadata["duet.exported_model"],
    expected,
  );
});
