import { Effect } from "effect";
import * as path from "node:path";
import { parseStoreUri, storeFromUri, StoreUriError } from "../../pipeline/store_uri.ts";
import { startS3Server } from "./s3_server.ts";
import { assert, assertEquals } from "../assert.ts";
import { bytesOf } from "./bytes.ts";

const refused = (uri: string, pattern: RegExp) => {
  try {
    storeFromUri(uri);
  } catch (e) {
    assert(e instanceof StoreUriError, `${uri}: StoreUriError, got ${e}`);
    assert(pattern.test(e.message), `${uri}: ${e.message}`);
    return;
  }
  throw new Error(`${uri} should be refused`);
};

Deno.test("parseStoreUri: default, paths, file://, memory://, s3:// with parameters", () => {
  assertEquals(parseStoreUri(undefined, "/w"), { kind: "file", root: "/w/.duet" });
  assertEquals(parseStoreUri("", "/w"), { kind: "file", root: "/w/.duet" });
  assertEquals(parseStoreUri("out/store", "/w"), { kind: "file", root: "/w/out/store" });
  assertEquals(parseStoreUri("/abs/dir", "/w"), { kind: "file", root: "/abs/dir" });
  assertEquals(parseStoreUri("file:///abs/my%20dir", "/w"), { kind: "file", root: "/abs/my dir" });
  assertEquals(parseStoreUri("memory://t1"), { kind: "memory", name: "t1" });
  assertEquals(parseStoreUri("s3://my-bucket"), { kind: "s3", bucket: "my-bucket", prefix: "" });
  assertEquals(parseStoreUri("s3://my-bucket/a/b/"), {
    kind: "s3",
    bucket: "my-bucket",
    prefix: "a/b",
  });
  assertEquals(
    parseStoreUri("s3://b.example/p?endpoint=http://minio:9000&path_style=1&region=eu-1"),
    {
      kind: "s3",
      bucket: "b.example",
      prefix: "p",
      endpoint: "http://minio:9000",
      forcePathStyle: true,
      region: "eu-1",
    },
  );
});

Deno.test("storeFromUri: unsupported or malformed URIs are clear errors", () => {
  refused("gs://bucket/x", /S3 interoperability/);
  refused("ftp://host/x", /unsupported store scheme 'ftp:'/);
  refused("s3://Bad_Bucket/x", /not a valid S3 bucket name/);
  refused("s3://bucket/x?color=red", /unknown S3 URI parameter 'color'/);
  refused("s3://bucket/x?endpoint=minio:9000", /endpoint must be an http/);
  refused("memory://", /memory:\/\/name/);
});

Deno.test("storeFromUri: memory stores are shared by name; file stores resolve paths", async () => {
  const a = storeFromUri("memory://shared-uri-test");
  await Effect.runPromise(a.put("k", bytesOf("v")));
  assertEquals(
    await Effect.runPromise(storeFromUri("memory://shared-uri-test").get("k")),
    bytesOf("v"),
  );
  assertEquals(
    await Effect.runPromise(storeFromUri("memory://other-uri-test").get("k")),
    undefined,
  );
  const dir = await Deno.makeTempDir();
  try {
    const f = storeFromUri(`file://${dir}`);
    assertEquals(f.uri, `file://${dir}`);
    await Effect.runPromise(f.put("x/y", bytesOf("z")));
    assertEquals(await Deno.readTextFile(path.join(dir, "x", "y")), "z");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storeFromUri: s3:// with the standard AWS env (endpoint, path style, keys)", async () => {
  const server = await startS3Server();
  const saved = Object.fromEntries(Object.keys(server.env).map((k) => [k, Deno.env.get(k)]));
  try {
    for (const [k, v] of Object.entries(server.env)) Deno.env.set(k, v);
    const store = storeFromUri(`s3://${server.bucket}/via-env`);
    assertEquals(store.uri, `s3://${server.bucket}/via-env`);
    await Effect.runPromise(store.put("a/b.bin", new Uint8Array([0, 255, 7])));
    assertEquals(await Effect.runPromise(store.get("a/b.bin")), new Uint8Array([0, 255, 7]));
    assertEquals(await Effect.runPromise(store.list("")), ["a/b.bin"]);
    // Endpoint from the URI instead of the environment.
    Deno.env.delete("AWS_ENDPOINT_URL_S3");
    const viaUri = storeFromUri(
      `s3://${server.bucket}/via-env?endpoint=${server.endpoint}&path_style=1`,
    );
    assertEquals(await Effect.runPromise(viaUri.get("a/b.bin")), new Uint8Array([0, 255, 7]));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await server.close();
  }
});
