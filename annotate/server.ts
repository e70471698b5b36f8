/**
 * The annotate web server: Deno.serve on 127.0.0.1 (never another interface), every URL under
 * `/<token>/` with a random token that only the printed URL carries, so another local user or a
 * web page open in the same browser cannot read scans or write labels.
 *
 * Nothing is ever looked up by a path taken from a request: pages come from a fixed map of
 * assets, cases by ID from discovery (anything else is a 404), and the only files written are
 * the exemplar's label, the case list (in `out`) and the config (annotate/exemplar.ts).
 *
 * Routes, all below `/<token>`: `/` the page and its assets; `GET api/session` classes, colours,
 * cases; `GET api/cases/<ID>` a case's shape, spacing, window and suggested slice; `.../volume`
 * its voxels (uint16); `.../exemplar` the saved exemplar slice (`GET`) or a new one (`POST
 * ?slice=z`, body: nx*ny label bytes); `.../prediction` the run's model's mask (uint8).
 */
import { readNifti } from "../io/nifti.ts";
import { DataError } from "../io/errors.ts";
import type { DiscoverOptions } from "../io/dataset.ts";
import { SERIES_COLORS } from "../report/chart.ts";
import type { Catalogue } from "./catalogue.ts";
import { decodeRaw, labelName, readRawConfig, saveExemplar } from "./exemplar.ts";
import { HttpError } from "./http.ts";
import { Predictions, type PredictionSource } from "./predictions.ts";
import { join } from "node:path";

export interface AnnotateOptions {
  readonly catalogue: Catalogue;
  /** Class names (data.classes); label value = index. */
  readonly classes: readonly string[];
  /** Folder for the label and the case list; must exist. */
  readonly out: string;
  readonly configPath: string;
  readonly discover: DiscoverOptions;
  readonly predictions: PredictionSource;
  /** 0 (default): any free port. */
  readonly port?: number;
  /** Default: a fresh random one. */
  readonly token?: string;
  /** Errors worth a line on the terminal (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface AnnotateServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

const HOSTNAME = "127.0.0.1";

const ASSETS: Record<string, { file: string; type: string }> = {
  "": { file: "index.html", type: "text/html; charset=utf-8" },
  "style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "paint.js": { file: "paint.js", type: "text/javascript; charset=utf-8" },
  "view.js": { file: "view.js", type: "text/javascript; charset=utf-8" },
};

/** Every asset read once at start: a missing one fails now, not on a user's click. */
const loadAssets = () =>
  new Map(
    Object.entries(ASSETS).map(([name, a]) => [
      name,
      { type: a.type, body: Deno.readFileSync(new URL(`./web/${a.file}`, import.meta.url)) },
    ]),
  );

const HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "content-security-policy":
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

const respond = (body: BodyInit | null, status: number, type: string, extra = {}) =>
  new Response(body, { status, headers: { ...HEADERS, "content-type": type, ...extra } });

const json = (value: unknown, status = 200) =>
  respond(JSON.stringify(value), status, "application/json");

const bytes = (data: Uint8Array, extra: Record<string, string> = {}) =>
  respond(data as Uint8Array<ArrayBuffer>, 200, "application/octet-stream", extra);

/** Constant-time comparison, so the token cannot be guessed one character at a time. */
function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export const randomToken = (): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/** Path segments after the token, decoded; anything that could name another path is refused. */
function segments(rest: readonly string[]): string[] {
  return rest.map((raw) => {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, `malformed path segment "${raw}"`);
    }
    if (s === ".." || s === "." || /[\/\\\0]/.test(s)) {
      throw new HttpError(400, `path traversal refused: "${s}"`);
    }
    return s;
  });
}

function sliceParam(url: URL, nz: number): number {
  const raw = url.searchParams.get("slice") ?? "";
  if (!/^\d{1,6}$/.test(raw) || Number(raw) >= nz) {
    throw new HttpError(400, `slice must be an integer in 0..${nz - 1}, not "${raw}"`);
  }
  return Number(raw);
}

/** The body, refused (413) as soon as it is longer than `limit` bytes. */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  const tooLarge = (n: number | string) =>
    new HttpError(413, `upload of ${n} bytes refused: a label slice here is ${limit} bytes`);
  if (declared !== null && Number(declared) > limit) throw tooLarge(declared);
  const out = new Uint8Array(limit);
  let n = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      if (n + chunk.length > limit) throw tooLarge(`more than ${limit}`);
      out.set(chunk, n);
      n += chunk.length;
    }
  }
  return out.subarray(0, n);
}

export function startAnnotate(o: AnnotateOptions): AnnotateServer {
  const token = o.token ?? randomToken();
  const assets = loadAssets();
  const predictions = new Predictions(o.predictions);
  const log = o.log ?? ((line: string) => console.error(line));
  const colours = o.classes.map((_, k) =>
    k === 0 ? null : SERIES_COLORS[(k - 1) % SERIES_COLORS.length]
  );
  let port = 0;

  /** The exemplar the config names now, when it is one annotate wrote into `out`. */
  const currentExemplar = () => {
    const ex = decodeRaw(readRawConfig(o.configPath), o.configPath).data.roles.exemplar;
    if (!ex || typeof ex.slice === "string") return null;
    try {
      Deno.statSync(join(o.out, labelName(ex.case)));
    } catch {
      return null;
    }
    return { case: ex.case, slice: ex.slice };
  };

  const api = async (req: Request, url: URL, path: string[]): Promise<Response> => {
    const saving = path.length === 3 && path[0] === "cases" && path[2] === "exemplar";
    const allowed = saving ? ["GET", "HEAD", "POST"] : ["GET", "HEAD"];
    if (!allowed.includes(req.method)) throw new HttpError(405, `${req.method} not allowed here`);
    if (path.length === 1 && path[0] === "session") {
      return json({
        classes: o.classes,
        colours,
        cases: o.catalogue.specs.map((s) => ({
          id: s.id,
          format: s.format,
          hasLabel: s.labelPath !== undefined,
        })),
        exemplar: currentExemplar(),
        out: o.out,
        config: o.configPath,
      });
    }
    if (path[0] !== "cases" || path.length < 2 || path.length > 3) {
      throw new HttpError(404, `no such API: ${path.join("/")}`);
    }
    const id = path[1];
    o.catalogue.spec(id); // 404 before any work
    const what = path[2] ?? "";
    if (req.method === "POST") {
      const origin = req.headers.get("origin");
      if (origin !== null && origin !== `http://${HOSTNAME}:${port}`) {
        throw new HttpError(403, `cross-origin save refused (${origin})`);
      }
      const v = await o.catalogue.volume(id);
      const [nx, ny, nz] = v.meta.shape;
      const slice = sliceParam(url, nz);
      const labels = await readBody(req, nx * ny);
      const saved = await saveExemplar({
        out: o.out,
        configPath: o.configPath,
        specs: o.catalogue.specs,
        caseId: id,
        image: v.image,
        slice,
        labels,
        classes: o.classes,
        discover: o.discover,
      });
      return json({ ...saved, command: `deno task pipeline run --config ${saved.config}` });
    }
    const v = await o.catalogue.volume(id);
    switch (what) {
      case "":
        return json(v.meta);
      case "volume":
        return bytes(v.quantized);
      case "exemplar": {
        const ex = currentExemplar();
        if (ex?.case !== id) throw new HttpError(404, `case "${id}" is not the saved exemplar`);
        const [nx, ny] = v.meta.shape;
        const saved = readNifti(join(o.out, labelName(id)));
        const values = saved.data.subarray(ex.slice * nx * ny, (ex.slice + 1) * nx * ny);
        return bytes(Uint8Array.from(values), { "x-duet-slice": String(ex.slice) });
      }
      case "prediction": {
        const p = await predictions.forCase(id, v.image);
        return bytes(p.label.data, { "x-duet-run": p.runId, "x-duet-model": p.model });
      }
    }
    throw new HttpError(404, `no such API: ${path.join("/")}`);
  };

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    // A DNS-rebinding page reaches 127.0.0.1 under its own host name: refuse other Host headers.
    const host = req.headers.get("host");
    if (host !== `${HOSTNAME}:${port}` && host !== `localhost:${port}`) {
      return json({ error: `wrong Host header "${host}"` }, 403);
    }
    const [, first = "", ...rest] = url.pathname.split("/");
    if (!sameToken(first, token)) {
      return json({ error: "missing or wrong token: open the URL annotate printed" }, 403);
    }
    try {
      if (rest.length === 0) return Response.redirect(`${url.origin}/${token}/`, 308);
      const path = segments(rest);
      if (path[0] === "api") return await api(req, url, path.slice(1));
      const asset = path.length === 1 ? assets.get(path[0]) : undefined;
      if (!asset) throw new HttpError(404, `no such page: ${path.join("/")}`);
      if (req.method !== "GET" && req.method !== "HEAD") {
        throw new HttpError(405, `${req.method} not allowed here`);
      }
      return respond(asset.body, 200, asset.type);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : e instanceof DataError ? 422 : 500;
      const message = (e as Error).message ?? String(e);
      if (status >= 500) {
        log(`annotate: ${req.method} ${url.pathname.slice(token.length + 1)}: ${message}`);
      }
      return json({ error: message }, status);
    }
  };

  const server = Deno.serve(
    { hostname: HOSTNAME, port: o.port ?? 0, onListen: () => {} },
    handle,
  );
  port = server.addr.port;
  return {
    url: `http://${HOSTNAME}:${port}/${token}/`,
    port,
    token,
    close: async () => {
      await server.shutdown();
      await predictions.close();
    },
  };
}
