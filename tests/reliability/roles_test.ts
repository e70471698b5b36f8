/**
 * Roles that contradict the data: every wrong ID listed at once, with exit 64 whether the data
 * are phantoms or files; a test case without a label refused at ingest (exit 65), before any
 * training, and an ingest committed before that rule failing evaluate with one line (exit 65).
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { describeError, exitCodeOf } from "../../pipeline/errors.ts";
import { failureOf } from "../../pipeline/runner.ts";
import type { AnyStage, StageContext } from "../../pipeline/stage.ts";
import type { IngestOutput } from "../../schemas/outputs.ts";
import { decodeArrays, encodeArrays } from "../../io/array_container.ts";
import { ingest } from "../../stages/ingest/stage.ts";
import { stages as registry } from "../../stages/registry.ts";
import { runTiny } from "../stages/tiny_run.ts";
import { errorLines, hasStackTrace, writeCase, writeConfig } from "./fixtures.ts";

/** c0..c3 with labels, c4 and c5 without. */
async function dataset(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/ds`);
  for (let i = 0; i < 6; i++) writeCase(`${dir}/ds`, `c${i}`, i, { label: i < 4 });
  return dir;
}

/** The same roles run on the files of `dataset()` and on the tiny phantom config. */
async function onFilesAndPhantoms(roles: Record<string, unknown>, phantomRoles = roles) {
  const dir = await dataset();
  writeConfig(`${dir}/files.json`, `${dir}/ds`, roles);
  return [
    await cli(["run", "--config", `${dir}/files.json`, "--store", `${dir}/s1`]),
    await cli([
      "run",
      "--config",
      "tests/pipeline/tiny.json",
      "--store",
      `${dir}/s2`,
      "--set",
      `data.roles=${JSON.stringify(phantomRoles)}`,
    ]),
  ];
}

const stagesRun = (store: string) => {
  try {
    return [...Deno.readDirSync(`${store}/runs`)].flatMap((run) =>
      [...Deno.readDirSync(`${store}/runs/${run.name}/stages`)].map((s) => s.name)
    );
  } catch {
    return [];
  }
};

Deno.test("several wrong IDs in data.roles: all listed at once, exit 64 for phantoms and files alike", async () => {
  const wrong = {
    exemplar: { case: "nope-3", slice: "largest" },
    labelled: ["nope-4"],
    validation: ["nope-1"],
    test: ["nope-2"],
  };
  const expected = [
    'data.roles.test: unknown case ID "nope-2"',
    'data.roles.validation: unknown case ID "nope-1"',
    'data.roles.exemplar.case: unknown case ID "nope-3"',
    'data.roles.labelled: unknown case ID "nope-4"',
  ];
  for (const res of await onFilesAndPhantoms(wrong)) {
    assertEquals(res.code, 64, res.stderr);
    for (const line of expected) assert(res.stderr.includes(line), `${line} in:\n${res.stderr}`);
  }
});

Deno.test("an exemplar slice past the data's depth: exit 64 for phantoms and files alike", async () => {
  const pastDepth = (id: string, validation: string) => ({
    exemplar: { case: id, slice: 9 },
    labelled: 0,
    validation: [validation],
    test: [],
  });
  const runs = await onFilesAndPhantoms(
    pastDepth("c0", "c1"),
    pastDepth("phantom-000", "phantom-006"),
  );
  for (const res of runs) {
    assertEquals(res.code, 64, res.stderr);
    assert(res.stderr.includes("data.roles.exemplar.slice: 9 is outside 0.."), res.stderr);
  }
});

Deno.test("a test case without a label: exit 65 at ingest naming it (and every other), nothing trained", async () => {
  const dir = await dataset();
  writeConfig(`${dir}/config.json`, `${dir}/ds`, {
    labelled: ["c0", "c5"],
    validation: ["c1"],
    test: ["c2", "c4"],
  });
  const res = await cli(["run", "--config", `${dir}/config.json`, "--store", `${dir}/store`]);
  assertEquals(res.code, 65, res.stderr);
  const [line] = errorLines(res.stderr);
  assertEquals(errorLines(res.stderr).length, 1, res.stderr);
  assert(line.includes(`${dir}/ds/c5.nii.gz: case "c5" has role labelled but no label`), line);
  assert(line.includes(`so has "c4" (test, ${dir}/ds/c4.nii.gz)`), line);
  assert(!hasStackTrace(res.stderr), res.stderr);
  assertEquals(stagesRun(`${dir}/store`), ["ingest"], "nothing after ingest ran");
});

/** Ingest as it was before test cases needed a label: the test case's label is not stored. */
const legacyIngest = (testId: string): AnyStage => ({
  ...ingest,
  run: (ctx: StageContext, input: Parameters<typeof ingest.run>[1]) =>
    Effect.map(
      ingest.run({
        ...ctx,
        write: (name, bytes) => {
          if (name !== `case-${testId}.bin`) return ctx.write(name, bytes);
          const { meta, arrays } = decodeArrays(bytes);
          return ctx.write(
            name,
            encodeArrays({ ...meta, labelSlices: [] }, {
              image: arrays.image as { data: Float32Array; shape: number[] },
            }),
          );
        },
      }, input),
      (out) => ({
        cases: (out as IngestOutput).cases.map((c) =>
          c.id === testId ? { ...c, hasLabel: false } : c
        ),
      }),
    ),
});

Deno.test("an ingest committed with a label-less test case: evaluate fails with one line, exit 65", async () => {
  const stages = registry.map((s) => (s.name === "ingest" ? legacyIngest("phantom-007") : s));
  const { exit } = await runTiny(["train.steps=2"], { stages });
  assert(Exit.isFailure(exit), "the run succeeded");
  const error = failureOf(exit.cause);
  assertEquals(exitCodeOf(error), 65, describeError(error));
  assert(
    describeError(error).includes('test case "phantom-007" has no label'),
    describeError(error),
  );
});
