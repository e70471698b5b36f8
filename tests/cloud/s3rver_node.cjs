// Runs s3rver under Node for the tests (s3rver's filesystem store races under Deno's node:fs
// when one request deletes an object another is listing). Prints {"port": N} once listening;
// exits on SIGTERM or when the test process is gone.
"use strict";
const path = require("node:path");
const [, , repoRoot, directory, bucket, allowMismatched] = process.argv;
const S3rver = require(path.join(repoRoot, "node_modules", "s3rver"));
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
  allowMismatchedSignatures: allowMismatched === "1",
});
server.run().then((address) => {
  process.stdout.write(JSON.stringify({ port: address.port }) + "\n");
});
// Every way out but SIGTERM says why on stderr: a test that loses its server names the cause.
const stop = (why) => {
  if (why) process.stderr.write(`s3rver child: ${why}; stopping\n`);
  server.close(() => process.exit(0));
};
process.on("SIGTERM", () => stop());
process.on("uncaughtException", (e) => {
  process.stderr.write(`s3rver child: uncaught ${e && e.stack}\n`);
  process.exit(1);
});
// Never outlive the test process, even a SIGKILLed one: poll the parent instead of relying on
// the stdin pipe.
const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    stop(`parent ${parent} is gone`);
  }
}, 1000);
