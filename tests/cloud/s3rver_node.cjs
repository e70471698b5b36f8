// Runs s3rver under Node for the tests (s3rver's filesystem store races under Deno's node:fs
// when one request deletes an object another is listing). Prints {"port": N} once listening;
// exits on SIGTERM or when stdin closes (so it never outlives the test process).
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
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
