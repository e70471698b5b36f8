/**
 * S3 object store: the same `ObjectStoreShape` as the file and memory layers, over
 * @aws-sdk/client-s3, for AWS S3 and S3-compatible servers (MinIO, Ceph RGW, R2, GCS interop).
 *
 * - Endpoint: option, else the SDK's standard `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
 * - Path-style addressing: option, else `DUET_S3_PATH_STYLE=1`, else on for IP/localhost endpoints.
 * - Credentials: the SDK's standard chain (env, profile, SSO, web identity, IMDS/ECS).
 * - `requestChecksumCalculation: "WHEN_REQUIRED"`: with the SDK default, streamed bodies are stored
 *   with checksum trailers on servers that do not understand them (corrupted objects).
 * - Objects above `multipartThresholdBytes` (16 MiB) go up as multipart uploads.
 * - Transient failures (5xx, throttling, network) are retried with exponential backoff and jitter
 *   (attempts per request: option, else `DUET_S3_MAX_ATTEMPTS`, else 6); when they are exhausted
 *   they fail with `StoreError{transient: true}` (exit 75).
 * - Every request is bounded in time: a connection that goes silent for the idle timeout (option,
 *   else `DUET_S3_TIMEOUT_MS`, else 60 s) fails as transient, as does a request not done in
 *   5 minutes, so an endpoint that accepts connections and never answers ends in exit 75 (the
 *   SDK's own request timeout only logs a warning unless told to throw).
 * - Refusals (403: bad credentials or no permission; a missing bucket) are
 *   `StoreError{io: true}` (exit 74), one line with the fix.
 * - `putIfAbsent`: `If-None-Match: *` where the server honours it (probed once per store), else
 *   the claim protocol of `claimPutIfAbsent` below (also described in docs/cloud.md).
 *
 * Longer than ~400 lines because the retry loop, multipart upload and the claim protocol share
 * the one request helper and its error classification.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Effect } from "effect";
import { guardKeys, type ObjectStoreShape, StoreError } from "./store.ts";

export type ConditionalWriteMode = "auto" | "if-none-match" | "claims";

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket ("" for the bucket root); slashes at either end are ignored. */
  readonly prefix: string;
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly region?: string;
  /** Explicit credentials; default is the SDK's standard provider chain. */
  readonly credentials?: S3ClientConfig["credentials"];
  /** How `putIfAbsent` is made create-only; default `DUET_S3_CONDITIONAL_WRITES` or "auto". */
  readonly conditionalWrites?: ConditionalWriteMode;
  readonly multipartThresholdBytes?: number;
  readonly partSizeBytes?: number;
  /** Attempts per request (first try included), backoff base and cap. */
  readonly retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /**
   * Age after which another writer's putIfAbsent claim is ignored as abandoned (claims mode);
   * default `DUET_S3_CLAIM_TTL_MS`, else 120 s. A crashed writer's claim delays others that long.
   */
  readonly claimTtlMs?: number;
  /** A request whose connection is silent this long fails as transient (default 60 s). */
  readonly timeoutMs?: number;
  /** Page size for list (S3 caps it at 1000); small values exercise pagination in tests. */
  readonly listPageSize?: number;
  /** Environment to read settings from; default `Deno.env.toObject()`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface ResolvedS3Settings {
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  readonly region: string;
  readonly regionGiven: boolean;
  readonly conditionalWrites: ConditionalWriteMode;
  /** Attempts per request, first try included. */
  readonly maxAttempts: number;
  /** Age after which a putIfAbsent claim counts as abandoned (claims mode). */
  readonly claimTtlMs: number;
  /** Idle time after which a request fails as transient. */
  readonly timeoutMs: number;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());

/** Settings after applying options, then the standard environment variables, then defaults. */
export function resolveS3Settings(
  options: S3StoreOptions,
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
): ResolvedS3Settings {
  const endpoint = options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL ||
    undefined;
  let forcePathStyle = options.forcePathStyle;
  if (forcePathStyle === undefined && env.DUET_S3_PATH_STYLE !== undefined) {
    forcePathStyle = truthy(env.DUET_S3_PATH_STYLE);
  }
  if (forcePathStyle === undefined && endpoint) {
    // Virtual-hosted style needs DNS for bucket.host: never works for IPs or localhost.
    const host = new URL(endpoint).hostname;
    forcePathStyle = host === "localhost" || /^[\d.]+$/.test(host) || host.startsWith("[");
  }
  const region = options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const mode = options.conditionalWrites ?? env.DUET_S3_CONDITIONAL_WRITES ?? "auto";
  if (mode !== "auto" && mode !== "if-none-match" && mode !== "claims") {
    throw new Error(`DUET_S3_CONDITIONAL_WRITES must be auto, if-none-match or claims: ${mode}`);
  }
  const attempts = options.retry?.maxAttempts ?? env.DUET_S3_MAX_ATTEMPTS ?? 6;
  if (!/^\d+$/.test(`${attempts}`.trim()) || Number(attempts) < 1) {
    throw new Error(`DUET_S3_MAX_ATTEMPTS must be a whole number from 1: ${attempts}`);
  }
  const ttl = options.claimTtlMs ?? env.DUET_S3_CLAIM_TTL_MS ?? 120_000;
  if (!/^\d+$/.test(`${ttl}`.trim()) || Number(ttl) < 1000) {
    throw new Error(`DUET_S3_CLAIM_TTL_MS must be a whole number of ms from 1000: ${ttl}`);
  }
  const timeout = options.timeoutMs ?? env.DUET_S3_TIMEOUT_MS ?? 60_000;
  if (!/^\d+$/.test(`${timeout}`.trim()) || Number(timeout) < 100) {
    throw new Error(`DUET_S3_TIMEOUT_MS must be a whole number of ms from 100: ${timeout}`);
  }
  return {
    endpoint,
    forcePathStyle: forcePathStyle ?? false,
    region: region ?? "us-east-1",
    regionGiven: region !== undefined,
    conditionalWrites: mode,
    maxAttempts: Number(attempts),
    claimTtlMs: Number(ttl),
    timeoutMs: Number(timeout),
  };
}

// ---- error classification -------------------------------------------------------------------

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const TRANSIENT_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "ConditionalRequestConflict", // 409 from racing conditional writes: AWS says retry
  "TimeoutError",
  "AbortError",
]);
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);

export const httpStatus = (e: unknown): number | undefined =>
  (e as AwsLikeError)?.$metadata?.httpStatusCode;

/** True for failures a retry may cure: 5xx, 429, throttling codes, timeouts, network errors. */
export function isTransient(e: unknown): boolean {
  const err = e as AwsLikeError;
  if (!err || typeof err !== "object") return false;
  const status = httpStatus(e);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (err.name && TRANSIENT_NAMES.has(err.name)) return true;
  if (err.code && TRANSIENT_CODES.has(err.code)) return true;
  if (
    /socket hang up|ECONNRESET|ECONNREFUSED|network|connection (reset|refused|closed)/i.test(
      err.message ?? "",
    )
  ) return true;
  return err.cause !== undefined && err.cause !== e && isTransient(err.cause);
}

const describe = (e: unknown): string => {
  const err = e as AwsLikeError;
  if (err && typeof err === "object") {
    const status = httpStatus(e);
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return `${name}${err.message ?? String(e)}${status ? ` (HTTP ${status})` : ""}`;
  }
  return String(e);
};

/** The fix for a refusal that no retry cures (exit 74), or undefined. */
export function refusalFix(e: unknown): string | undefined {
  const name = (e as AwsLikeError)?.name ?? "";
  if (name === "NoSuchBucket") return "create the bucket or fix the bucket name in --store";
  if (
    httpStatus(e) === 403 ||
    ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"].includes(name)
  ) {
    return "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or profile) and " +
      "that they may read and write the bucket";
  }
  return undefined;
}

const isNotFound = (e: unknown) => {
  const name = (e as AwsLikeError)?.name;
  return name === "NoSuchKey" || name === "NotFound" || httpStatus(e) === 404;
};

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Thrown internally once retries are exhausted or the failure is permanent. */
class S3Failure extends Error {
  constructor(readonly key: string, message: string, readonly transient: boolean) {
    super(message);
  }
}

// ---- the store ------------------------------------------------------------------------------

const MiB = 1024 * 1024;

interface PutExtra {
  readonly IfNoneMatch?: string;
  readonly Metadata?: Record<string, string>;
  /** Told the attempt number of the request that commits the object (PUT or Complete). */
  readonly attempts?: (attempt: number) => void;
}

/** An S3 (or S3-compatible) bucket as an object store. */
export function makeS3Store(options: S3StoreOptions): ObjectStoreShape & {
  readonly client: S3Client;
  /** The conditional-write mode in use (resolves "auto" by probing the server once). */
  readonly conditionalWriteMode: () => Promise<"if-none-match" | "claims">;
} {
  const settings = resolveS3Settings(options, options.env);
  const bucket = options.bucket;
  const base = options.prefix.replace(/^\/+|\/+$/g, "");
  const uri = `s3://${bucket}${base ? `/${base}` : ""}`;
  const threshold = options.multipartThresholdBytes ?? 16 * MiB;
  const partSize = Math.max(options.partSizeBytes ?? 8 * MiB, 5 * MiB); // S3 minimum part size
  const maxAttempts = settings.maxAttempts;
  const baseDelayMs = options.retry?.baseDelayMs ?? 200;
  const maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
  const claimTtlMs = settings.claimTtlMs;
  const pageSize = options.listPageSize ?? 1000;

  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Without a region from the caller or env, S3 tells us the bucket's region on the first call.
    followRegionRedirects: !settings.regionGiven,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1, // retries are ours (below), so they are counted and classified in one place
    requestHandler: {
      connectionTimeout: Math.min(10_000, settings.timeoutMs),
      socketTimeout: settings.timeoutMs,
      requestTimeout: Math.max(300_000, settings.timeoutMs),
      throwOnRequestTimeout: true,
    },
  });

  const full = (key: string) => (base ? `${base}/${key}` : key);
  const objectUri = (key: string) => `${uri}/${key}`;

  /** Runs one request with retries on transient failures; `attempt` counts from 1. */
  const send = async <A>(
    key: string,
    request: (attempt: number) => Promise<A>,
    signal?: AbortSignal,
  ): Promise<A> => {
    for (let attempt = 1;; attempt++) {
      try {
        return await request(attempt);
      } catch (e) {
        if (signal?.aborted) throw e;
        if (!isTransient(e)) throw e;
        if (attempt >= maxAttempts) {
          throw new S3Failure(
            key,
            `${describe(e)}; gave up after ${attempt} attempts`,
            true,
          );
        }
        const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await sleep(cap / 2 + Math.random() * cap / 2, signal); // "equal jitter"
      }
    }
  };

  const toStoreError = (key: string) => (e: unknown) => {
    if (e instanceof S3Failure) {
      return new StoreError({ uri: objectUri(e.key), message: e.message, transient: e.transient });
    }
    const fix = refusalFix(e);
    if (fix) {
      return new StoreError({
        uri: objectUri(key),
        message: `${describe(e)} (${fix})`,
        transient: false,
        io: true,
      });
    }
    return new StoreError({ uri: objectUri(key), message: describe(e), transient: isTransient(e) });
  };

  const getBytes = async (key: string, signal?: AbortSignal) => {
    try {
      return await send(key, async () => {
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: full(key) }),
          { abortSignal: signal },
        );
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      }, signal);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };

  const head = async (key: string, signal?: AbortSignal) => {
    try {
      return await send(
        key,
        () =>
          client.send(new HeadObjectCommand({ Bucket: bucket, Key: full(key) }), {
            abortSignal: signal,
          }),
        signal,
      );
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };

  const putSingle = (
    key: string,
    bytes: Uint8Array,
    extra: PutExtra,
    signal?: AbortSignal,
  ) =>
    send(key, (attempt) => {
      extra.attempts?.(attempt);
      return client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: full(key),
          Body: bytes,
          ContentLength: bytes.byteLength,
          IfNoneMatch: extra.IfNoneMatch,
          Metadata: extra.Metadata,
        }),
        { abortSignal: signal },
      );
    }, signal);

  const putMultipart = async (
    key: string,
    bytes: Uint8Array,
    extra: PutExtra,
    signal?: AbortSignal,
  ) => {
    const created = await send(key, () =>
      client.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: full(key),
          Metadata: extra.Metadata,
        }),
        { abortSignal: signal },
      ), signal);
    const uploadId = created.UploadId!;
    try {
      const count = Math.ceil(bytes.byteLength / partSize);
      const parts: { ETag: string; PartNumber: number }[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const body = bytes.subarray(i * partSize, Math.min((i + 1) * partSize, bytes.byteLength));
          const out = await send(key, () =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: full(key),
                UploadId: uploadId,
                PartNumber: i + 1,
                Body: body,
                ContentLength: body.byteLength,
              }),
              { abortSignal: signal },
            ), signal);
          parts[i] = { ETag: out.ETag!, PartNumber: i + 1 };
        }
      };
      await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
      await send(key, (attempt) => {
        extra.attempts?.(attempt);
        return client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: full(key),
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
            ...(extra.IfNoneMatch ? { IfNoneMatch: extra.IfNoneMatch } : {}),
          }),
          { abortSignal: signal },
        );
      }, signal);
    } catch (e) {
      // Best effort: an upload left behind is only storage cost (lifecycle rules clean it up).
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: full(key), UploadId: uploadId }),
      ).catch(() => {});
      throw e;
    }
  };

  const putBytes = (
    key: string,
    bytes: Uint8Array,
    extra: PutExtra = {},
    signal?: AbortSignal,
  ): Promise<unknown> =>
    bytes.byteLength > threshold
      ? putMultipart(key, bytes, extra, signal)
      : putSingle(key, bytes, extra, signal);

  const listFull = async (prefix: string, signal?: AbortSignal) => {
    const out: { key: string; lastModified: number }[] = [];
    let token: string | undefined;
    do {
      const page = await send(prefix, () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: full(prefix),
            ContinuationToken: token,
            MaxKeys: pageSize,
          }),
          { abortSignal: signal },
        ), signal);
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        const key = base ? o.Key.slice(base.length + 1) : o.Key;
        out.push({ key, lastModified: o.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  };

  // ---- conditional writes ----

  let mode: Promise<"if-none-match" | "claims"> | undefined;
  /** Probes once: does the server refuse a second `If-None-Match: *` PUT of an existing key? */
  const conditionalWriteMode = () => {
    if (settings.conditionalWrites !== "auto") {
      return Promise.resolve(settings.conditionalWrites);
    }
    mode ??= (async () => {
      const probe = `${CLAIMS_DIR}/.probe/${crypto.randomUUID()}`;
      const body = new TextEncoder().encode("probe");
      await putSingle(probe, body, {});
      try {
        await putSingle(probe, body, { IfNoneMatch: "*" });
        return "claims" as const; // accepted the overwrite: the header is ignored
      } catch (e) {
        if (httpStatus(e) === 412) return "if-none-match" as const;
        if ([400, 403, 405, 501].includes(httpStatus(e) ?? 0)) return "claims" as const;
        throw e;
      } finally {
        await send(
          probe,
          () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(probe) })),
        ).catch(
          () => {},
        );
      }
    })();
    mode.catch(() => (mode = undefined)); // a failed probe (network) is retried on the next call
    return mode;
  };

  const putIfNoneMatch = async (key: string, bytes: Uint8Array, signal?: AbortSignal) => {
    const writer = crypto.randomUUID();
    let ambiguous = false; // a retried request may have been applied the first time
    try {
      await putBytes(key, bytes, {
        IfNoneMatch: "*",
        Metadata: { "duet-writer": writer },
        attempts: (n) => (ambiguous = n > 1),
      }, signal);
      return true;
    } catch (e) {
      if (httpStatus(e) !== 412 && (e as AwsLikeError)?.name !== "PreconditionFailed") throw e;
      if (!ambiguous) return false;
      const existing = await head(key, signal);
      return existing?.Metadata?.["duet-writer"] === writer;
    }
  };

  const claimOps: ClaimStoreOps = {
    exists: async (key, signal) => (await head(key, signal)) !== undefined,
    put: (key, bytes, signal) => putBytes(key, bytes, {}, signal).then(() => {}),
    remove: (key, signal) =>
      send(key, () =>
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(key) }), {
          abortSignal: signal,
        }), signal).then(() => {}),
    list: listFull,
  };

  const run = <A>(key: string, f: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: toStoreError(key) });

  return guardKeys({
    uri,
    client,
    conditionalWriteMode,
    get: (key) => run(key, (signal) => getBytes(key, signal)),
    put: (key, bytes) => run(key, (signal) => putBytes(key, bytes, {}, signal).then(() => {})),
    putIfAbsent: (key, bytes) =>
      run(
        key,
        async (signal) =>
          (await conditionalWriteMode()) === "if-none-match"
            ? putIfNoneMatch(key, bytes, signal)
            : claimPutIfAbsent(claimOps, key, bytes, { claimTtlMs, signal }),
      ),
    list: (prefix) =>
      run(prefix, async (signal) =>
        (await listFull(prefix, signal))
          .map((o) => o.key)
          .filter((k) => !k.startsWith(`${CLAIMS_DIR}/`))
          .sort()),
    remove: (key) => run(key, (signal) => claimOps.remove(key, signal)),
  });
}

// ---- create-only writes without server support: the claim protocol ---------------------------

/** Reserved key prefix for putIfAbsent claims and the capability probe; hidden from `list`. */
export const CLAIMS_DIR = ".duet-claims";

export interface ClaimStoreOps {
  readonly exists: (key: string, signal?: AbortSignal) => Promise<boolean>;
  readonly put: (key: string, bytes: Uint8Array, signal?: AbortSignal) => Promise<void>;
  readonly remove: (key: string, signal?: AbortSignal) => Promise<void>;
  /** Keys under prefix with the server's Last-Modified time (ms). */
  readonly list: (
    prefix: string,
    signal?: AbortSignal,
  ) => Promise<ReadonlyArray<{ key: string; lastModified: number }>>;
}

/**
 * Create-only write on a store whose PUT has no precondition, relying only on strongly
 * consistent PUT and LIST (AWS S3, MinIO, R2, Ceph RGW):
 *
 * 1. If `key` exists, lose.
 * 2. Write a uniquely named claim `.duet-claims/<key>/<uuid>`, then list `.duet-claims/<key>/`.
 * 3. If the listing shows no other live claim, this writer may commit: it checks `key` once more,
 *    writes it, and only then deletes its claim. Otherwise it deletes its claim, backs off
 *    (random, growing) and starts over, losing as soon as `key` exists.
 *
 * Why two writers can never both win (step 3): each writes its claim before listing. If A's
 * listing missed B's claim, B's claim was written after A's listing began, so B's listing (later
 * still) shows A's claim, unless A had already deleted it, which A does only after `key` exists,
 * and B checks `key` after its listing. Racing writers may all back off (then retry); the random
 * backoff breaks the tie.
 *
 * Crashed writers leave claims behind: a claim older than `claimTtlMs` than one's own (both
 * times from the server's clock) is ignored and deleted. The price is one assumption: a winner
 * must finish writing `key` within `claimTtlMs / 2` of its decision (commit markers are small;
 * a writer that took longer than `claimTtlMs / 2` to decide starts over instead).
 */
export async function claimPutIfAbsent(
  ops: ClaimStoreOps,
  key: string,
  bytes: Uint8Array,
  options: { claimTtlMs: number; signal?: AbortSignal; maxWaitMs?: number },
): Promise<boolean> {
  const { claimTtlMs, signal } = options;
  const dir = `${CLAIMS_DIR}/${key}/`;
  const deadline = performance.now() + (options.maxWaitMs ?? 2 * claimTtlMs + 60_000);
  for (let round = 0;; round++) {
    if (await ops.exists(key, signal)) return false;
    const claim = `${dir}${crypto.randomUUID()}`;
    const started = performance.now();
    await ops.put(claim, new Uint8Array(), signal);
    try {
      const claims = await ops.list(dir, signal);
      const mine = claims.find((c) => c.key === claim);
      if (!mine) {
        throw new S3Failure(
          claim,
          "putIfAbsent: own claim missing from the listing; this server's LIST is not " +
            "read-after-write consistent, so create-only writes cannot be made safe on it",
          false,
        );
      }
      const abandoned = claims.filter((c) => mine.lastModified - c.lastModified > claimTtlMs);
      for (const c of abandoned) await ops.remove(c.key, signal).catch(() => {});
      const rivals = claims.filter((c) => c.key !== claim && !abandoned.includes(c));
      if (rivals.length === 0 && performance.now() - started < claimTtlMs / 2) {
        if (await ops.exists(key, signal)) return false;
        await ops.put(key, bytes, signal);
        return true;
      }
    } finally {
      // After `key` is written (winner) or before backing off (loser); a failed delete only
      // delays rivals until the claim is older than claimTtlMs.
      await ops.remove(claim, signal).catch(() => {});
    }
    if (performance.now() > deadline) {
      throw new S3Failure(key, "putIfAbsent: still contended after waiting; retry later", true);
    }
    const cap = Math.min(2_000, 25 * 2 ** round);
    await sleep(cap / 2 + Math.random() * cap, signal);
  }
}
