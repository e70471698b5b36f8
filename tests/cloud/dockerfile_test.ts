/**
 * No Docker engine (nor hadolint) here: the Dockerfiles are checked for the lines the images
 * must have. Each rule names what it protects.
 */
import { assert } from "../assert.ts";

const read = (f: string) => Deno.readTextFileSync(new URL(`../../${f}`, import.meta.url));

/** Instructions with continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(
    /\\\n/g,
    " ",
  );
  return joined.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(" ") };
  });
}

for (const file of ["Dockerfile", "Dockerfile.gpu"]) {
  Deno.test(`${file}: required lines`, () => {
    const ins = instructions(read(file));
    const all = (op: string) => ins.filter((i) => i.op === op);
    const froms = all("FROM");
    assert(froms.length >= 1, "has a base image");
    for (const f of froms) {
      const image = f.args.split(/\s+/)[0];
      assert(/:[\w.-]+$|@sha256:[0-9a-f]{64}$/.test(image), `base image pinned: ${image}`);
      assert(!/:latest$/.test(image), `no :latest: ${image}`);
    }
    for (const c of all("COPY").filter((c) => c.args.includes("--from="))) {
      assert(/--from=\S+:[\w.-]+/.test(c.args), `COPY --from pinned: ${c.args}`);
    }
    const runs = all("RUN").map((r) => r.args).join("\n");
    assert(/deno install --frozen/.test(runs), "deno install --frozen at build time");
    assert(!/deno install(?![^\n]*--frozen)/.test(runs), "every deno install is --frozen");
    const entry = all("ENTRYPOINT");
    assert(entry.length === 1, "one ENTRYPOINT");
    const argv = JSON.parse(entry[0].args);
    assert(Array.isArray(argv), "ENTRYPOINT in exec form (signals reach deno)");
    assert(argv.includes("--cached-only"), "--cached-only at run time");
    assert(argv.includes("pipeline/main.ts"), "runs the pipeline");
    const users = all("USER");
    assert(users.length >= 1, "has USER");
    const last = users.at(-1)!.args;
    assert(!/^(root|0)(:|$)/.test(last), `runs as non-root: ${last}`);
    assert(
      ins.findIndex((i) => i.op === "USER") > ins.findLastIndex((i) => i.op === "RUN"),
      "USER after the last RUN",
    );
    assert(all("STOPSIGNAL").some((s) => s.args === "SIGTERM"), "STOPSIGNAL SIGTERM");
    assert(
      /ONNXRUNTIME_NODE_INSTALL=skip/.test(all("ENV").map((e) => e.args).join(" ")),
      "ONNXRUNTIME_NODE_INSTALL=skip for the default install",
    );
    assert(
      all("COPY").some((c) => /deno\.json/.test(c.args) && /deno\.lock/.test(c.args)),
      "deno.json and deno.lock copied (dependency layer)",
    );
    if (file === "Dockerfile.gpu") {
      assert(/nvidia\/cuda:[\d.]+-cudnn/.test(froms[0].args), "CUDA + cuDNN base image");
      assert(/ONNXRUNTIME_NODE_INSTALL=cuda12/.test(runs), "onnxruntime GPU build installed");
    }
  });
}

Deno.test(".dockerignore keeps local state and secrets out of the context", () => {
  const lines = read(".dockerignore").split("\n").map((l) => l.trim());
  for (const must of [".git", ".duet", "node_modules", ".env"]) {
    assert(lines.includes(must), `.dockerignore lists ${must}`);
  }
});
