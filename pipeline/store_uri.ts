/**
 * `--store URI` to an object store: `file:///abs/dir`, a plain path, `memory://name` or
 * `s3://bucket/prefix`. No URI means `.duet` under the working directory.
 *
 * S3 settings normally come from the environment (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
 * DUET_S3_PATH_STYLE, AWS_REGION, the standard credential chain); query parameters
 * `endpoint`, `path_style` (1/0) and `region` override them for one URI, which is handy in
 * scheduler plans, e.g. `s3://bucket/runs?endpoint=http://minio:9000&path_style=1`.
 */
import { Schema } from "effect";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { makeFileStore, makeMemoryStore, type ObjectStoreShape } from "./store.ts";
import { makeS3Store, type S3StoreOptions } from "./store_s3.ts";

/** A malformed or unsupported store URI: a usage error (exit 64). */
export class StoreUriError extends Schema.TaggedError<StoreUriError>()("StoreUriError", {
  uri: Schema.String,
  message: Schema.String,
}) {}

export const DEFAULT_STORE_DIR = ".duet";

export type StoreLocation =
  | { readonly kind: "file"; readonly root: string }
  | { readonly kind: "memory"; readonly name: string }
  | {
    readonly kind: "s3";
    readonly bucket: string;
    readonly prefix: string;
    readonly endpoint?: string;
    readonly forcePathStyle?: boolean;
    readonly region?: string;
  };

// S3 bucket names: 3-63 chars of lowercase letters, digits, dots and hyphens (AWS naming rules).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses a store URI without touching anything; `cwd` resolves plain relative paths. */
export function parseStoreUri(uri: string | undefined, cwd = Deno.cwd()): StoreLocation {
  const raw = (uri ?? "").trim();
  if (raw === "") return { kind: "file", root: path.resolve(cwd, DEFAULT_STORE_DIR) };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw)?.[1]?.toLowerCase();
  const fail = (message: string): never => {
    throw new StoreUriError({ uri: raw, message });
  };
  if (scheme === undefined || /^[a-zA-Z]:[\\/]/.test(raw)) {
    return { kind: "file", root: path.resolve(cwd, raw) };
  }
  switch (scheme) {
    case "file": {
      if (!raw.startsWith("file://")) fail("file URIs look like file:///absolute/dir");
      let root: string;
      try {
        root = fileURLToPath(raw);
      } catch (e) {
        return fail(`not a file URI: ${e instanceof Error ? e.message : e}`);
      }
      return { kind: "file", root };
    }
    case "memory": {
      const name = raw.slice("memory://".length).replace(/\/+$/, "");
      if (!raw.startsWith("memory://") || name === "") fail("memory URIs look like memory://name");
      return { kind: "memory", name };
    }
    case "s3": {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return fail("S3 URIs look like s3://bucket/prefix");
      }
      const bucket = url.hostname;
      if (!BUCKET.test(bucket)) {
        fail(`'${bucket}' is not a valid S3 bucket name (3-63 of a-z 0-9 . -)`);
      }
      const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
      const known = new Set(["endpoint", "path_style", "region"]);
      for (const k of url.searchParams.keys()) {
        if (!known.has(k)) fail(`unknown S3 URI parameter '${k}' (endpoint, path_style, region)`);
      }
      const endpoint = url.searchParams.get("endpoint") ?? undefined;
      if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
        fail(`endpoint must be an http(s) URL: ${endpoint}`);
      }
      const ps = url.searchParams.get("path_style");
      const region = url.searchParams.get("region") ?? undefined;
      return {
        kind: "s3",
        bucket,
        prefix,
        ...(endpoint ? { endpoint } : {}),
        ...(ps !== null ? { forcePathStyle: /^(1|true|yes|on)$/i.test(ps) } : {}),
        ...(region ? { region } : {}),
      };
    }
    case "gs":
    case "gcs":
      return fail(
        "use GCS through its S3 interoperability API: s3://bucket/prefix with " +
          "AWS_ENDPOINT_URL_S3=https://storage.googleapis.com and HMAC keys",
      );
    default:
      return fail(`unsupported store scheme '${scheme}:' (file://, memory://, s3:// or a path)`);
  }
}

// memory://name is one store per name and process, so a runner and a test share it by URI.
const memoryStores = new Map<string, ObjectStoreShape>();

export interface StoreFromUriOptions {
  readonly cwd?: string;
  /** Extra S3 options (credentials, retry, ...) applied to s3:// URIs. */
  readonly s3?: Partial<S3StoreOptions>;
}

/** The object store a URI names; throws StoreUriError for a bad URI. */
export function storeFromUri(uri?: string, options: StoreFromUriOptions = {}): ObjectStoreShape {
  const location = parseStoreUri(uri, options.cwd);
  switch (location.kind) {
    case "file":
      return makeFileStore(location.root);
    case "memory": {
      let store = memoryStores.get(location.name);
      if (!store) memoryStores.set(location.name, store = makeMemoryStore(location.name));
      return store;
    }
    case "s3": {
      const { kind: _, ...s3 } = location;
      try {
        return makeS3Store({ ...options.s3, ...s3 });
      } catch (e) {
        throw new StoreUriError({
          uri: uri ?? "",
          message: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }
}
