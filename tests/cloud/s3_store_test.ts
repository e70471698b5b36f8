/** S3-specific behaviour against s3rver: multipart, pagination, retries, create-only writes. */
import { Effect, Exit } from "effect";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { CLAIMS_DIR, makeS3Store, resolveS3Settings } from "../../pipeline/store_s3.ts";
import { StoreError } from "../../pipeline/store.ts";
import { startS3Server, type TestS3Server } from "./s3_server.ts";
import { type Fault, startFaultProxy } from "./fault_proxy.ts";
import { assert, assertEquals } from "../assert.ts";
import { bytesOf, seededBytes } from "./bytes.ts";

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e);

/** Runs the effect and returns its StoreError (fails the test if it succeeded). */
async function storeError<A>(e: Effect.Effect<A, StoreError>): Promise<StoreError> {
  const exit = await Effect.runPromiseExit(e);
  if (Exit.isSuccess(exit)) throw new Error("expected a StoreError, got success");
  const error = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert(error && error._tag === "Fail" && error.error instanceof StoreError, `${exit.cause}`);
  return error.error;
}

async function withServer(
  f: (server: TestS3Server) => Promise<void>,
  allowMismatchedSignatures = false,
) {
  const server = await startS3Server({ allowMismatchedSignatures });
  try {
    await f(server);
  } finally {
    await server.close();
  }
}

const storeOn = (server: TestS3Server, endpoint: string, extra = {}) =>
  makeS3Store({
    bucket: server.bucket,
    prefix: "t",
    endpoint,
    credentials: server.credentials,
    env: {},
    retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    ...extra,
  });

Deno.test("s3: a 20 MiB object goes up as a 3-part multipart upload and comes back intact", () =>
  withServer(async (server) => {
    const proxy = startFaultProxy(server.endpoint);
    try {
      const store = storeOn(server, proxy.endpoint);
      const big = seededBytes(20 * 1024 * 1024 + 123, 42);
      await run(store.put("ckpt/weights.bin", big));
      const back = await run(store.get("ckpt/weights.bin"));
      assert(back !== undefined && back.byteLength === big.byteLength, "size differs");
      assert(back.every((v, i) => v === big[i]), "multipart bytes differ");
      const parts = proxy.requests.filter((r) =>
        r.method === "PUT" && /partNumber=/.test(r.search)
      );
      assertEquals(parts.length, 3, "8 MiB parts");
      assert(
        proxy.requests.some((r) => r.method === "POST" && /uploadId=/.test(r.search)),
        "complete",
      );
      const before = proxy.requests.length;
      await run(store.put("small.bin", seededBytes(1000, 1)));
      assertEquals(proxy.requests.length - before, 1, "small objects are one PUT");
      const head = await store.client.send(
        new HeadObjectCommand({ Bucket: server.bucket, Key: "t/ckpt/weights.bin" }),
      );
      assertEquals(head.ContentLength, big.byteLength);
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: a writer killed mid-PUT leaves no object, as on S3 (the test server is whole-or-nothing)", () =>
  withServer(async (server) => {
    // What a SIGKILLed stage process leaves: headers promising 100 bytes, 22 sent, socket gone.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(new TextEncoder().encode(
      `PUT /${server.bucket}/t/unit/_SUCCESS.json HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Content-Length: 100\r\nAuthorization: AWS S3RVER:x\r\n` +
        `Date: ${new Date().toUTCString()}\r\n\r\n{"stage":"refine","ver`,
    ));
    await new Promise((r) => setTimeout(r, 200));
    conn.close();
    await new Promise((r) => setTimeout(r, 300));
    const store = storeOn(server, server.endpoint);
    assertEquals(await run(store.get("unit/_SUCCESS.json")), undefined, "a half-written object");
    assertEquals(await run(store.list("unit/")), [], "listed");
    await run(store.put("unit/_SUCCESS.json", bytesOf("{}")));
    assertEquals(new TextDecoder().decode(await run(store.get("unit/_SUCCESS.json"))), "{}");
  }, true));

Deno.test("s3: list follows continuation tokens across pages", () =>
  withServer(async (server) => {
    const proxy = startFaultProxy(server.endpoint);
    try {
      const store = storeOn(server, proxy.endpoint, { listPageSize: 2 });
      const keys = Array.from({ length: 7 }, (_, i) => `pages/k${i}`);
      for (const k of keys) await run(store.put(k, bytesOf(k)));
      await run(store.put("other/x", bytesOf("x")));
      assertEquals(await run(store.list("pages/")), keys);
      const listCalls = proxy.requests.filter((r) => r.search.includes("list-type=2"));
      assertEquals(listCalls.length, 4, "7 keys at 2 per page");
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: 503 SlowDown twice, then success: retried transparently", () =>
  withServer(async (server) => {
    let puts = 0;
    const proxy = startFaultProxy(server.endpoint, {
      fault: (r): Fault | undefined =>
        r.method === "PUT" && ++puts <= 2
          ? { kind: "error", status: 503, code: "SlowDown" }
          : undefined,
    });
    try {
      const store = storeOn(server, proxy.endpoint);
      await run(store.put("retry/k", bytesOf("v")));
      assertEquals(puts, 3);
      assertEquals(await run(store.get("retry/k")), bytesOf("v"));
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: throttling and 5xx exhaust the retries as a transient StoreError", () =>
  withServer(async (server) => {
    const proxy = startFaultProxy(server.endpoint, {
      fault: (r): Fault | undefined =>
        r.method === "GET"
          ? { kind: "error", status: 503, code: "SlowDown" }
          : r.method === "PUT"
          ? { kind: "error", status: 500, code: "InternalError" }
          : undefined,
    });
    try {
      const store = storeOn(server, proxy.endpoint);
      const e = await storeError(store.get("x/y"));
      assertEquals(e.transient, true);
      assert(/SlowDown/.test(e.message) && /4 attempts/.test(e.message), e.message);
      assertEquals(e.uri, `s3://${server.bucket}/t/x/y`);
      assertEquals(proxy.requests.filter((r) => r.method === "GET").length, 4);
      assertEquals((await storeError(store.put("x/z", bytesOf("v")))).transient, true);
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: AccessDenied is permanent: no retry, transient false", () =>
  withServer(async (server) => {
    const proxy = startFaultProxy(server.endpoint, {
      fault: () => ({ kind: "error", status: 403, code: "AccessDenied" }),
    });
    try {
      const e = await storeError(storeOn(server, proxy.endpoint).put("a", bytesOf("v")));
      assertEquals(e.transient, false);
      assert(/AccessDenied/.test(e.message), e.message);
      assertEquals(proxy.requests.length, 1);
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: an unreachable endpoint is a transient StoreError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now: connection refused
  const store = makeS3Store({
    bucket: "b-unreachable",
    prefix: "",
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: "x", secretAccessKey: "y" },
    env: {},
    retry: { maxAttempts: 2, baseDelayMs: 5 },
  });
  const e = await storeError(store.get("k"));
  assertEquals(e.transient, true, e.message);
});

Deno.test("s3: If-None-Match honoured by the server: detected and used", () =>
  withServer(async (server) => {
    const proxy = startFaultProxy(server.endpoint, { emulateIfNoneMatch: true });
    try {
      const store = storeOn(server, proxy.endpoint);
      assertEquals(await store.conditionalWriteMode(), "if-none-match");
      assertEquals(await run(store.putIfAbsent("c/_SUCCESS.json", bytesOf("A"))), true);
      assertEquals(await run(store.putIfAbsent("c/_SUCCESS.json", bytesOf("B"))), false);
      assertEquals(await run(store.get("c/_SUCCESS.json")), bytesOf("A"));
      const conditional = proxy.requests.filter((r) => r.headers.get("if-none-match") === "*");
      assert(conditional.length >= 3, "probe + two conditional PUTs");
      // No claim objects in this mode.
      assertEquals(
        proxy.requests.filter((r) => r.path.includes(CLAIMS_DIR) && !r.path.includes(".probe"))
          .length,
        0,
      );
      const results = await Promise.all(
        Array.from(
          { length: 6 },
          (_, i) => run(storeOn(server, proxy.endpoint).putIfAbsent("race/m", bytesOf(`w${i}`))),
        ),
      );
      assertEquals(results.filter((x) => x).length, 1);
      assertEquals(await run(store.get("race/m")), bytesOf(`w${results.indexOf(true)}`));
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3: a conditional PUT applied but answered 500 is recognised as ours on retry", () =>
  withServer(async (server) => {
    let dropped = false;
    const proxy = startFaultProxy(server.endpoint, {
      emulateIfNoneMatch: true,
      fault: (r): Fault | undefined => {
        if (r.method === "PUT" && r.path.endsWith("/amb/m") && !dropped) {
          dropped = true;
          return { kind: "forward-then-error" };
        }
      },
    });
    try {
      const a = storeOn(server, proxy.endpoint, { conditionalWrites: "if-none-match" });
      assertEquals(
        await run(a.putIfAbsent("amb/m", bytesOf("A"))),
        true,
        "own write, 412 on retry",
      );
      assert(dropped, "the fault fired");
      const b = storeOn(server, proxy.endpoint, { conditionalWrites: "if-none-match" });
      assertEquals(await run(b.putIfAbsent("amb/m", bytesOf("B"))), false, "someone else's");
    } finally {
      await proxy.close();
    }
  }, true));

Deno.test("s3 claims: a live claim blocks, an abandoned one (older than the TTL) is ignored", () =>
  withServer(async (server) => {
    const store = storeOn(server, server.endpoint, {
      conditionalWrites: "claims",
      claimTtlMs: 1500,
    });
    // A writer that crashed right after claiming: its claim stays behind.
    await run(store.put(`${CLAIMS_DIR}/k/_SUCCESS.json/crashed-writer`, new Uint8Array()));
    const started = performance.now();
    assertEquals(await run(store.putIfAbsent("k/_SUCCESS.json", bytesOf("mine"))), true);
    const waited = performance.now() - started;
    assert(waited >= 1000, `must wait for the claim to be abandoned, waited ${waited} ms`);
    assertEquals(await run(store.get("k/_SUCCESS.json")), bytesOf("mine"));
    const leftovers = await store.client.send(
      new HeadObjectCommand({
        Bucket: server.bucket,
        Key: `t/${CLAIMS_DIR}/k/_SUCCESS.json/crashed-writer`,
      }),
    ).then(() => "present", () => "gone");
    assertEquals(leftovers, "gone", "abandoned claims are deleted");
    assertEquals(await run(store.list("")), ["k/_SUCCESS.json"], "claims never listed");
  }));

Deno.test("s3 settings: endpoint and path style from options, then standard env vars", () => {
  const opts = { bucket: "b", prefix: "" };
  const s = resolveS3Settings(opts, {
    AWS_ENDPOINT_URL: "https://generic.example",
    AWS_ENDPOINT_URL_S3: "https://s3-specific.example",
  });
  assertEquals(s.endpoint, "https://s3-specific.example");
  assertEquals(s.forcePathStyle, false);
  assertEquals(s.region, "us-east-1");
  assertEquals(s.regionGiven, false);
  assertEquals(
    resolveS3Settings(opts, { AWS_ENDPOINT_URL: "https://generic.example" }).endpoint,
    "https://generic.example",
  );
  assertEquals(resolveS3Settings(opts, {}).endpoint, undefined);
  assertEquals(
    resolveS3Settings({ ...opts, endpoint: "http://o.example" }, { AWS_ENDPOINT_URL_S3: "x" })
      .endpoint,
    "http://o.example",
  );
  assertEquals(resolveS3Settings(opts, { DUET_S3_PATH_STYLE: "1" }).forcePathStyle, true);
  assertEquals(
    resolveS3Settings({ ...opts, forcePathStyle: false }, { DUET_S3_PATH_STYLE: "1" })
      .forcePathStyle,
    false,
  );
  assertEquals(
    resolveS3Settings(opts, { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000" }).forcePathStyle,
    true,
    "IP endpoints cannot use virtual-hosted style",
  );
  assertEquals(
    resolveS3Settings(opts, { AWS_ENDPOINT_URL_S3: "http://minio:9000", DUET_S3_PATH_STYLE: "0" })
      .forcePathStyle,
    false,
  );
  assertEquals(resolveS3Settings(opts, { AWS_DEFAULT_REGION: "eu-west-3" }).region, "eu-west-3");
  assertEquals(resolveS3Settings(opts, { AWS_REGION: "ap-south-1" }).regionGiven, true);
  assertEquals(resolveS3Settings(opts, {}).conditionalWrites, "auto");
  assertEquals(
    resolveS3Settings(opts, { DUET_S3_CONDITIONAL_WRITES: "claims" }).conditionalWrites,
    "claims",
  );
  let threw = false;
  try {
    resolveS3Settings(opts, { DUET_S3_CONDITIONAL_WRITES: "sometimes" });
  } catch {
    threw = true;
  }
  assert(threw, "bad DUET_S3_CONDITIONAL_WRITES is refused");
  assertEquals(resolveS3Settings(opts, {}).maxAttempts, 6);
  assertEquals(resolveS3Settings(opts, { DUET_S3_MAX_ATTEMPTS: "2" }).maxAttempts, 2);
  assertEquals(
    resolveS3Settings({ ...opts, retry: { maxAttempts: 3 } }, { DUET_S3_MAX_ATTEMPTS: "2" })
      .maxAttempts,
    3,
  );
  assertEquals(resolveS3Settings(opts, {}).claimTtlMs, 120_000);
  assertEquals(resolveS3Settings(opts, { DUET_S3_CLAIM_TTL_MS: "4000" }).claimTtlMs, 4000);
  assertEquals(
    resolveS3Settings({ ...opts, claimTtlMs: 1500 }, { DUET_S3_CLAIM_TTL_MS: "4000" }).claimTtlMs,
    1500,
  );
  for (const bad of ["999", "soon"]) {
    let refused = false;
    try {
      resolveS3Settings(opts, { DUET_S3_CLAIM_TTL_MS: bad });
    } catch {
      refused = true;
    }
    assert(refused, `DUET_S3_CLAIM_TTL_MS=${bad} is refused`);
  }
  for (const bad of ["0", "two", "-1"]) {
    let refused = false;
    try {
      resolveS3Settings(opts, { DUET_S3_MAX_ATTEMPTS: bad });
    } catch {
      refused = true;
    }
    assert(refused, `DUET_S3_MAX_ATTEMPTS=${bad} is refused`);
  }
});
