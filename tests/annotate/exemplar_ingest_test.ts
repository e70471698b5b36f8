/**
 * What annotate saves is what ingest trains from: the label + list + config of
 * annotate/exemplar.ts, read by the ingest stage (memory store), for `.h5` scans (whose own
 * label dataset must not be used) in (Z, Y, X) order. Ingest reads only the exemplar's slice of
 * a partially annotated label: values outside the classes elsewhere are accepted, inside that
 * slice they fail the stage naming the file and the slice.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { tempDir } from "../io/python.ts";
import { writeHdf5 } from "../../io/hdf5.ts";
import { readNifti, writeNifti } from "../../io/nifti.ts";
import { discoverCases } from "../../io/dataset.ts";
import { identityAffine } from "../../io/volume.ts";
import { LIST_NAME, saveExemplar, withExemplar } from "../../annotate/exemplar.ts";
import { loadConfig } from "../../pipeline/config.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { failureOf, resolveStage, type RunEnv } from "../../pipeline/runner.ts";
import { runPipeline } from "../../pipeline/run.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { describeError, exitCodeOf } from "../../pipeline/errors.ts";
import { ingest } from "../../stages/ingest/stage.ts";
import { readOptions } from "../../schemas/data_options.ts";
import { readCaseImage } from "../../io/cases.ts";
import { decodeArrays } from "../../io/array_container.ts";
import type { IngestOutput } from "../../schemas/outputs.ts";
import type { Config } from "../../schemas/config.ts";

const SHAPE = [10, 8, 5] as const;
const [NX, NY, NZ] = SHAPE;
const CLASSES = ["background", "a", "b"];

async function runIngest(config: Config) {
  const env: RunEnv = {
    store: makeMemoryStore(),
    runId: "t",
    config,
    reporter: makeMemoryReporter(),
    device: "cpu",
    signal: new AbortController().signal,
    stages: [ingest],
    cache: new Map(),
  };
  const exit = await Effect.runPromiseExit(runPipeline(env));
  return { env, error: Exit.isFailure(exit) ? failureOf(exit.cause) : undefined };
}

Deno.test("annotate's saved exemplar on .h5 scans is what ingest stores; only its slice is read", async () => {
  const root = tempDir("annotate-ingest");
  const data = `${root}/data`;
  Deno.mkdirSync(data);
  const geo = { shape: SHAPE, spacing: [1, 1, 1] as const, affine: identityAffine([1, 1, 1]) };
  for (const id of ["h0", "h1", "h2"]) {
    const image = new Float32Array(NX * NY * NZ).map((_, i) => (i * 7 + id.charCodeAt(1)) % 13);
    // Each file's own label dataset holds 9 (not a class): reading it would fail ingest.
    await writeHdf5(`${data}/${id}.h5`, [
      { name: "image", volume: { ...geo, data: image } },
      { name: "label", volume: { ...geo, data: new Float32Array(NX * NY * NZ).fill(9) } },
    ], "zyx");
  }
  const configPath = `${root}/config.json`;
  Deno.writeTextFileSync(
    configPath,
    JSON.stringify({
      name: "h5",
      data: { classes: CLASSES, hdf5: { axes: "zyx" }, roles: { validation: [], test: [] } },
    }),
  );
  const first = await Effect.runPromise(loadConfig(configPath, []));
  const specs = await discoverCases(data, { hdf5LabelKey: "label" });
  const image = await readCaseImage(specs[1], readOptions(first.data));
  const painted = new Uint8Array(NX * NY).map((_, i) => (i % 3 === 0 ? 1 : i % 5 === 0 ? 2 : 0));
  const out = `${root}/out`;
  Deno.mkdirSync(out);
  const saved = await saveExemplar({
    out,
    configPath,
    specs,
    caseId: "h1",
    image,
    slice: 3,
    labels: painted,
    classes: CLASSES,
    discover: { hdf5LabelKey: "label" },
  });
  assertEquals(saved.exemplar, { case: "h1", slice: 3 });
  assertEquals(saved.list, `${out}/${LIST_NAME}`);
  // The label: the image's grid, the painted slice, zeros elsewhere.
  const label = readNifti(saved.label);
  assertEquals(label.shape, SHAPE);
  assertEquals([...label.data.subarray(3 * NX * NY, 4 * NX * NY)], [...painted]);
  assertEquals(label.data.reduce((a, v) => a + v, 0), painted.reduce((a, v) => a + v, 0));
  // The config: the user's fields kept, the list as source, the exemplar set.
  const config = await Effect.runPromise(loadConfig(configPath, []));
  assertEquals(config.name, "h5");
  assertEquals(config.data.hdf5.axes, "zyx");
  assertEquals(config.data.source, saved.list);
  assertEquals(config.data.roles.exemplar, { case: "h1", slice: 3 });

  const stored = async () => {
    const { env, error } = await runIngest(config);
    assertEquals(error, undefined, String(error && describeError(error)));
    const up = (await Effect.runPromise(resolveStage(env, "ingest")))!;
    const records = (up.summaries as IngestOutput[]).flatMap((s) => s.cases);
    assertEquals(records.map((r) => [r.id, r.role]), [
      ["h0", "unlabelled"],
      ["h1", "exemplar"],
      ["h2", "unlabelled"],
    ]);
    const h1 = records.find((r) => r.id === "h1")!;
    assertEquals(h1.exemplarSlice, 3);
    const arrays = decodeArrays(await Effect.runPromise(up.read(h1.artifact))).arrays;
    assertEquals(arrays.label.shape, [1, NY, NX]);
    return [...(arrays.label.data as Uint8Array)];
  };
  assertEquals(await stored(), [...painted]);

  // Partially annotated: NaN, -1 and 255 everywhere but the exemplar slice are never read.
  const partial = Float32Array.from(label.data);
  for (let i = 0; i < partial.length; i++) {
    if (Math.floor(i / (NX * NY)) !== 3) partial[i] = [NaN, -1, 255][i % 3];
  }
  writeNifti(saved.label, { ...label, data: partial });
  assertEquals(await stored(), [...painted]);

  // A value outside the classes inside the exemplar slice fails ingest, naming file and slice.
  partial[3 * NX * NY + 5] = 7;
  writeNifti(saved.label, { ...label, data: partial });
  const { error } = await runIngest(config);
  assertEquals(exitCodeOf(error), 65);
  const line = describeError(error);
  assert(line.includes(saved.label) && line.includes("exemplar slice 3"), line);
  assert(line.includes("value 7"), line);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("a new config's roles: a fifth of the cases at most for validation, the user's kept", () => {
  const specs = Array.from({ length: 10 }, (_, i) => ({
    id: `c${i}`,
    format: "nifti" as const,
    imagePath: `/d/c${i}.nii.gz`,
    ...(i % 4 === 3 ? {} : { labelPath: `/d/c${i}_label.nii.gz` }),
  }));
  const exemplar = { case: "c1", slice: 2 };
  const fresh = withExemplar({ name: "x" }, "/o/cases.txt", exemplar, specs);
  assertEquals(fresh, {
    name: "x",
    data: {
      source: "/o/cases.txt",
      root: null,
      roles: { validation: ["c0", "c2"], test: [], exemplar },
    },
  });
  const own = withExemplar(
    { data: { classes: ["b", "x"], roles: { validation: ["c9"], labelled: 1 } } },
    "/o/cases.txt",
    exemplar,
    specs,
  );
  assertEquals(own.data, {
    classes: ["b", "x"],
    source: "/o/cases.txt",
    root: null,
    roles: { validation: ["c9"], test: [], labelled: 1, exemplar },
  });
});
