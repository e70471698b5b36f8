/**
 * The annotate page in Debian's headless Chromium (DevTools protocol, tests/annotate/cdp.ts):
 *
 * - end to end: `pipeline annotate` (a real process) on a small NIfTI folder; two classes painted
 *   with mouse strokes, an erasure undone; saved; `pipeline run --config` with the saved config;
 *   the exemplar label ingest stored equals what was painted; the page's prediction overlay is
 *   `pipeline predict`'s mask, voxel for voxel;
 * - timing on a 200x200x88 volume: page load to the first slice drawn, and input to a new slice
 *   drawn, measured in the page (performance.now against the input event's timeStamp).
 *
 * DUET_ANNOTATE_SCREENSHOTS=dir keeps the screenshots (case list, painting, prediction overlay).
 */
import { Effect } from "effect";
import { decode } from "fast-png";
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { cli, spawnCli } from "../cli.ts";
import { tempDir } from "../io/python.ts";
import { Browser, type Page } from "./cdp.ts";
import { CLASSES, phantomFolder, serve } from "./fixtures.ts";
import { strokeLine } from "../../annotate/web/paint.js";
import { loadConfig } from "../../pipeline/config.ts";
import { defaultRunId } from "../../pipeline/manifest.ts";
import { makeMemoryReporter } from "../../pipeline/progress.ts";
import { resolveStage, type RunEnv } from "../../pipeline/runner.ts";
import { makeFileStore } from "../../pipeline/store.ts";
import { stages } from "../../stages/registry.ts";
import { decodeArrays } from "../../io/array_container.ts";
import type { ExportOutput, IngestOutput } from "../../schemas/outputs.ts";
import { readNifti } from "../../io/nifti.ts";
import { SERIES_COLORS } from "../../report/chart.ts";
import { hexRgb } from "../../annotate/web/view.js";
import { encodeNifti } from "../../io/nifti.ts";
import { identityAffine } from "../../io/volume.ts";

const SHOTS = Deno.env.get("DUET_ANNOTATE_SCREENSHOTS");

async function shot(page: Page, name: string): Promise<{ seen: (rgb: number[]) => number }> {
  const png = await page.screenshot();
  if (SHOTS) await Deno.writeFile(join(SHOTS, `${name}.png`), png);
  const img = decode(png);
  const counts = new Map<number, number>();
  for (let i = 0; i < img.width * img.height; i++) {
    const o = i * img.channels;
    const key = (img.data[o] << 16) | (img.data[o + 1] << 8) | img.data[o + 2];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { seen: (c) => counts.get((c[0] << 16) | (c[1] << 8) | c[2]) ?? 0 };
}

/** Reads annotate's stdout until it prints the URL. */
async function urlOf(child: Deno.ChildProcess): Promise<{ url: string; rest: Promise<string> }> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`annotate exited before printing its URL: ${text}`);
    text += value;
    const url = text.match(/open (http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]+\/)/)?.[1];
    if (url) {
      const rest = (async () => {
        while (!(await reader.read()).done) { /* drain */ }
        return text;
      })();
      return { url, rest };
    }
  }
}

/** Client coordinates of the centre of voxel (x, y) of the axial canvas. */
async function voxelToClient(page: Page, shape: readonly number[]) {
  const r = await page.evaluate<{ left: number; top: number; width: number; height: number }>(
    `(() => { const r = document.getElementById("axial").getBoundingClientRect();
      return { left: r.left, top: r.top, width: r.width, height: r.height }; })()`,
  );
  return (x: number, y: number) => ({
    cx: r.left + ((x + 0.5) / shape[0]) * r.width,
    cy: r.top + ((y + 0.5) / shape[1]) * r.height,
  });
}

async function drag(
  page: Page,
  at: (x: number, y: number) => { cx: number; cy: number },
  pts: number[][],
) {
  const [x0, y0] = pts[0];
  await page.mouse("mousePressed", at(x0, y0).cx, at(x0, y0).cy);
  for (const [x, y] of pts.slice(1)) await page.mouse("mouseMoved", at(x, y).cx, at(x, y).cy);
  const [xe, ye] = pts[pts.length - 1];
  await page.mouse("mouseReleased", at(xe, ye).cx, at(xe, ye).cy);
}

async function key(page: Page, k: string, code: string, vk: number, modifiers = 0) {
  for (const type of ["keyDown", "keyUp"]) {
    await page.send("Input.dispatchKeyEvent", {
      type,
      key: k,
      code,
      windowsVirtualKeyCode: vk,
      modifiers,
    });
  }
}

Deno.test({
  name: "annotate e2e: paint two classes in Chromium, save, run, ingest stores exactly that",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const root = tempDir("annotate-e2e");
  const SHAPE: [number, number, number] = [48, 40, 12];
  const data = phantomFolder(`${root}/data`, { count: 4, shape: SHAPE, labelled: ["p3"] });
  const dataFiles = [...Deno.readDirSync(data)].map((e) => e.name).sort();
  const out = `${root}/out`, configPath = `${root}/run.json`, store = `${root}/store`;
  // The user's config: tiny training, p3 (labelled) for validation; annotate adds the rest.
  Deno.writeTextFileSync(
    configPath,
    JSON.stringify({
      name: "annotate-e2e",
      data: { classes: CLASSES, roles: { validation: ["p3"], test: [] } },
      normalize: { size: [32, 32] },
      synthesize: { count: 4 },
      train: {
        model: { channels: [4, 8], dropout: [0, 0.1] },
        steps: 4,
        batch: { labelled: 2, unlabelled: 2 },
        checkpointEvery: 4,
        validateEvery: 4,
        preciseBn: 0,
      },
      evaluate: { baseline: false },
    }),
  );
  const child = spawnCli([
    "annotate",
    "--data",
    data,
    "--out",
    out,
    "--config",
    configPath,
    "--store",
    store,
  ]);
  const { url, rest } = await urlOf(child);
  const browser = await Browser.launch();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitFor(`window.duetTimings && window.duetTimings.firstSlice > 0`);
    const listed = await page.evaluate<string[]>(
      `[...document.querySelectorAll("#cases li")].map((li) => li.dataset.id)`,
    );
    assertEquals(listed, ["p0", "p1", "p2", "p3"]);
    const z = await page.evaluate<number>(`Number(document.getElementById("slice").value)`);
    const suggested = await page.evaluate<string>(
      `document.getElementById("suggested").textContent`,
    );
    assertEquals(String(z), suggested, "the page opens on the suggested slice");
    await shot(page, "1-case-list");

    const at = await voxelToClient(page, SHAPE);
    const [nx, ny] = SHAPE;
    const expected = new Uint8Array(nx * ny);
    // class 1 (selected at start), brush radius 2: a horizontal stroke
    await drag(page, at, [[8, 12], [16, 12], [26, 13]]);
    strokeLine(expected, nx, ny, 8, 12, 16, 12, 2, 1);
    strokeLine(expected, nx, ny, 16, 12, 26, 13, 2, 1);
    // class 2, radius 1 ("[" once): a vertical stroke across it
    await page.click(`[data-class="2"]`);
    await key(page, "[", "BracketLeft", 219);
    assertEquals(await page.evaluate(`document.getElementById("radius-label").textContent`), "1");
    await drag(page, at, [[20, 4], [20, 22]]);
    strokeLine(expected, nx, ny, 20, 4, 20, 22, 1, 2);
    // an erasure, undone with ctrl+z: no change
    await key(page, "e", "KeyE", 69);
    await drag(page, at, [[10, 12]]);
    const erased = await page.evaluate<string>(`document.getElementById("cases").textContent`);
    assert(erased.includes("painted"), erased);
    await key(page, "z", "KeyZ", 90, 2 /* ctrl */);
    // The classes are drawn in the report's colours: the swatches exactly, and the painted
    // voxels (half colour, half grey) tinted blue (organ, #0072B2) and orange (vessel, #D55E00).
    const painting = await shot(page, "2-painting");
    const [organ, vessel] = SERIES_COLORS.slice(0, 2).map(hexRgb);
    assert(painting.seen(organ) >= 100 && painting.seen(vessel) >= 100);
    const pixel = (x: number, y: number) =>
      page.evaluate<number[]>(
        `[...document.getElementById("axial").getContext("2d").getImageData(
          ${at(x, y).cx} - document.getElementById("axial").getBoundingClientRect().left,
          ${
          at(x, y).cy
        } - document.getElementById("axial").getBoundingClientRect().top, 1, 1).data]`,
      );
    const [o, v, g] = [await pixel(10, 12), await pixel(20, 6), await pixel(40, 30)];
    assert(o[2] > o[0] + 40 && v[0] > v[2] + 40, `organ ${o}, vessel ${v}`);
    assert(g[0] === g[1] && g[1] === g[2], `unpainted ${g}`);

    await page.click("#save");
    await page.waitFor(`document.getElementById("status").textContent.startsWith("Saved")`);
    const saved = await page.evaluate<string>(`document.getElementById("saved").textContent`);
    assert(saved.includes(`deno task pipeline run --config ${configPath}`), saved);
    const badge = await page.evaluate<string>(
      `document.querySelector("#cases .exemplar").textContent`,
    );
    assertEquals(badge, `exemplar z${z}`);

    // The saved config, unedited, trains.
    const run = await cli(["run", "--config", configPath, "--store", store]);
    assertEquals(run.code, 0, run.stderr);
    const config = await Effect.runPromise(loadConfig(configPath, []));
    assertEquals(config.data.roles.exemplar, { case: "p0", slice: z });
    const env: RunEnv = {
      store: makeFileStore(store),
      runId: defaultRunId(config),
      config,
      reporter: makeMemoryReporter(),
      device: "cpu",
      signal: new AbortController().signal,
      stages,
      cache: new Map(),
    };
    const ingested = (await Effect.runPromise(resolveStage(env, "ingest")))!;
    const record = (ingested.summaries as IngestOutput[]).flatMap((s) => s.cases)
      .find((c) => c.id === "p0")!;
    assertEquals([record.role, record.exemplarSlice], ["exemplar", z]);
    const stored = decodeArrays(await Effect.runPromise(ingested.read(record.artifact)));
    assertEquals(stored.arrays.label.shape, [1, ny, nx]);
    const label = stored.arrays.label.data as Uint8Array;
    assertEquals([...label], [...expected]);
    assert(expected.includes(1) && expected.includes(2));

    // Predictions: the page's overlay is predict's mask.
    await page.click("#show-pred");
    await page.waitFor(
      `document.getElementById("pred-info").textContent.startsWith("run ")`,
      60_000,
    );
    const overlay = await page.evaluate<number[]>(
      `fetch("api/cases/p0/prediction").then((r) => r.arrayBuffer()).then((b) => [...new Uint8Array(b)])`,
    );
    const exported = (await Effect.runPromise(resolveStage(env, "export")))!;
    const modelUri = exported.uri((exported.summaries[0] as ExportOutput).model);
    const predicted = await cli([
      "predict",
      "--model",
      new URL(modelUri).pathname,
      "--input",
      `${data}/p0.nii.gz`,
      "--out",
      `${root}/pred`,
    ]);
    assertEquals(predicted.code, 0, predicted.stderr);
    assertEquals(overlay, [...readNifti(`${root}/pred/p0.nii.gz`).data]);
    await shot(page, "3-prediction");
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    const status = await child.status;
    await rest;
    assertEquals(status.code, 0);
    // Nothing was written into the data folder (everything went to --out and the config).
    assertEquals([...Deno.readDirSync(data)].map((e) => e.name).sort(), dataFiles);
    Deno.removeSync(root, { recursive: true });
  }
});

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

Deno.test({
  name:
    "annotate timing on a 200x200x88 volume: first slice drawn, and each new slice within 50 ms",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const root = tempDir("annotate-timing");
  const [nx, ny, nz] = [200, 200, 88];
  const data = new Float32Array(nx * ny * nz);
  let seed = 1;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const inside = (x - 100) ** 2 + (y - 100) ** 2 < (60 + 20 * Math.sin(z / 14)) ** 2;
        data[x + nx * (y + ny * z)] = (inside ? 300 : 40) + (seed >>> 24);
      }
    }
  }
  Deno.mkdirSync(`${root}/data`);
  Deno.writeFileSync(
    `${root}/data/big.nii.gz`,
    encodeNifti({
      data,
      shape: [nx, ny, nz],
      spacing: [1, 1, 1.5],
      affine: identityAffine([1, 1, 1.5]),
    }, { level: 1 }),
  );
  const server = await serve(`${root}/data`, { out: `${root}/out`, configPath: `${root}/c.json` });
  const browser = await Browser.launch();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitFor(`window.duetTimings && window.duetTimings.firstSlice > 0`, 60_000);
    const firstSlice = await page.evaluate<number>(`window.duetTimings.firstSlice`);
    // Of which: the case's meta (the server reads the scan) and its voxels (7 MB of uint16).
    const fetches = await page.evaluate<Record<string, number>>(
      `Object.fromEntries(performance.getEntriesByType("resource")
        .map((e) => [e.name.split("/").slice(-2).join("/"), Math.round(e.duration)]))`,
    );
    const at = await voxelToClient(page, [nx, ny]);
    const { cx, cy } = at(100, 100);
    for (let i = 0; i < 40; i++) {
      await page.wheel(cx, cy, i < 20 ? -100 : 100);
      await page.waitFor(`window.duetTimings.slice.length === ${i + 1}`);
    }
    const t = await page.evaluate<{ slice: number[]; draw: number[] }>(`window.duetTimings`);
    const line = `page load to first slice ${firstSlice.toFixed(0)} ms; new slice drawn after ` +
      `median ${median(t.slice).toFixed(1)} ms, max ${Math.max(...t.slice).toFixed(1)} ms ` +
      `(drawing alone: median ${median(t.draw).toFixed(1)} ms, max ${
        Math.max(...t.draw).toFixed(1)
      } ms); fetches (ms): ${JSON.stringify(fetches)}`;
    console.log(line);
    if (SHOTS) Deno.writeTextFileSync(join(SHOTS, "timing.txt"), line + "\n");
    assertEquals(t.slice.length, 40);
    assert(median(t.slice) < 50, line);
    assert(firstSlice < 10_000, line);
  } finally {
    await browser.close();
    await server.close();
    Deno.removeSync(root, { recursive: true });
  }
});
