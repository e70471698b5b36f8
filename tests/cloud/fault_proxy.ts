/**
 * An HTTP proxy on 127.0.0.1 in front of s3rver that injects failures and, optionally, gives
 * s3rver the `If-None-Match: *` create-only semantics of AWS S3 (serialized per key), so the
 * store's conditional-write path runs against a real server. Start s3rver with
 * `allowMismatchedSignatures` (the proxy changes the Host the request was signed for).
 */

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly headers: Headers;
}

/** What to do with a request: undefined = forward it. */
export type Fault =
  | { readonly kind: "error"; readonly status: number; readonly code: string }
  | { readonly kind: "forward-then-error" } // applied upstream, but the client sees a 500
  | { readonly kind: "hang" }; // accepted, never answered (until the proxy closes)

export interface FaultProxy {
  readonly endpoint: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

const errorXml = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected ${code}` +
  `</Message><RequestId>proxy</RequestId></Error>`;

export function startFaultProxy(
  upstream: string,
  options: {
    fault?: (request: SeenRequest, index: number) => Fault | undefined;
    emulateIfNoneMatch?: boolean;
  } = {},
): FaultProxy {
  const requests: SeenRequest[] = [];
  // Hung requests are answered when the proxy closes, so that shutdown does not wait for them.
  const closing = Promise.withResolvers<void>();
  const locks = new Map<string, Promise<void>>();
  const forward = async (req: Request, url: URL, body: ArrayBuffer | undefined) => {
    const headers = new Headers(req.headers);
    for (const h of ["host", "content-length", "connection", "transfer-encoding"]) {
      headers.delete(h);
    }
    const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: body && body.byteLength > 0 ? body : req.method === "PUT" ? new Uint8Array() : null,
    });
    const noBody = req.method === "HEAD" || [101, 204, 205, 304].includes(res.status);
    return new Response(noBody ? null : await res.arrayBuffer(), {
      status: res.status,
      headers: res.headers,
    });
  };
  const withKeyLock = async <A>(key: string, f: () => Promise<A>): Promise<A> => {
    while (locks.has(key)) await locks.get(key);
    let release!: () => void;
    locks.set(key, new Promise<void>((r) => (release = r)));
    try {
      return await f();
    } finally {
      locks.delete(key);
      release();
    }
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const seen = {
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: req.headers,
    };
    const index = requests.push(seen) - 1;
    const body = req.method === "GET" || req.method === "HEAD"
      ? undefined
      : await req.arrayBuffer();
    const fault = options.fault?.(seen, index);
    if (fault?.kind === "hang") {
      await closing.promise;
      return new Response(null, { status: 503 });
    }
    if (fault?.kind === "error") {
      return new Response(errorXml(fault.code), {
        status: fault.status,
        headers: { "content-type": "application/xml" },
      });
    }
    const conditional = options.emulateIfNoneMatch && req.headers.get("if-none-match") === "*" &&
      (req.method === "PUT" || req.method === "POST");
    const respond = async () => {
      if (conditional) {
        const headers = new Headers(req.headers);
        for (
          const h of ["host", "content-length", "content-type", "content-md5", "if-none-match"]
        ) {
          headers.delete(h);
        }
        const head = await fetch(`${upstream}${url.pathname}`, { method: "HEAD", headers });
        if (head.status === 200) {
          return new Response(errorXml("PreconditionFailed"), {
            status: 412,
            headers: { "content-type": "application/xml" },
          });
        }
      }
      return await forward(req, url, body);
    };
    const res = conditional ? await withKeyLock(url.pathname, respond) : await respond();
    if (fault?.kind === "forward-then-error") {
      return new Response(errorXml("InternalError"), { status: 500 });
    }
    return res;
  });
  const port = (server.addr as Deno.NetAddr).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      closing.resolve();
      return server.shutdown();
    },
  };
}
