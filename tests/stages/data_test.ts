/**
 * The ingest and normalize stages on real files, through the runner (memory store) and once
 * through the CLI: roles, labels stored per role, the recorded transform and restoreLabels, an
 * unlabelled case's label never opened, and bad inputs failing the stage with exit 65, one line
 * naming the file, nothing committed. The readers' own checks are tested in tests/io.
 */
import { Effect, Exit } from "effect";
import { gunzipSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "../assert.ts";
import { defaults } from "../../schemas/defaults.ts";
import type { Config } from "../../schemas/config.ts";
import type { IngestOutput } from "../../schemas/outputs.ts";
import {
  failureOf,
  resolveStage,
  type RunEnv,
  runUnit,
  stagePrefix,
} from "../../pipeline/runner.ts";
import { runPipeline } from "../../pipeline/run.ts";
import { makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { describeError, exitCodeOf } from "../../pipeline/errors.ts";
import { ingest } from "../../stages/ingest/stage.ts";
import { normalize } from "../../stages/normalize/stage.ts";
import { loadCase, normalizedCases } from "../../training/cases.ts";
import { restoreLabels } from "../../deploy/restore.ts";
import { encodeNifti } from "../../io/nifti.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { tempDir } from "../io/python.ts";
import { cli } from "../cli.ts";

const SHAPE: [number, number, number] = [12, 10, 4];
const IDS = ["c0", "c1", "c2", "c3", "c4", "c5"];
const affine = [0.8, 0, 0, -5, 0, 0.9, 0, 3, 0, 0, 2.5, 7, 0, 0, 0, 1];

/** Case i: a bright box whose size grows with z (so the largest slice is the last one). */
function caseVolumes(i: number): { image: Volume; label: LabelVolume } {
  const [nx, ny, nz] = SHAPE;
  const image = new Float32Array(nx * ny * nz), label = new Uint8Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const k = x + nx * (y + ny * z);
        const inside = x >= 3 && x < 4 + z + (i % 2) && y >= 2 && y < 5 + z;
        label[k] = inside ? 1 : 0;
        image[k] = (inside ? 100 : 20) + ((k * 7 + i) % 5);
      }
    }
  }
  const geo = { shape: SHAPE, spacing: [0.8, 0.9, 2.5] as const, affine };
  return { image: { data: image, ...geo }, label: { data: label, ...geo } };
}

/** A folder of `<id>.nii.gz` + `<id>_label.nii.gz`. */
function writeDataset(): string {
  const dir = tempDir("data-stage");
  IDS.forEach((id, i) => {
    const { image, label } = caseVolumes(i);
    Deno.writeFileSync(`${dir}/${id}.nii.gz`, encodeNifti(image));
    Deno.writeFileSync(`${dir}/${id}_label.nii.gz`, encodeNifti(label));
  });
  return dir;
}

/** c0 exemplar, c1 labelled (first of the pool), c2 c3 unlabelled, c4 validation, c5 test. */
function configFor(source: string, over: Partial<Config["normalize"]> = {}): Config {
  return {
    ...defaults,
    data: {
      ...defaults.data,
      source,
      root: null,
      classes: ["background", "box"],
      roles: {
        exemplar: { case: "c0", slice: "largest" },
        labelled: 1,
        validation: ["c4"],
        test: ["c5"],
      },
    },
    normalize: { ...defaults.normalize, size: [8, 8], ...over },
  };
}

const makeEnv = (store: ObjectStoreShape, config: Config): RunEnv => ({
  store,
  runId: "t",
  config,
  reporter: makeMemoryReporter(),
  device: "cpu",
  signal: new AbortController().signal,
  stages: [ingest, normalize],
  cache: new Map(),
});

const markers = (store: ObjectStoreShape, stage: "ingest" | "normalize") =>
  Effect.runSync(store.list(stagePrefix("t", stage))).filter((k) => k.endsWith("_SUCCESS.json"));

async function runBoth(config: Config) {
  const store = makeMemoryStore();
  const env = makeEnv(store, config);
  const exit = await Effect.runPromiseExit(runPipeline(env));
  const error = Exit.isFailure(exit) ? failureOf(exit.cause) : undefined;
  return { store, env, exit, error, code: error === undefined ? 0 : exitCodeOf(error) };
}

Deno.test("NIfTI folder: ingest + normalize, roles, labels per role, transform round trip", async () => {
  const dir = writeDataset();
  const { env, code, error } = await runBoth(configFor(dir, { size: [12, 10] }));
  assertEquals(code, 0, String(error && describeError(error)));
  const ingestUp = (await Effect.runPromise(resolveStage(env, "ingest")))!;
  const normUp = (await Effect.runPromise(resolveStage(env, "normalize")))!;
  const records = (ingestUp.summaries as IngestOutput[]).flatMap((s) => s.cases);
  assertEquals(
    Object.fromEntries(records.map((r) => [r.id, r.role])),
    {
      c0: "exemplar",
      c1: "labelled",
      c2: "unlabelled",
      c3: "unlabelled",
      c4: "validation",
      c5: "test",
    },
  );
  const c0 = records.find((r) => r.id === "c0")!;
  assertEquals(c0.exemplarSlice, 3);
  assertEquals(c0.spacing.map((v) => +v.toFixed(4)), [0.8, 0.9, 2.5]);
  // Ingest stores the exemplar's one slice only, and no label at all for unlabelled cases.
  const stored = async (id: string) =>
    decodeArrays(
      await Effect.runPromise(ingestUp.read(records.find((r) => r.id === id)!.artifact)),
    );
  assertEquals((await stored("c0")).arrays.label.shape, [1, 10, 12]);
  assertEquals((await stored("c2")).arrays.label, undefined);
  assertEquals((await stored("c4")).arrays.label.shape, [4, 10, 12]);

  const cases = normalizedCases(normUp);
  const byId = new Map(cases.map((c) => [c.id, c]));
  assertEquals(byId.get("c0")!.trainLabels, [3]);
  assertEquals(byId.get("c1")!.trainLabels, [0, 1, 2, 3]);
  assertEquals(byId.get("c2")!.trainLabels, []);
  assertEquals(byId.get("c4")!.trainLabels, []);
  for (const info of cases) {
    const c = await Effect.runPromise(loadCase(normUp, info));
    assertEquals([c.width, c.height, c.image.length], [12, 10, 4 * 120]);
    const labelled = [0, 1, 2, 3].filter((z) => c.label(z) !== undefined);
    const expected = info.role === "exemplar"
      ? [3]
      : info.role === "unlabelled"
      ? []
      : [0, 1, 2, 3];
    assertEquals(labelled, expected, info.id);
    assertEquals(info.params.transform.original.affine.map((v) => +v.toFixed(4)), affine);
    if (info.role === "validation") {
      // Same size: the emitted labels restored to the original grid are the original labels.
      const pred = new Uint8Array(4 * 120);
      for (let z = 0; z < 4; z++) pred.set(c.label(z)!, z * 120);
      assertEquals([...restoreLabels(info, pred)], [...caseVolumes(4).label.data]);
      // z-score over the volume: mean 0, std 1.
      const mean = c.image.reduce((a, v) => a + v, 0) / c.image.length;
      assert(Math.abs(mean) < 1e-5, `mean ${mean}`);
    }
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("resize, body crop, foreground slices: restoreLabels returns the original shape", async () => {
  const dir = writeDataset();
  const config = configFor(dir, {
    size: [8, 8],
    crop: { by: "body", margin: 1, threshold: 50 },
    slices: "foreground",
  });
  const { env, code, error } = await runBoth(config);
  assertEquals(code, 0, String(error && describeError(error)));
  const normUp = (await Effect.runPromise(resolveStage(env, "normalize")))!;
  for (const info of normalizedCases(normUp)) {
    const t = info.params.transform;
    assertEquals(t.output.shape, [8, 8, 4]);
    assert(t.crop.size[0] < 12 && t.crop.start[2] === 0, JSON.stringify(t.crop));
    const c = await Effect.runPromise(loadCase(normUp, info));
    const back = restoreLabels(info, new Uint8Array(c.image.length).fill(1));
    assertEquals(back.length, 12 * 10 * 4);
    // Outside the crop box is background.
    assertEquals(back[0], 0);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("fit pad: the committed transform keeps its offset (summary and artifact), so restoreLabels returns the labels exactly", async () => {
  // A bug once dropped `pad` (and the recipe's `fit`) from the committed transform: evaluate then
  // un-stretched padded slices and scored every padded run's masks shifted.
  const dir = writeDataset();
  const { env, code, error } = await runBoth(configFor(dir, { size: [16, 16], fit: "pad" }));
  assertEquals(code, 0, String(error && describeError(error)));
  const normUp = (await Effect.runPromise(resolveStage(env, "normalize")))!;
  for (const info of normalizedCases(normUp).filter((c) => c.role === "validation")) {
    assertEquals(info.params.transform.recipe.fit, "pad");
    assertEquals(info.params.transform.pad?.offset, [2, 3]);
    // The slices artifact carries the same transform, so downstream keys (which hash artifact
    // digests, not summaries) change whenever it does.
    const header = decodeArrays(await Effect.runPromise(normUp.read(info.artifact))).meta;
    assertEquals(header.transform, JSON.parse(JSON.stringify(info.params.transform)));
    const c = await Effect.runPromise(loadCase(normUp, info));
    const pred = new Uint8Array(4 * 256);
    for (let z = 0; z < 4; z++) pred.set(c.label(z)!, z * 256);
    assertEquals([...restoreLabels(info, pred)], [...caseVolumes(4).label.data]);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("sharded ingest and normalize cover every case once", async () => {
  const dir = writeDataset();
  const store = makeMemoryStore();
  const config = configFor(dir);
  for (const name of ["ingest", "normalize"] as const) {
    for (const index of [0, 1]) {
      const env = makeEnv(store, config);
      await Effect.runPromise(runUnit(env, name, { index, count: 2 }));
    }
  }
  const up = (await Effect.runPromise(resolveStage(makeEnv(store, config), "normalize")))!;
  assertEquals(normalizedCases(up).map((c) => c.id).sort(), IDS);
  Deno.removeSync(dir, { recursive: true });
});

const gz = (raw: Uint8Array) => new Uint8Array(gzipSync(raw));
const raw = (path: string) => new Uint8Array(gunzipSync(Deno.readFileSync(path)));
const writeVolume = (path: string, v: Volume<Float32Array | Uint8Array>) =>
  Deno.writeFileSync(path, encodeNifti(v));

/** Bad inputs: [name, damage(dir) → the file the error must name]. */
const bad: [string, (dir: string) => string][] = [
  ["truncated file", (d) => {
    const p = `${d}/c1.nii.gz`;
    Deno.writeFileSync(p, gz(raw(p).subarray(0, 700)));
    return p;
  }],
  ["gzip error", (d) => {
    const p = `${d}/c2.nii.gz`;
    const b = Deno.readFileSync(p);
    Deno.writeFileSync(p, b.subarray(0, b.length >> 1));
    return p;
  }],
  ["unknown NIfTI datatype", (d) => {
    const p = `${d}/c3.nii.gz`;
    const r = raw(p);
    new DataView(r.buffer).setInt16(70, 1234, true);
    Deno.writeFileSync(p, gz(r));
    return p;
  }],
  ["label shape mismatch", (d) => {
    const p = `${d}/c1_label.nii.gz`;
    const l = caseVolumes(1).label;
    writeVolume(p, { ...l, data: l.data.subarray(0, 12 * 10 * 3), shape: [12, 10, 3] });
    return p;
  }],
  ["label geometry mismatch", (d) => {
    const p = `${d}/c4_label.nii.gz`;
    const l = caseVolumes(4).label;
    writeVolume(p, { ...l, affine: affine.map((v, i) => (i === 3 ? v + 4 : v)) });
    return p;
  }],
  ["label outside classes", (d) => {
    const p = `${d}/c5_label.nii.gz`;
    const l = caseVolumes(5).label;
    const data = l.data.slice();
    data[17] = 3;
    writeVolume(p, { ...l, data });
    return p;
  }],
  ["NaN voxels", (d) => {
    const p = `${d}/c2.nii.gz`;
    const v = caseVolumes(2).image;
    const data = v.data.slice();
    data[5] = NaN;
    writeVolume(p, { ...v, data });
    return p;
  }],
  ["empty folder", (d) => {
    for (const e of Deno.readDirSync(d)) Deno.removeSync(`${d}/${e.name}`);
    return d;
  }],
  ["duplicate IDs", (d) => {
    Deno.writeFileSync(`${d}/c3.nii`, raw(`${d}/c3.nii.gz`));
    return d;
  }],
];

Deno.test("bad inputs: exit 65, one line naming the file, nothing of the stage committed", async () => {
  for (const [name, damage] of bad) {
    const dir = writeDataset();
    const file = damage(dir);
    const { store, code, error } = await runBoth(configFor(dir));
    const line = describeError(error);
    assertEquals(code, 65, `${name}: ${line}`);
    if (Deno.env.get("SHOW_ERRORS")) console.log(`${name}: ${line}`);
    assert(!line.includes("\n") && line.includes(file), `${name}: ${line}`);
    assertEquals(markers(store, "ingest"), [], name);
    assertEquals(markers(store, "normalize"), [], name);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an unlabelled case's label is never opened; the same damage on a labelled one is 65", async () => {
  const garbage = new TextEncoder().encode("not a NIfTI file at all");
  for (const [id, role] of [["c2", "unlabelled"], ["c1", "labelled"]] as const) {
    const dir = writeDataset();
    Deno.writeFileSync(`${dir}/${id}_label.nii.gz`, garbage);
    const { store, code, error } = await runBoth(configFor(dir));
    if (role === "unlabelled") {
      assertEquals(code, 0, String(error && describeError(error)));
      assertEquals(markers(store, "normalize").length, 1);
    } else {
      assertEquals(code, 65);
      assert(describeError(error).includes(`${dir}/${id}_label.nii.gz`), describeError(error));
      assertEquals(markers(store, "ingest"), []);
    }
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("data.pseudoLabels: unlabelled cases with a mask in the folder train on it, their own label never opened", async () => {
  const dir = writeDataset();
  try {
    // c2's own label is garbage: it must not be opened. Its mask: the box one voxel narrower.
    Deno.writeFileSync(`${dir}/c2_label.nii.gz`, new TextEncoder().encode("not a NIfTI file"));
    Deno.mkdirSync(`${dir}/pseudo`);
    const { label } = caseVolumes(2);
    const mask = label.data.map((v, i) => (i % SHAPE[0] === 3 ? 0 : v));
    Deno.writeFileSync(`${dir}/pseudo/c2.nii.gz`, encodeNifti({ ...label, data: mask }));
    const config = configFor(dir);
    const pseudo = { ...config, data: { ...config.data, pseudoLabels: `${dir}/pseudo` } };
    const { store, env, code, error } = await runBoth(pseudo);
    assertEquals(code, 0, String(error && describeError(error)));
    const up = (await Effect.runPromise(resolveStage(env, "ingest")))!;
    const cases = (up.summaries[0] as IngestOutput).cases;
    const role = (id: string) => cases.find((c) => c.id === id)!.role;
    assertEquals([role("c1"), role("c2"), role("c3")], ["labelled", "labelled", "unlabelled"]);
    const c2 = cases.find((c) => c.id === "c2")!;
    const stored = decodeArrays(await Effect.runPromise(up.read(c2.artifact))).arrays.label!;
    assertEquals([...stored.data], [...mask]);
    assert(!cases.find((c) => c.id === "c3")!.hasLabel, "c3 has no mask: stays unlabelled");
    assertEquals(markers(store, "normalize").length, 1);

    // The masks can be all the labelled data there is; without them that config is refused (64).
    const roles = { ...config.data.roles, exemplar: null, labelled: 0 };
    const only = await runBoth({ ...pseudo, data: { ...pseudo.data, roles } });
    assertEquals(only.code, 0, String(only.error && describeError(only.error)));
    const bare = await runBoth({ ...config, data: { ...config.data, roles } });
    assertEquals(bare.code, 64);
    assert(describeError(bare.error).includes("data.pseudoLabels"), describeError(bare.error));

    // A folder with no mask for any unlabelled case: 65, naming the folder and the fix.
    Deno.removeSync(`${dir}/pseudo/c2.nii.gz`);
    const none = await runBoth(pseudo);
    assertEquals(none.code, 65);
    assert(describeError(none.error).includes(`${dir}/pseudo`), describeError(none.error));
    assert(describeError(none.error).includes("predict"), describeError(none.error));
    assertEquals(markers(none.store, "ingest"), []);

    // A mask on another grid than its image: 65, naming the mask.
    const small: LabelVolume = {
      ...label,
      data: label.data.slice(0, 12 * 10 * 2),
      shape: [12, 10, 2],
    };
    Deno.writeFileSync(`${dir}/pseudo/c3.nii.gz`, encodeNifti(small));
    const wrong = await runBoth(pseudo);
    assertEquals(wrong.code, 65);
    assert(
      describeError(wrong.error).includes(`${dir}/pseudo/c3.nii.gz`),
      describeError(wrong.error),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const LA = "/work/shared/data/la2018";
const haveLA = (() => {
  try {
    return Deno.statSync(`${LA}/train.list`).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "real LA volumes (SSL4MIS .h5): 3 cases, 88 slices at 128x128, exemplar's largest slice",
  ignore: !haveLA,
  fn: async () => {
    const ids = Deno.readTextFileSync(`${LA}/train.list`).split("\n").filter(Boolean).slice(0, 3);
    const dir = tempDir("la3");
    Deno.writeTextFileSync(`${dir}/three.list`, ids.map((id) => `${LA}/train/${id}.h5\n`).join(""));
    const config = configFor("three.list", { size: [128, 128] });
    const { env, code, error } = await runBoth({
      ...config,
      data: {
        ...config.data,
        root: dir,
        classes: ["background", "left atrium"],
        roles: {
          exemplar: { case: ids[0], slice: "largest" },
          labelled: 0,
          validation: [ids[2]],
          test: [],
        },
      },
    });
    assertEquals(code, 0, String(error && describeError(error)));
    const up = (await Effect.runPromise(resolveStage(env, "normalize")))!;
    const cases = normalizedCases(up);
    assertEquals(cases.map((c) => [c.id, c.role, c.slices]), [
      [ids[0], "exemplar", 88],
      [ids[1], "unlabelled", 88],
      [ids[2], "validation", 88],
    ]);
    assertEquals(cases[0].trainLabels.length, 1);
    const c = await Effect.runPromise(loadCase(up, cases[2]));
    assertEquals([c.width, c.height], [128, 128]);
    assert(c.label(40)!.some((v) => v === 1), "validation slice 40 has atrium");
    const back = restoreLabels(cases[2], new Uint8Array(88 * 128 * 128));
    const [nx, ny] = cases[2].params.transform.original.shape;
    assertEquals(back.length, nx * ny * 88);
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test("CLI: a bad file is exit 65 with one error line naming it", async () => {
  const dir = writeDataset();
  const p = `${dir}/c2.nii.gz`;
  Deno.writeFileSync(p, Deno.readFileSync(p).subarray(0, 100));
  const config = configFor(dir);
  const cfgPath = `${dir}/config.json`;
  Deno.writeTextFileSync(
    cfgPath,
    JSON.stringify({ data: config.data, normalize: config.normalize }),
  );
  const out = await cli([
    "run",
    "--config",
    cfgPath,
    "--store",
    `${dir}/store`,
    "--log-format",
    "plain",
  ]);
  const stderr = out.stderr;
  assertEquals(out.code, 65, stderr);
  const errors = stderr.split("\n").filter((l) => l.includes(p));
  assertEquals(errors.length, 1, stderr);
  assert(errors[0].startsWith("error: bad input "), stderr);
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(`${d}/${e.name}`);
      else if (e.name === "_SUCCESS.json") found.push(`${d}/${e.name}`);
    }
  };
  walk(`${dir}/store`);
  assertEquals(found, []);
  Deno.removeSync(dir, { recursive: true });
});
