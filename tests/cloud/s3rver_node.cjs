// Runs s3rver under Node for the tests (s3rver's filesystem store races under Deno's node:fs
// when one request deletes an object another is listing). Prints {"port": N} once listening;
// exits on SIGTERM or when the test process is gone.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const [, , repoRoot, directory, bucket, allowMismatched] = process.argv;
const s3rverDir = path.join(repoRoot, "node_modules", "s3rver");
const S3rver = require(s3rverDir);
const FilesystemStore = require(path.join(s3rverDir, "lib", "stores", "filesystem"));

// s3rver 3.7.1 bug: deleteObject removes parent directories it has emptied, while a concurrent
// putObject of a sibling key may sit between its mkdirp and opening the file; that open fails
// with ENOENT on a write stream without an error handler and kills the server (seen 1 run in 10
// of the putIfAbsent races, whose claims share a directory). Keep the directories: delete only
// the object's own files. Listing reports objects, never empty directories.
FilesystemStore.prototype.deleteObject = async function (bucket, key) {
  await Promise.all(
    ["object", "object.md5", "metadata.json"].map((type) =>
      fs.promises.unlink(this.getResourcePath(bucket, key, type)).catch((err) => {
        if (err.code !== "ENOENT") throw err;
      })
    ),
  );
};

// s3rver 3.7.1 streams a PUT body into place and stores whatever arrived: a client SIGKILLed
// mid-body leaves a truncated object that lists and reads as complete (a half-written commit
// marker, seen in the scheduler simulation). Real S3 stores a PUT whole or not at all, so do that:
// refuse an incomplete body, write a temp file, and rename it into place after its metadata.
let partials = 0;
FilesystemStore.prototype.putObject = async function (object) {
  const content = Buffer.isBuffer(object.content)
    ? object.content
    : await new Promise((resolve, reject) => {
      const chunks = [];
      object.content
        .on("data", (c) => chunks.push(c))
        .on("error", reject)
        .on("end", () => {
          // An http request that ended early is incomplete; other streams (multipart parts) end whole.
          if (object.content.complete === false) reject(new Error("request body incomplete"));
          else resolve(Buffer.concat(chunks));
        })
        .on("close", () => reject(new Error("request body incomplete")));
    });
  const objectPath = this.getResourcePath(object.bucket, object.key, "object");
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const partial = `${objectPath}.${process.pid}-${partials++}.partial`;
  await fs.promises.writeFile(partial, content);
  const md5 = crypto.createHash("md5").update(content).digest("hex");
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  await fs.promises.rename(partial, objectPath);
  return { size: content.length, md5 };
};

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
// Every way out but SIGTERM says why on stderr, synchronously (an async write is lost to the
// exit that follows): a test that loses its server names the cause.
const say = (message) => fs.writeSync(2, `s3rver child: ${message}\n`);
const stop = (why) => {
  if (why) say(`${why}; stopping`);
  server.close(() => process.exit(0));
  // close() waits for open keep-alive connections (a client's idle pool, up to minutes); the
  // test is done with the server, so do not wait for its clients to hang up.
  setTimeout(() => process.exit(0), 250).unref();
};
process.on("SIGTERM", () => stop());
process.on("uncaughtException", (e) => {
  say(`uncaught ${e && e.stack}`);
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
