/** Minimal assertions (no deno std here: JSR is unreachable). */
import { inspect, isDeepStrictEqual } from "node:util";

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(
      `${message ? message + ": " : ""}values differ\n  actual:   ${
        inspect(actual, { depth: 6 })
      }\n  expected: ${inspect(expected, { depth: 6 })}`,
    );
  }
}

export async function assertRejects(
  f: () => Promise<unknown>,
  check: (e: unknown) => boolean = () => true,
  message = "expected a rejection",
): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    if (!check(e)) throw new Error(`${message}: wrong error ${inspect(e)}`);
    return e;
  }
  throw new Error(message);
}

export const bytesOf = (s: string) => new TextEncoder().encode(s);

/** Deterministic pseudo-random bytes (xorshift32). */
export function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
