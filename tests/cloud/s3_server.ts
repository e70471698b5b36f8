/**
 * A real S3 server (s3rver) on 127.0.0.1 and a free port, in a temp directory, for tests.
 * Runs under Node in a child process (s3rver's filesystem store is racy under Deno's node:fs with
 * concurrent delete + list); Node is on every machine the README's commands run on.
 * `close()` stops it and deletes its files. Credentials: s3rver's fixed S3RVER/S3RVER.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export interface TestS3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Environment for a child process using this server through the standard variables. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface S3ServerOptions {
  readonly bucket?: string;
  /** Accept requests whose signature does not match (for the fault-injecting proxy). */
  readonly allowMismatchedSignatures?: boolean;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<TestS3Server> {
  const bucket = options.bucket ?? "duet-test";
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "duet-s3rver-"));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("node", {
      args: [
        // s3rver encrypts ListObjectsV2 continuation tokens with DES, an OpenSSL 3 legacy cipher.
        "--openssl-legacy-provider",
        path.join(repoRoot, "tests", "cloud", "s3rver_node.cjs"),
        repoRoot,
        directory,
        bucket,
        options.allowMismatchedSignatures ? "1" : "0",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    throw new Error(`the S3 tests run s3rver under Node: install Node.js (node on PATH): ${e}`);
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("s3rver child exited before listening");
    line += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const port: number = JSON.parse(line).port;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    bucket,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
      DUET_S3_PATH_STYLE: "1",
    },
    close: async () => {
      await stop();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
