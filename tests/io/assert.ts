/** Small assertion helpers on node:assert (there is no deno std here: JSR is unreachable). */
import nodeAssert from "node:assert/strict";

export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

export function assertAlmostEquals(actual: number, expected: number, tol: number, msg = ""): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    throw new Error(`${msg} expected ${expected} ± ${tol}, got ${actual}`);
  }
}

// deno-lint-ignore no-explicit-any
export function assertThrows<E extends Error>(fn: () => unknown, type: new (...a: any[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e instanceof Error ? e.stack : String(e)}`);
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...a: any[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e instanceof Error ? e.stack : String(e)}`);
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}
