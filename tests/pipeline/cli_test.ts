/**
 * The CLI as users and schedulers drive it, in real processes: SIGKILL at random moments then
 * `resume`, 2D and 3D, with and without a memory bank (same digests as an uninterrupted run,
 * committed units never re-executed), two racing `stage` processes, bad configs (exit 64), a
 * corrupted artifact (exit 65).
 */
import { assert, assertEquals } from "../assert.ts";
import { Rng } from "../../random/rng.ts";
import { cli, spawnCli } from "../cli.ts";
import { TINY_VNET } from "../stages/tiny_run.ts";

const FAST = [
  "--config",
  "tests/pipeline/tiny.json",
  "--set",
  "train.steps=60",
  "--set",
  "train.checkpointEvery=10",
  "--set",
  "train.validateEvery=30",
];

/** Every committed unit of a file store: stage → sorted [artifact, digest] pairs, plus attempt claims. */
async function committed(store: string, runId: string) {
  const digests: Record<string, string[]> = {};
  const units: { marker: { committedAt: string }; starts: string[] }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else if (e.name === "_SUCCESS.json") {
        const marker = JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`));
        digests[marker.stage] = marker.artifacts.map((a: { name: string; digest: string }) =>
          `${a.name}:${a.digest}`
        );
        const starts: string[] = [];
        for await (const a of Deno.readDir(dir)) {
          if (a.name.startsWith("attempt-")) {
            starts.push(
              JSON.parse(await Deno.readTextFile(`${dir}/${a.name}/_STARTED.json`)).startedAt,
            );
          }
        }
        units.push({ marker, starts });
      }
    }
  };
  try {
    await walk(`${store}/runs/${runId}/stages`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return { digests, units };
}

/**
 * Runs `config` uninterrupted, then kills fresh runs of it at random moments until `maxKills`
 * processes died mid-run, resuming each sequence to the end: the final digests must equal the
 * uninterrupted run's, and no committed stage may run again.
 */
async function killAndResume(config: readonly string[], maxKills: number, seed: number) {
  const reference = await Deno.makeTempDir();
  const t0 = performance.now();
  const ref = await cli(["run", "--store", reference, "--run-id", "r", ...config]);
  assertEquals(ref.code, 0, ref.stderr);
  const fullMs = performance.now() - t0;
  const expected = (await committed(reference, "r")).digests;
  assertEquals(Object.keys(expected).length, 9);

  const rng = new Rng(seed);
  let kills = 0;
  let store = "";
  const finishAndCheck = async () => {
    // Every kill of a sequence may land before the manifest was written (a slow start): then
    // there is no run to `resume`, and `run` starts it the way a user would.
    const started = await Deno.stat(`${store}/runs/r/manifest.json`).then(() => true, () => false);
    const final = await cli(
      started
        ? ["resume", "--store", store, "--run-id", "r"]
        : ["run", "--store", store, "--run-id", "r", ...config],
    );
    assertEquals(final.code, 0, final.stderr);
    const after = await committed(store, "r");
    assertEquals(after.digests, expected);
    for (const { marker, starts } of after.units) {
      assert(
        starts.every((s) => s <= marker.committedAt),
        "an attempt started after its unit was committed",
      );
    }
  };
  // Sequences of kills on fresh stores until `maxKills` processes died mid-run; each sequence is
  // then resumed to the end and compared with the uninterrupted run.
  while (kills < maxKills) {
    store = await Deno.makeTempDir();
    for (let k = 0; k < 3 && kills < maxKills; k++) {
      // `run` with the same config and run ID continues the run (an early kill may come before
      // the manifest exists, where `resume` would have nothing to resume).
      const res = await cli(["run", "--store", store, "--run-id", "r", ...config], {
        killAfterMs: rng.uniform(0.1, 0.7) * fullMs,
      });
      if (res.signal !== "SIGKILL") {
        assertEquals(res.code, 0, res.stderr);
        break;
      }
      kills++;
    }
    await finishAndCheck();
  }
  const again = await cli(["resume", "--store", store, "--run-id", "r"]);
  assertEquals(again.code, 0);
  assertEquals((again.stderr.match(/cached/g) ?? []).length, 9, again.stderr);
}

Deno.test("SIGKILL at random moments, then resume: same final digests, committed stages never rerun", async () => {
  await killAndResume(FAST, 20, 7);
});

Deno.test("SIGKILL and resume with caml's memory bank and attention: the bank resumes bit-identically", async () => {
  const caml = ["train.method=caml", "train.caml.cma=true", "train.caml.occ.weight=0.05"];
  await killAndResume([...FAST, ...caml.flatMap((s) => ["--set", s])], 6, 11);
});

Deno.test("SIGKILL and resume of a 3D V-Net caml pair with its voxel memory bank: same final digests", async () => {
  const vnet = [
    ...TINY_VNET,
    "train.method=caml",
    "train.caml.cma=true",
    "train.caml.occ.weight=0.05",
    "train.caml.occ.enqueue=16",
    "train.caml.occ.filtered=64",
  ];
  await killAndResume([...FAST, ...vnet.flatMap((s) => ["--set", s])], 4, 13);
});

Deno.test("two `stage` processes for the same unit: one commits, the other reports cached", async () => {
  const store = await Deno.makeTempDir();
  // `run --from normalize` writes the run manifest, then refuses: ingest is not committed.
  const manifest = await cli([
    "run",
    "--store",
    store,
    "--run-id",
    "s2",
    "--from",
    "normalize",
    ...FAST,
  ]);
  assertEquals(manifest.code, 64, manifest.stderr);
  assert(manifest.stderr.includes("ingest is not committed"), manifest.stderr);
  const [a, b] = await Promise.all([
    cli(["stage", "ingest", "--store", store, "--run-id", "s2"]),
    cli(["stage", "ingest", "--store", store, "--run-id", "s2"]),
  ]);
  assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
  const said = [a.stderr, b.stderr].map((
    s,
  ) => (s.includes("cached") ? "cached" : s.includes("committed") ? "committed" : s));
  assertEquals(said.sort(), ["cached", "committed"]);
  assertEquals((await committed(store, "s2")).units.length, 1);
  const status = await cli(["status", "--store", store, "--run-id", "s2"]);
  assertEquals(status.code, 0, status.stderr);
  assert(/ingest\s+committed/.test(status.stdout + status.stderr), status.stdout);
});

Deno.test("bad config: exit 64 with every problem listed", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    file,
    JSON.stringify({ seed: "one", train: { method: "magic", steps: 0 }, stages: {} }),
  );
  const res = await cli(["run", "--config", file, "--store", await Deno.makeTempDir()]);
  assertEquals(res.code, 64);
  for (
    const problem of [
      "seed: expected",
      "train.method: expected",
      "train.steps: expected",
      "stages: unknown field",
    ]
  ) {
    assert(res.stderr.includes(problem), `missing "${problem}" in:\n${res.stderr}`);
  }
  const unknownStage = await cli([
    "stage",
    "polish",
    "--run-id",
    "x",
    "--store",
    await Deno.makeTempDir(),
  ]);
  assertEquals(unknownStage.code, 64);
  const badFlag = await cli(["run", "--device", "tpu"]);
  assertEquals(badFlag.code, 64);
});

Deno.test("a corrupted committed artifact: the reading stage exits 65 naming it", async () => {
  const store = await Deno.makeTempDir();
  const first = await cli([
    "run",
    "--store",
    store,
    "--run-id",
    "c",
    ...FAST,
    "--set",
    "train.steps=5",
  ]);
  assertEquals(first.code, 0, first.stderr);
  const { units } = await committed(store, "c");
  const ingestUnit = units.find((u) =>
    (u.marker as unknown as { stage: string }).stage === "ingest"
  )!;
  const artifact =
    (ingestUnit.marker as unknown as { artifacts: { key: string }[] }).artifacts[0].key;
  const bytes = await Deno.readFile(`${store}/${artifact}`);
  bytes[bytes.length - 1] ^= 0xff;
  await Deno.writeFile(`${store}/${artifact}`, bytes);
  // A new normalize key (other size) makes normalize read the corrupted ingest artifact.
  const res = await cli([
    "run",
    "--store",
    store,
    "--run-id",
    "c2",
    ...FAST,
    "--set",
    "train.steps=5",
    "--set",
    "normalize.size=[32,32]",
  ]);
  assertEquals(res.code, 0, "another run id has its own ingest");
  await Deno.remove(`${store}/runs/c/stages/normalize`, { recursive: true });
  const bad = await cli(["resume", "--store", store, "--run-id", "c"]);
  assertEquals(bad.code, 65, bad.stderr);
  assert(bad.stderr.includes(artifact), bad.stderr);
});

/** SIGTERM once `stage`'s training loop shows `bar`: checkpoint written, 143, resume continues. */
async function sigtermDuring(bar: string) {
  const store = await Deno.makeTempDir();
  const args = [
    "run",
    "--store",
    store,
    "--run-id",
    "t",
    ...FAST,
    "--set",
    `train.steps=${bar === "train cmems" ? 400 : 150}`,
    "--set",
    "train.checkpointEvery=5000",
  ];
  const child = spawnCli(args);
  // Wait until the loop has started, then ask it to stop.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(bar)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const t0 = performance.now();
  child.kill("SIGTERM");
  while (!(await reader.read()).done);
  const { code } = await child.status;
  assertEquals(code, 143);
  assert(performance.now() - t0 < 30_000);
  const resumed = await cli(["resume", "--store", store, "--run-id", "t"]);
  assertEquals(resumed.code, 0, resumed.stderr);
  assert(/resuming from checkpoint at step [1-9]/.test(resumed.stderr), resumed.stderr);
}

Deno.test("SIGTERM during train: checkpoint written, exit 143, resume continues from it", () =>
  sigtermDuring("train cmems"));

// The supervised baseline pair trains with the same loop: the runner waits for its checkpoint too.
Deno.test("SIGTERM during baseline: checkpoint written, exit 143, resume continues from it", () =>
  sigtermDuring("train supervised"));
