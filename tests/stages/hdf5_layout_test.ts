/**
 * ACDC-style .h5 volumes ((Z, Y, X), slice axis first) through ingest and normalize: read right
 * with `data.hdf5.axes: "zyx"`, and the wrong axis order stopped by the slice-stretch guard
 * (exit 64 naming the case, its shape and the field) instead of training on strips; dataset
 * names from `data.hdf5`; the dataset line ingest prints; bad input on this path is exit 65
 * naming the file.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { defaults } from "../../schemas/defaults.ts";
import type { Config } from "../../schemas/config.ts";
import type { IngestOutput } from "../../schemas/outputs.ts";
import { failureOf, resolveStage, type RunEnv } from "../../pipeline/runner.ts";
import { runPipeline } from "../../pipeline/run.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { describeError, exitCodeOf } from "../../pipeline/errors.ts";
import { ingest } from "../../stages/ingest/stage.ts";
import { normalize } from "../../stages/normalize/stage.ts";
import { loadCase, normalizedCases } from "../../training/cases.ts";
import { datasetName } from "../../io/dataset.ts";
import { writeHdf5 } from "../../io/hdf5.ts";
import type { Volume } from "../../io/volume.ts";
import { tempDir } from "../io/python.ts";

// x 40, y 36 in-plane, 6 short-axis slices: stored (6, 36, 40) like ACDC.
const [NX, NY, NZ] = [40, 36, 6];
const IDS = ["p1_frame01", "p1_frame02", "p2_frame01", "p3_frame01"];

/** Three nested classes per slice (RV left of a Myo ring around the LV), shifted per case. */
function heart(i: number): { image: Volume; label: Volume<Uint8Array> } {
  const image = new Float32Array(NX * NY * NZ), label = new Uint8Array(NX * NY * NZ);
  for (let z = 0; z < NZ; z++) {
    for (let y = 0; y < NY; y++) {
      for (let x = 0; x < NX; x++) {
        const k = x + NX * (y + NY * z);
        const r = Math.hypot(x - 24 - i, y - 18);
        const c = r < 5 ? 3 : r < 8 ? 2 : Math.hypot(x - 12 - i, y - 18) < 5 ? 1 : 0;
        label[k] = c;
        image[k] = [0.1, 0.7, 0.3, 0.9][c] + 0.01 * ((k * 13 + i) % 7);
      }
    }
  }
  const geo = { shape: [NX, NY, NZ] as const, spacing: [1, 1, 1] as const };
  const affine = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  return { image: { data: image, ...geo, affine }, label: { data: label, ...geo, affine } };
}

async function writeFolder(names = { image: "image", label: "label" }): Promise<string> {
  const dir = tempDir("acdc-like");
  for (const [i, id] of IDS.entries()) {
    const { image, label } = heart(i);
    await writeHdf5(`${dir}/${id}.h5`, [
      { name: names.image, volume: image as Volume<Float32Array> },
      { name: names.label, volume: label },
    ], "zyx");
  }
  return dir;
}

function configFor(dir: string, data: Partial<Config["data"]> = {}): Config {
  return {
    ...defaults,
    data: {
      ...defaults.data,
      source: dir,
      classes: ["background", "RV", "Myo", "LV"],
      hdf5: { axes: "zyx", image: "image", label: "label" },
      roles: {
        exemplar: { case: "p1_frame01", slice: "largest" },
        labelled: 0,
        validation: ["p2_frame01"],
        test: ["p3_frame01"],
      },
      ...data,
    },
    normalize: { ...defaults.normalize, size: [32, 32] },
  };
}

async function run(config: Config) {
  const reporter = makeMemoryReporter();
  const env: RunEnv = {
    store: makeMemoryStore(),
    runId: "t",
    config,
    reporter,
    device: "cpu",
    signal: new AbortController().signal,
    stages: [ingest, normalize],
    cache: new Map(),
  };
  const exit = await Effect.runPromiseExit(runPipeline(env));
  const error = Exit.isFailure(exit) ? failureOf(exit.cause) : undefined;
  const code = error === undefined ? 0 : exitCodeOf(error);
  return { env, code, line: error === undefined ? "" : describeError(error), reporter };
}

Deno.test("(Z, Y, X) .h5 with data.hdf5.axes zyx: x by y slices, one per z, labels in place", async () => {
  const dir = await writeFolder();
  try {
    const { env, code, line, reporter } = await run(configFor(dir));
    assertEquals(code, 0, line);
    const records = ((await Effect.runPromise(resolveStage(env, "ingest")))!
      .summaries as IngestOutput[]).flatMap((s) => s.cases);
    assert(records.every((r) => r.shape.join() === `${NX},${NY},${NZ}`), JSON.stringify(records));
    const norm = (await Effect.runPromise(resolveStage(env, "normalize")))!;
    const validation = normalizedCases(norm).find((c) => c.role === "validation")!;
    assertEquals(validation.slices, NZ);
    const c = await Effect.runPromise(loadCase(norm, validation));
    // The LV (3) sits right of the RV (1) in every slice, as drawn: x is the column axis.
    const label = c.label(2)!;
    const at = (x: number, y: number) =>
      label[Math.round(y * 32 / NY) * 32 + Math.round(x * 32 / NX)];
    assertEquals([at(13, 18), at(25, 18), at(25, 18 + 6.5)], [1, 3, 2]);
    // The dataset line: 4 cases, the shape range, the slices, class fractions per role.
    const info = reporter.lines.find((l) => l.startsWith("ingest: "))!;
    assert(info.includes(`4 cases, x ${NX}, y ${NY}, z ${NZ} (24 slices)`), info);
    const fractions = (role: string) => info.match(new RegExp(`${role} 1 \\(([^)]*)\\)`))![1];
    const truth = heart(2).label.data;
    const share = (k: number) => (100 * truth.filter((v) => v === k).length / truth.length);
    assertEquals(
      fractions("validation"),
      `RV ${share(1).toFixed(1)}%, Myo ${share(2).toFixed(1)}%, LV ${share(3).toFixed(1)}%`,
    );
    assert(info.includes("unlabelled 1 (no labels read)"), info);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the wrong axis order stops with 64 naming the case, its shape and data.hdf5.axes", async () => {
  const dir = await writeFolder();
  try {
    const wrong = configFor(dir, { hdf5: { axes: "xyz", image: "image", label: "label" } });
    const { env, code, line } = await run(wrong);
    assertEquals(code, 64, line);
    assert(line.includes(`case "p1_frame01" (shape ${NZ}x${NY}x${NX}`), line);
    assert(line.includes('set data.hdf5.axes to "zyx"'), line);
    assert(line.includes("normalize.maxStretch"), line);
    assertEquals(line.split("\n").filter((l) => l.includes("stretched")).length, IDS.length);
    assert(!(await Effect.runPromise(resolveStage(env, "normalize"))), "normalize committed");
    // The user can say it is intended.
    const intended = await run({ ...wrong, normalize: { ...wrong.normalize, maxStretch: null } });
    assertEquals(intended.code, 0, intended.line);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset names from data.hdf5; a missing one is 65 naming the file and the field", async () => {
  const dir = await writeFolder({ image: "img", label: "seg" });
  try {
    const named = await run(
      configFor(dir, { hdf5: { axes: "zyx", image: "img", label: "seg" } }),
    );
    assertEquals(named.code, 0, named.line);
    // Default names: no "label" dataset, so the exemplar has no label; no "image" either.
    const missing = await run(
      configFor(dir, { hdf5: { axes: "zyx", image: "img", label: "label" } }),
    );
    assertEquals(missing.code, 65, missing.line);
    assert(
      missing.line.includes(`${dir}/p1_frame01.h5`) && !missing.line.includes("\n"),
      missing.line,
    );
    const noImage = await run(
      configFor(dir, { hdf5: { axes: "zyx", image: "image", label: "seg" } }),
    );
    assertEquals(noImage.code, 65, noImage.line);
    assert(
      noImage.line.includes('no dataset "image"') && noImage.line.includes("data.hdf5.image"),
      noImage.line,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bad .h5 input: a class outside data.classes, image and label shapes differ -> 65 naming the file", async () => {
  const damages: [string, (dir: string) => Promise<string>][] = [
    ["label value 4 with 4 classes", async (dir) => {
      const { image, label } = heart(2);
      const data = label.data.slice();
      data[100] = 4;
      const path = `${dir}/p2_frame01.h5`;
      await writeHdf5(path, [
        { name: "image", volume: image as Volume<Float32Array> },
        { name: "label", volume: { ...label, data } },
      ], "zyx");
      return path;
    }],
    ["label one slice short", async (dir) => {
      const { image, label } = heart(3);
      const path = `${dir}/p3_frame01.h5`;
      await writeHdf5(path, [
        { name: "image", volume: image as Volume<Float32Array> },
        {
          name: "label",
          volume: {
            ...label,
            data: label.data.subarray(0, NX * NY * (NZ - 1)),
            shape: [NX, NY, NZ - 1],
          },
        },
      ], "zyx");
      return path;
    }],
  ];
  for (const [name, damage] of damages) {
    const dir = await writeFolder();
    try {
      const file = await damage(dir);
      const { code, line } = await run(configFor(dir));
      assertEquals(code, 65, `${name}: ${line}`);
      assert(line.includes(file) && !line.includes("\n"), `${name}: ${line}`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
});

Deno.test("datasetName: the folder or list file, never '.'", () => {
  const cwd = Deno.cwd().split("/").at(-1)!;
  assertEquals(datasetName(".", null), cwd);
  assertEquals(datasetName(".", "../shared/data/acdc"), "acdc");
  assertEquals(datasetName("train.list", "../shared/data/la2018"), "la2018/train.list");
  assertEquals(datasetName("/data/acdc/", null), "acdc");
  assertEquals(datasetName("phantoms", null), "phantoms");
});
