/**
 * No key leaves the store: every store refuses keys with '.', '..' or empty segments, and every
 * command refuses a --run-id that is not a plain name (exit 64) before reading or writing.
 */
import { Effect, Exit } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { makeFileStore, makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";

const failsWithoutEffect = async (store: ObjectStoreShape, key: string) => {
  const bytes = new TextEncoder().encode("x");
  for (
    const op of [
      store.put(key, bytes),
      store.putIfAbsent(key, bytes),
      store.get(key),
      store.list(key),
      store.remove(key),
    ]
  ) {
    const exit = await Effect.runPromiseExit(op as Effect.Effect<unknown, unknown>);
    assert(Exit.isFailure(exit), `${store.uri}: "${key}" was accepted`);
    assert(String(exit.cause).includes("would leave the store"), String(exit.cause));
  }
};

Deno.test("stores refuse keys that would leave their root, and write nothing outside", async () => {
  const dir = await Deno.makeTempDir();
  const file = makeFileStore(`${dir}/a/store`);
  for (const key of ["runs/../../x/m.json", "../x", "runs/./x", "/etc/x", "runs//x", "runs/.."]) {
    await failsWithoutEffect(file, key);
    await failsWithoutEffect(makeMemoryStore(), key);
  }
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], "nothing created");
  // Ordinary keys and list prefixes still work.
  await Effect.runPromise(file.put("runs/r/m.json", new Uint8Array([1])));
  assertEquals(await Effect.runPromise(file.list("runs/")), ["runs/r/m.json"]);
  assertEquals((await Effect.runPromise(file.list(""))).length, 1);
});

Deno.test("every command refuses a --run-id that escapes --store (exit 64), reading and writing nothing", async () => {
  const dir = await Deno.makeTempDir();
  // A real run manifest next to the store, where "<store>/runs/../../other/runs/x" points.
  const made = await cli([
    "run",
    "--store",
    `${dir}/other`,
    "--run-id",
    "x",
    "--from",
    "normalize",
    "--config",
    "tests/pipeline/tiny.json",
  ]);
  assertEquals(made.code, 64, made.stderr);
  const outside = `${dir}/other/runs/x`;
  assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["manifest.json"]);
  const escape = "../../other/runs/x";
  for (
    const args of [
      ["stage", "ingest"],
      ["resume"],
      ["status"],
      ["run", "--config", "tests/pipeline/tiny.json"],
    ]
  ) {
    const res = await cli([...args, "--store", `${dir}/store`, "--run-id", escape]);
    assertEquals(res.code, 64, `${args[0]}: ${res.stderr}`);
    assert(res.stderr.includes(`--run-id "${escape}"`), res.stderr);
    assertEquals(
      [...Deno.readDirSync(outside)].map((e) => e.name),
      ["manifest.json"],
      `${args[0]} wrote outside the store`,
    );
  }
});
