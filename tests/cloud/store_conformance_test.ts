/**
 * One behaviour, three layers: memory, file and S3 (s3rver on 127.0.0.1) run the same cases.
 * The S3 layer runs twice: with its auto-detected mode (s3rver ignores If-None-Match, so the
 * claim protocol) and with the claim protocol forced.
 */
import { Effect } from "effect";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { makeFileStore, makeMemoryStore, type ObjectStoreShape } from "../../pipeline/store.ts";
import { makeS3Store } from "../../pipeline/store_s3.ts";
import { startS3Server } from "./s3_server.ts";
import { assert, assertEquals } from "../assert.ts";
import { bytesOf, seededBytes } from "./bytes.ts";

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e);

const KEYS = [
  "plain.json",
  "runs/r1/stages/train/abc123/attempt-1/weights.bin",
  "with space/and+plus/file name.txt",
  "unicode/é-ü-日本/ß.json",
  "punct/a=b&c,d;e@f!g'h(i)j~k_l-m.n",
  "percent/%41%2F",
  "deep/a/b/c/d/e/f/g/h/i/j/k.bin",
];

async function conformance(t: Deno.TestContext, store: ObjectStoreShape) {
  await t.step("missing key is undefined; list of an empty prefix is empty", async () => {
    assertEquals(await run(store.get("nope/missing.bin")), undefined);
    assertEquals(await run(store.list("nope/")), []);
  });

  await t.step("binary bytes survive intact (all 256 values, empty, 1 MiB random)", async () => {
    const all = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
    await run(store.put("bin/all", all));
    assertEquals(await run(store.get("bin/all")), all);
    await run(store.put("bin/empty", new Uint8Array()));
    assertEquals(await run(store.get("bin/empty")), new Uint8Array());
    const big = seededBytes(1024 * 1024, 7);
    await run(store.put("bin/random", big));
    const back = await run(store.get("bin/random"));
    assert(back !== undefined && back.byteLength === big.byteLength, "size");
    assert(back.every((v, i) => v === big[i]), "random bytes differ after round trip");
  });

  await t.step("overwrite replaces the value", async () => {
    await run(store.put("ow/k", bytesOf("first, longer value")));
    await run(store.put("ow/k", bytesOf("second")));
    assertEquals(await run(store.get("ow/k")), bytesOf("second"));
  });

  await t.step("a range of key characters round-trips through put/get/list", async () => {
    for (const [i, key] of KEYS.entries()) await run(store.put(`keys/${key}`, bytesOf(`v${i}`)));
    for (const [i, key] of KEYS.entries()) {
      assertEquals(await run(store.get(`keys/${key}`)), bytesOf(`v${i}`), key);
    }
    assertEquals(await run(store.list("keys/")), KEYS.map((k) => `keys/${k}`).sort());
  });

  await t.step("list: only keys under the prefix, sorted, string-prefix semantics", async () => {
    for (const k of ["ls/b/2", "ls/a/1", "ls/a/10", "ls/ab", "lsx/other", "ls/c"]) {
      await run(store.put(k, bytesOf(k)));
    }
    assertEquals(await run(store.list("ls/")), ["ls/a/1", "ls/a/10", "ls/ab", "ls/b/2", "ls/c"]);
    assertEquals(await run(store.list("ls/a")), ["ls/a/1", "ls/a/10", "ls/ab"]);
    assertEquals(await run(store.list("ls/a/")), ["ls/a/1", "ls/a/10"]);
    const everything = await run(store.list(""));
    assert(everything.includes("lsx/other") && everything.includes("ow/k"), "list('') is all");
    assertEquals(everything, [...everything].sort());
  });

  await t.step("remove deletes; removing a missing key is not an error", async () => {
    await run(store.put("rm/k", bytesOf("x")));
    await run(store.remove("rm/k"));
    assertEquals(await run(store.get("rm/k")), undefined);
    assertEquals(await run(store.list("rm/")), []);
    await run(store.remove("rm/never-existed"));
  });

  await t.step("putIfAbsent creates once and never overwrites", async () => {
    assertEquals(await run(store.putIfAbsent("commit/_SUCCESS.json", bytesOf("A"))), true);
    assertEquals(await run(store.putIfAbsent("commit/_SUCCESS.json", bytesOf("B"))), false);
    assertEquals(await run(store.get("commit/_SUCCESS.json")), bytesOf("A"));
    assertEquals(await run(store.list("commit/")), ["commit/_SUCCESS.json"]);
  });

  await t.step("putIfAbsent under concurrency: exactly one winner, its bytes stored", async () => {
    for (const round of [1, 2, 3]) {
      const key = `race/${round}/_SUCCESS.json`;
      const writers = Array.from({ length: 6 }, (_, i) => `writer-${i}`);
      const results = await run(
        Effect.all(writers.map((w) => store.putIfAbsent(key, bytesOf(w))), {
          concurrency: "unbounded",
        }),
      );
      const winners = writers.filter((_, i) => results[i]);
      assertEquals(winners.length, 1, `round ${round}: winners ${winners}`);
      assertEquals(await run(store.get(key)), bytesOf(winners[0]));
    }
    assertEquals((await run(store.list("race/"))).length, 3);
  });
}

Deno.test("store conformance: memory", (t) => conformance(t, makeMemoryStore("conformance")));

Deno.test("store conformance: file", async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "duet-file-store-"));
  try {
    await conformance(t, makeFileStore(dir));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

Deno.test("store conformance: s3 (s3rver, auto-detected mode)", async (t) => {
  const server = await startS3Server();
  try {
    const store = makeS3Store({
      bucket: server.bucket,
      prefix: "conformance/auto",
      endpoint: server.endpoint,
      credentials: server.credentials,
      env: {},
    });
    await conformance(t, store);
    // s3rver ignores If-None-Match on PUT: the probe must notice and pick the claim protocol.
    assertEquals(await store.conditionalWriteMode(), "claims");
  } finally {
    await server.close();
  }
});

Deno.test("store conformance: s3 (s3rver, claims forced, separate clients race)", async (t) => {
  const server = await startS3Server();
  try {
    const make = () =>
      makeS3Store({
        bucket: server.bucket,
        prefix: "conformance/claims",
        endpoint: server.endpoint,
        credentials: server.credentials,
        conditionalWrites: "claims",
        env: {},
      });
    await conformance(t, make());
    await t.step("8 independent clients race on one marker, 4 rounds", async () => {
      for (let round = 0; round < 4; round++) {
        const key = `xrace/${round}/_SUCCESS.json`;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => run(make().putIfAbsent(key, bytesOf(`w${i}`)))),
        );
        const winners = results.flatMap((won, i) => (won ? [i] : []));
        assertEquals(winners.length, 1, `round ${round}: winners ${winners}`);
        assertEquals(await run(make().get(key)), bytesOf(`w${winners[0]}`));
      }
      // Claims are cleaned up and never visible through list.
      assertEquals(
        await run(make().list("xrace/")),
        [0, 1, 2, 3].map((r) => `xrace/${r}/_SUCCESS.json`),
      );
    });
  } finally {
    await server.close();
  }
});
