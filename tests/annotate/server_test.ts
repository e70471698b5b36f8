/**
 * The annotate server without a browser: its API, and its refusals. Requests without the token,
 * with another Host, with `../` (plain, encoded, backslashed) in any part, to other interfaces,
 * oversized or malformed uploads, labels outside the classes, cross-origin saves: each refused
 * with a one-line reason, and nothing written anywhere. Raw HTTP over TCP where a client would
 * normalize the request away (fetch resolves `..` and sets Host itself).
 */
import { Effect } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { cli, spawnCli } from "../cli.ts";
import { tempDir } from "../io/python.ts";
import { CLASSES, phantomFolder, serve } from "./fixtures.ts";
import { readNifti } from "../../io/nifti.ts";
import { discoverCases } from "../../io/dataset.ts";
import { loadConfig } from "../../pipeline/config.ts";
import type { AnnotateServer } from "../../annotate/server.ts";

const SHAPE: [number, number, number] = [24, 20, 6];
const SLICE = 24 * 20;

/**
 * Sends `head` (request line + headers, without the blank line) and `body` over TCP; reads one
 * response (by its Content-Length: a refused upload's connection may stay open).
 */
async function raw(
  port: number,
  head: string,
  body = new Uint8Array(),
): Promise<{ status: number; text: string; error: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
    if (body.length) await conn.write(body);
    let text = "";
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder();
    while (true) {
      const end = text.indexOf("\r\n\r\n");
      const length = Number(text.match(/content-length: (\d+)/i)?.[1] ?? NaN);
      if (end >= 0 && text.length >= end + 4 + length) break;
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    const payload = text.slice(text.indexOf("\r\n\r\n") + 4);
    let error = payload;
    try {
      error = JSON.parse(payload).error ?? payload;
    } catch { /* not JSON */ }
    return { status: Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0), text, error };
  } finally {
    conn.close();
  }
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(prefix + e.name);
      if (e.isDirectory) walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
    }
  };
  walk(dir, "");
  return out.sort();
}

async function setup(name: string) {
  const root = tempDir(name);
  const data = phantomFolder(`${root}/data`, { count: 3, shape: SHAPE, labelled: ["p2"] });
  const out = `${root}/out`, configPath = `${root}/config.json`;
  const server = await serve(data, { out, configPath });
  const before = listTree(root);
  return { root, data, out, configPath, server, before };
}

const post = (s: AnnotateServer, path: string, body: BodyInit, headers = {}) =>
  fetch(`${s.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", ...headers },
    body,
  });

Deno.test("annotate API: session, case meta, volume, save, the saved slice back, no run yet", async () => {
  const { root, data, out, configPath, server } = await setup("annotate-api");
  try {
    const session = await (await fetch(`${server.url}api/session`)).json();
    assertEquals(session.classes, CLASSES);
    assertEquals(session.colours, [null, "#0072B2", "#D55E00"]);
    assertEquals(session.cases.map((c: { id: string; hasLabel: boolean }) => [c.id, c.hasLabel]), [
      ["p0", false],
      ["p1", false],
      ["p2", true],
    ]);
    assertEquals(session.exemplar, null);
    const meta = await (await fetch(`${server.url}api/cases/p1`)).json();
    assertEquals(meta.shape, SHAPE);
    assert(meta.suggested >= 0 && meta.suggested < SHAPE[2]);
    assert(meta.window[0] < meta.window[1] && meta.range[0] <= meta.window[0]);
    // The uint16 volume dequantizes to the image within one step.
    const q = new Uint16Array(
      await (await fetch(`${server.url}api/cases/p1/volume`)).arrayBuffer(),
    );
    const image = readNifti(`${data}/p1.nii.gz`).data;
    assertEquals(q.length, image.length);
    const step = (meta.range[1] - meta.range[0]) / 65535;
    let worst = 0;
    for (let i = 0; i < q.length; i++) {
      worst = Math.max(worst, Math.abs(meta.range[0] + q[i] * step - image[i]));
    }
    assert(worst <= step / 2 + 1e-6, `worst ${worst}, step ${step}`);
    // page and assets
    const page = await fetch(server.url);
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert((await page.text()).includes(`<script type="module" src="app.js">`));
    assert(page.headers.get("content-security-policy")!.includes("default-src 'self'"));
    for (const asset of ["app.js", "view.js", "paint.js", "style.css"]) {
      assertEquals(
        (await fetch(`${server.url}${asset}`).then((r) => (r.body?.cancel(), r))).status,
        200,
      );
    }

    const labels = new Uint8Array(SLICE);
    labels.fill(1, 100, 140);
    labels.fill(2, 200, 210);
    const res = await post(server, "api/cases/p1/exemplar?slice=4", labels);
    const saved = await res.json();
    assertEquals(res.status, 200, JSON.stringify(saved));
    assertEquals(saved.exemplar, { case: "p1", slice: 4 });
    assertEquals(saved.command, `deno task pipeline run --config ${configPath}`);
    assertEquals(listTree(out), ["cases.txt", "p1_label.nii.gz"]);
    // The config: the list, the exemplar, validation = the labelled case, no test cases.
    const config = await Effect.runPromise(loadConfig(configPath, []));
    assertEquals(config.data.roles.exemplar, { case: "p1", slice: 4 });
    assertEquals([config.data.roles.validation, config.data.roles.test], [["p2"], []]);
    const specs = await discoverCases(config.data.source);
    assertEquals(specs.map((s) => [s.id, s.labelPath]), [
      ["p0", undefined],
      ["p1", `${out}/p1_label.nii.gz`],
      ["p2", `${data}/p2_label.nii.gz`],
    ]);
    // The saved slice comes back; the session names it.
    const back = await fetch(`${server.url}api/cases/p1/exemplar`);
    assertEquals(back.headers.get("x-duet-slice"), "4");
    assertEquals([...new Uint8Array(await back.arrayBuffer())], [...labels]);
    assertEquals((await (await fetch(`${server.url}api/session`)).json()).exemplar, {
      case: "p1",
      slice: 4,
    });
    const other = await fetch(`${server.url}api/cases/p0/exemplar`);
    assertEquals([other.status, (await other.json()).error], [
      404,
      `case "p0" is not the saved exemplar`,
    ]);
    // No run of this config yet: the overlay says what to run.
    const pred = await fetch(`${server.url}api/cases/p1/prediction`);
    const error = (await pred.json()).error as string;
    assertEquals(pred.status, 404);
    assert(error.includes(`deno task pipeline run --config ${configPath}`), error);
  } finally {
    await server.close();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("annotate refuses requests without the token, with another Host, and on other interfaces", async () => {
  const { root, server, before } = await setup("annotate-token");
  const { port, token } = server;
  try {
    const wrong = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    for (
      const path of [
        "/",
        "/api/session",
        `/${wrong}/api/session`,
        `/${token.slice(0, 8)}/api/session`,
        `/api/session?token=${token}`,
        `/x/${token}/api/session`,
      ]
    ) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      assertEquals(res.status, 403, path);
      assertEquals(
        (await res.json()).error,
        "missing or wrong token: open the URL annotate printed",
      );
    }
    // DNS rebinding: the right token under another host name
    const rebound = await raw(
      port,
      `GET /${token}/api/session HTTP/1.1\r\nHost: evil.example:${port}`,
    );
    assertEquals(rebound.status, 403);
    assertEquals(rebound.error, `wrong Host header "evil.example:${port}"`);
    const ok = await raw(port, `GET /${token}/api/session HTTP/1.1\r\nHost: localhost:${port}`);
    assertEquals(ok.status, 200);
    // Bound to 127.0.0.1 only: every other address of this machine refuses the connection.
    const others = Deno.networkInterfaces()
      .filter((i) => i.address !== "127.0.0.1" && !i.address.startsWith("fe80"))
      .map((i) => i.address);
    others.push("127.0.0.2");
    assert(others.length >= 3, others.join(", "));
    for (const hostname of others) {
      let connected = true;
      try {
        (await Deno.connect({ hostname, port })).close();
      } catch (e) {
        connected = false;
        assert(e instanceof Deno.errors.ConnectionRefused, `${hostname}: ${e}`);
      }
      assert(!connected, `annotate answered on ${hostname}:${port}`);
    }
    assertEquals(listTree(root), before);
  } finally {
    await server.close();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("annotate refuses ../ paths in every parameter and bad uploads, writing nothing", async () => {
  const { root, server, before, configPath } = await setup("annotate-paths");
  const { port, token } = server;
  const host = `Host: 127.0.0.1:${port}`;
  try {
    const gets: [string, number, RegExp][] = [
      [`/${token}/../../../etc/passwd`, 403, /wrong token/],
      [
        `/${token}/..%2F..%2F..%2Fetc%2Fpasswd`,
        400,
        /path traversal refused: "\.\.\/\.\.\/\.\.\/etc\/passwd"/,
      ],
      [`/${token}/api/cases/..%2F..%2Fetc%2Fpasswd/volume`, 400, /path traversal/],
      [`/${token}/api/cases/..%5C..%5Cetc/volume`, 400, /path traversal/],
      [`/${token}/api/cases/%2e%2e/%2e%2e/%2e%2e/etc/passwd`, 403, /wrong token/],
      [`/${token}/api/cases/p0/..%2F..%2Fvolume`, 400, /path traversal/],
      [`/${token}/api/cases/p0%00/volume`, 400, /path traversal/],
      [`/${token}/api/cases/nope/volume`, 404, /unknown case "nope"/],
      [`/${token}/api/cases/p0/volume/extra`, 404, /no such API/],
      [`/${token}/index.html/../app.js`, 200, /import/], // resolved by the URL parser, harmless
      [`/${token}/%E0%A4%A`, 400, /malformed/],
      [`/${token}/config.json`, 404, /no such page/],
    ];
    for (const [path, status, pattern] of gets) {
      const r = await raw(port, `GET ${path} HTTP/1.1\r\n${host}`);
      assertEquals(r.status, status, `${path}: ${r.text}`);
      assert(pattern.test(r.error), `${path}: ${r.error}`);
      assert(!r.text.includes("root:"), path);
    }
    const ok = new Uint8Array(SLICE).fill(1, 0, 10);
    const bad: [string, BodyInit, Record<string, string>, number, RegExp][] = [
      ["api/cases/p0/exemplar?slice=..%2F1", ok, {}, 400, /slice must be an integer in 0\.\.5/],
      ["api/cases/p0/exemplar?slice=6", ok, {}, 400, /0\.\.5, not "6"/],
      ["api/cases/p0/exemplar?slice=-1", ok, {}, 400, /slice/],
      ["api/cases/p0/exemplar", ok, {}, 400, /slice/],
      ["api/cases/..%2Fp0/exemplar?slice=1", ok, {}, 400, /path traversal/],
      ["api/cases/p9/exemplar?slice=1", ok, {}, 404, /unknown case "p9"/],
      ["api/cases/p0/exemplar?slice=1", new Uint8Array(SLICE + 1), {}, 413, /481 bytes refused/],
      [
        "api/cases/p0/exemplar?slice=1",
        new Uint8Array(SLICE - 1),
        {},
        400,
        /479 values; the slice 24x20/,
      ],
      ["api/cases/p0/exemplar?slice=1", new Uint8Array(SLICE), {}, 422, /nothing painted/],
      [
        "api/cases/p0/exemplar?slice=1",
        new Uint8Array(SLICE).fill(3, 5, 9),
        {},
        422,
        /value 3 \(4 voxels, first at flat index 5\) outside the declared classes \[0, 1, 2\]/,
      ],
      ["api/cases/p0/exemplar?slice=1", ok, { origin: "http://evil.example" }, 403, /cross-origin/],
      ["api/cases/p0/volume", ok, {}, 405, /POST not allowed/],
      ["api/session", ok, {}, 405, /POST not allowed/],
    ];
    for (const [path, body, headers, status, pattern] of bad) {
      const res = await post(server, path, body, headers);
      const text = await res.text();
      assertEquals(res.status, status, `${path}: ${text}`);
      const error = JSON.parse(text).error;
      assert(pattern.test(error), `${path}: ${error}`);
    }
    // An oversized upload without Content-Length (chunked) is cut off at the limit.
    const huge = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 64; i++) c.enqueue(new Uint8Array(1024).fill(1));
        c.close();
      },
    });
    const chunked = await post(server, "api/cases/p0/exemplar?slice=1", huge);
    assertEquals(chunked.status, 413);
    assert((await chunked.json()).error.includes("more than 480 bytes"));
    const declared = await raw(
      port,
      `POST /${token}/api/cases/p0/exemplar?slice=1 HTTP/1.1\r\n${host}\r\nContent-Length: 999999999`,
    );
    assertEquals(declared.status, 413, declared.text);
    // A config whose roles contradict the exemplar is refused, not half-written.
    Deno.writeTextFileSync(configPath, JSON.stringify({ data: { roles: { validation: ["p0"] } } }));
    const conflict = await post(server, "api/cases/p0/exemplar?slice=1", ok);
    assertEquals(conflict.status, 409);
    assert(
      (await conflict.json()).error.includes(`"p0" is in both roles.validation and roles.exemplar`),
    );
    Deno.removeSync(configPath);
    const put = await fetch(`${server.url}api/session`, { method: "PUT", body: "x" });
    assertEquals(put.status, 405);
    await put.body?.cancel();
    // Nothing was written: no label, no list, no config.
    assertEquals(listTree(root), before);
  } finally {
    await server.close();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("annotate CLI: a missing --data is exit 64, an unwritable --out exit 74", async () => {
  const root = tempDir("annotate-cli");
  try {
    const missing = await cli(["annotate", "--data", `${root}/nope`], { killAfterMs: 30_000 });
    assertEquals(missing.code, 64, missing.stderr);
    assert(missing.stderr.includes(`--data: ${root}/nope does not exist`), missing.stderr);
    const data = phantomFolder(`${root}/data`, { count: 1, shape: [8, 8, 2] });
    // Below a file: unwritable even for root (tests may run as root, where modes do not bind).
    Deno.writeTextFileSync(`${root}/file`, "");
    const bad = await cli(["annotate", "--data", data, "--out", `${root}/file/x`], {
      killAfterMs: 30_000,
    });
    assertEquals(bad.code, 74, bad.stderr);
    assert(bad.stderr.includes(`${root}/file/x`), bad.stderr);
    assert(bad.stderr.includes("is a file, not a folder: choose another --out"), bad.stderr);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("annotate CLI: the config's data.source is read under --data, as run reads it", async () => {
  const root = tempDir("annotate-source");
  try {
    phantomFolder(`${root}/data/scans`, { count: 2, shape: [8, 8, 2] });
    Deno.writeTextFileSync(`${root}/data/README.md`, "not a case");
    const config = `${root}/run.json`;
    Deno.writeTextFileSync(config, JSON.stringify({ data: { source: "scans", classes: CLASSES } }));
    const child = spawnCli(["annotate", "--data", `${root}/data`, "--config", config]);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("open http")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    child.kill("SIGTERM");
    await reader.cancel();
    const stderr = await new Response(child.stderr).text();
    await child.status;
    assert(text.includes(`annotate: 2 cases of ${root}/data/scans;`), text + stderr);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
