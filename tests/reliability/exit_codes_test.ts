/**
 * Failures that are not bugs get their documented exit code and one line (docs/reliability.md):
 * a store that cannot be written or is a file, a full disk (74); a normalize.size the network
 * cannot take and more classes than the phantoms have (64, before any stage runs); an unwritable
 * `predict --out` (74, no stack trace).
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { describeError, exitCodeOf } from "../../pipeline/errors.ts";
import { failureOf } from "../../pipeline/runner.ts";
import { makeFileStore } from "../../pipeline/store.ts";
import { errorLines, hasStackTrace, predictOne, unwritablePath } from "./fixtures.ts";

const TINY = ["--config", "tests/pipeline/tiny.json", "--set", "train.steps=2"];

/** Exit code, one `error:` line containing `needle`, no stack trace. */
function assertOneLine(res: { code: number; stderr: string }, code: number, needle: string) {
  assertEquals(res.code, code, res.stderr);
  const lines = errorLines(res.stderr);
  assertEquals(lines.length, 1, res.stderr);
  assert(lines[0].includes(needle), `"${needle}" not in: ${lines[0]}`);
  assert(!hasStackTrace(res.stderr), `stack trace:\n${res.stderr}`);
}

Deno.test("a store that cannot be written, or that is a file: exit 74, one line with the fix", async () => {
  const unwritable = await cli(["run", "--store", unwritablePath(), ...TINY]);
  assertOneLine(unwritable, 74, "writable");
  const file = await Deno.makeTempFile();
  const isFile = await cli(["run", "--store", file, ...TINY]);
  assertOneLine(isFile, 74, "is a file, not a folder");
});

Deno.test("a full disk under the store (ENOSPC from the kernel): exit 74, one line", async () => {
  const root = await Deno.makeTempDir();
  const store = makeFileStore(root);
  // The store writes `<key>.tmp-<pid>-<n>` then renames it; that temp file is /dev/full here,
  // whose every write fails with ENOSPC.
  await Deno.mkdir(`${root}/runs`);
  await Deno.symlink("/dev/full", `${root}/runs/m.json.tmp-${Deno.pid}-0`);
  const exit = await Effect.runPromiseExit(store.put("runs/m.json", new Uint8Array(64)));
  assert(Exit.isFailure(exit), "the write succeeded");
  const error = failureOf(exit.cause);
  assertEquals(exitCodeOf(error), 74, describeError(error));
  assert(/disk is full/.test(describeError(error)), describeError(error));
  assert(!describeError(error).includes("\n"), describeError(error));
});

Deno.test("config the network or the phantoms cannot take: exit 64 at once, nothing run", async () => {
  const store = await Deno.makeTempDir();
  const size = await cli([
    "run",
    "--store",
    store,
    ...TINY,
    "--set",
    "normalize.size=[33,30]",
    "--set",
    'data.classes=["bg","a","b","c","d","e"]',
  ]);
  assertEquals(size.code, 64, size.stderr);
  assert(size.stderr.includes("normalize.size: [33, 30] must be multiples of 2"), size.stderr);
  assert(size.stderr.includes("e.g. [34, 30]"), size.stderr);
  assert(size.stderr.includes("data.classes: 5 foreground classes"), size.stderr);
  assert(!hasStackTrace(size.stderr), size.stderr);
  assertEquals([...Deno.readDirSync(store)], [], "no stage ran");
});

Deno.test("predict with an --out that cannot be created: exit 74, one line, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  assertOneLine(await predictOne(dir, unwritablePath()), 74, "cannot write");
  assertOneLine(await predictOne(dir, `${dir}/c0.nii.gz/masks`), 74, "is a file, not a folder");
});
