/**
 * Object storage: the only place stage outputs, checkpoints and manifests live.
 *
 * Keys are '/'-separated relative paths. Three layers implement the same shape: the local
 * filesystem (default, under `.duet/`), memory (tests) and S3 (`pipeline/store_s3.ts`).
 * `putIfAbsent` is create-only and atomic: it is how commit markers make exactly one writer win.
 */
import { Effect, Schema } from "effect";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ExitCode, ioFix } from "./errors.ts";

export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  uri: Schema.String,
  message: Schema.String,
  /** true for failures a retry may cure (network, throttling): exit 75 */
  transient: Schema.Boolean,
  /** true when the storage refused (permissions, read-only, disk full, S3 403): exit 74 */
  io: Schema.optionalKey(Schema.Boolean),
}) {
  get exitCode(): number {
    return this.transient ? ExitCode.transient : this.io ? ExitCode.io : ExitCode.bug;
  }
  get line(): string {
    return `object store error at ${this.uri}: ${this.message}${
      this.transient ? " (transient; retry)" : ""
    }`;
  }
}

/**
 * Why a key is unsafe, or undefined: keys are relative '/'-paths without '.', '..' or empty
 * segments (a trailing '/' is allowed, for list prefixes), so no key can leave the store's root
 * whatever a caller puts in it (a run ID from the command line, say).
 */
export function unsafeKey(key: string): string | undefined {
  if (key === "") return undefined; // list("") = the whole store
  const segments = key.split("/");
  if (segments.at(-1) === "") segments.pop();
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.includes("\0"))) {
    return `key "${key}" has an empty, "." or ".." segment and would leave the store`;
  }
  return undefined;
}

/** The same store with every key checked by `unsafeKey` first (a non-transient StoreError). */
export function guardKeys<S extends ObjectStoreShape>(store: S): S {
  const check = <A>(key: string, op: () => Effect.Effect<A, StoreError>) =>
    Effect.suspend(() => {
      const problem = unsafeKey(key);
      return problem === undefined
        ? op()
        : Effect.fail(new StoreError({ uri: store.uri, message: problem, transient: false }));
    });
  return {
    ...store,
    get: (key) => check(key, () => store.get(key)),
    put: (key, bytes) => check(key, () => store.put(key, bytes)),
    putIfAbsent: (key, bytes) => check(key, () => store.putIfAbsent(key, bytes)),
    list: (prefix) => check(prefix, () => store.list(prefix)),
    remove: (key) => check(key, () => store.remove(key)),
  };
}

export interface ObjectStoreShape {
  /** Base URI, e.g. `file:///home/me/.duet`, `s3://bucket/prefix`, `memory://test`. */
  readonly uri: string;
  /** The bytes under key, or undefined when there is no such object. */
  readonly get: (key: string) => Effect.Effect<Uint8Array | undefined, StoreError>;
  /** Writes (or overwrites) key; readers never see a partial object. */
  readonly put: (key: string, bytes: Uint8Array) => Effect.Effect<void, StoreError>;
  /** Creates key only if absent; true when this call created it. Atomic against racing writers. */
  readonly putIfAbsent: (key: string, bytes: Uint8Array) => Effect.Effect<boolean, StoreError>;
  /** All keys starting with prefix, sorted. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreError>;
  readonly remove: (key: string) => Effect.Effect<void, StoreError>;
}

export const objectUri = (store: ObjectStoreShape, key: string): string =>
  `${store.uri.replace(/\/+$/, "")}/${key}`;

/** In-memory store for tests; `name` only labels URIs. */
export function makeMemoryStore(name = "test"): ObjectStoreShape {
  const objects = new Map<string, Uint8Array>();
  return guardKeys({
    uri: `memory://${name}`,
    get: (key) => Effect.sync(() => objects.get(key)?.slice()),
    put: (key, bytes) => Effect.sync(() => void objects.set(key, bytes.slice())),
    putIfAbsent: (key, bytes) =>
      Effect.sync(() => {
        if (objects.has(key)) return false;
        objects.set(key, bytes.slice());
        return true;
      }),
    list: (prefix) =>
      Effect.sync(() => [...objects.keys()].filter((k) => k.startsWith(prefix)).sort()),
    remove: (key) => Effect.sync(() => void objects.delete(key)),
  });
}

/** Filesystem store rooted at `root`; writes go to a temp file then rename/link, so they are atomic. */
export function makeFileStore(root: string): ObjectStoreShape {
  const base = path.resolve(root);
  const uri = `file://${base}`;
  const full = (key: string) => path.join(base, ...key.split("/"));
  const fail = (key: string, error: unknown) => {
    const fix = ioFix(error, "--store");
    const message = error instanceof Error ? error.message : String(error);
    return new StoreError({
      uri: `${uri}/${key}`,
      message: fix ? `${message} (${fix})` : message,
      transient: false,
      ...(fix ? { io: true } : {}),
    });
  };
  let tmpCounter = 0;
  const writeTemp = async (target: string, bytes: Uint8Array) => {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${Deno.pid}-${tmpCounter++}`;
    await fs.writeFile(tmp, bytes);
    return tmp;
  };
  return guardKeys({
    uri,
    get: (key) =>
      Effect.tryPromise({
        try: async () => {
          try {
            return new Uint8Array(await fs.readFile(full(key)));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
            throw e;
          }
        },
        catch: (e) => fail(key, e),
      }),
    put: (key, bytes) =>
      Effect.tryPromise({
        try: async () => {
          const target = full(key);
          await fs.rename(await writeTemp(target, bytes), target);
        },
        catch: (e) => fail(key, e),
      }),
    putIfAbsent: (key, bytes) =>
      Effect.tryPromise({
        try: async () => {
          const target = full(key);
          const tmp = await writeTemp(target, bytes);
          try {
            await fs.link(tmp, target); // link(2) fails with EEXIST: create-only, atomic
            return true;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
            throw e;
          } finally {
            await fs.rm(tmp, { force: true });
          }
        },
        catch: (e) => fail(key, e),
      }),
    list: (prefix) =>
      Effect.tryPromise({
        try: async () => {
          const keys: string[] = [];
          const walk = async (dir: string, rel: string): Promise<void> => {
            let entries;
            try {
              entries = await fs.readdir(dir, { withFileTypes: true });
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
              throw e;
            }
            for (const entry of entries) {
              const key = rel ? `${rel}/${entry.name}` : entry.name;
              if (entry.isDirectory()) {
                if (prefix.startsWith(key + "/") || key.startsWith(prefix) || prefix === "") {
                  await walk(path.join(dir, entry.name), key);
                }
              } else if (key.startsWith(prefix) && !/\.tmp-\d+-\d+$/.test(key)) keys.push(key);
            }
          };
          await walk(base, "");
          return keys.sort();
        },
        catch: (e) => fail(prefix, e),
      }),
    remove: (key) =>
      Effect.tryPromise({
        try: () => fs.rm(full(key), { force: true }),
        catch: (e) => fail(key, e),
      }),
  });
}
