/**
 * S3 failures through the CLI, as a batch scheduler sees them: an endpoint that accepts
 * connections and never answers ends in exit 75 (retry) in bounded time instead of hanging, and
 * a refusal (403, bad credentials) is exit 74 with one line naming the fix.
 */
import { assert, assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { startFaultProxy } from "../cloud/fault_proxy.ts";
import { startS3Server } from "../cloud/s3_server.ts";

const TINY = ["--config", "tests/pipeline/tiny.json", "--set", "train.steps=2"];

Deno.test("s3: an endpoint that never answers ends in exit 75 within the request timeouts", async () => {
  // Nothing is ever forwarded, so the proxy needs no real server behind it.
  const proxy = startFaultProxy("http://127.0.0.1:9", { fault: () => ({ kind: "hang" }) });
  try {
    const t0 = performance.now();
    const res = await cli(["run", "--store", "s3://duet-test/hang", ...TINY], {
      // Without a bound the CLI would wait forever: kill it well after the bound (the test then
      // fails on the signal below).
      killAfterMs: 60_000,
      env: {
        AWS_ENDPOINT_URL_S3: proxy.endpoint,
        AWS_ACCESS_KEY_ID: "k",
        AWS_SECRET_ACCESS_KEY: "s",
        AWS_REGION: "us-east-1",
        DUET_S3_TIMEOUT_MS: "400",
        DUET_S3_MAX_ATTEMPTS: "2",
      },
    });
    assertEquals(res.signal, null, "the CLI hung and was killed");
    assertEquals(res.code, 75, res.stderr);
    assert(performance.now() - t0 < 30_000, "bounded");
    assert(/timed out|TimeoutError|timeout/i.test(res.stderr), res.stderr);
    assert(/transient; retry/.test(res.stderr), res.stderr);
    assert(!/\n\s+at /.test(res.stderr), `no stack trace:\n${res.stderr}`);
    assert(proxy.requests.length >= 2, "retried once");
  } finally {
    await proxy.close();
  }
});

Deno.test("s3: wrong credentials (403 from the server) are exit 74 with one line naming the fix", async () => {
  const server = await startS3Server();
  try {
    const res = await cli(["run", "--store", `s3://${server.bucket}/creds`, ...TINY], {
      env: { ...server.env, AWS_ACCESS_KEY_ID: "NOT-A-KEY" },
    });
    assertEquals(res.code, 74, res.stderr);
    const errors = res.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assertEquals(errors.length, 1, res.stderr);
    assert(/InvalidAccessKeyId|HTTP 403/.test(errors[0]), errors[0]);
    assert(errors[0].includes("check the credentials"), errors[0]);
    assert(!/\n\s+at /.test(res.stderr), `no stack trace:\n${res.stderr}`);
  } finally {
    await server.close();
  }
});
