/** The assertions every test uses (deno std is not reachable here: no jsr). */
import { isDeepStrictEqual } from "node:util";
import { inspect } from "node:util";

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Deep strict equality (node's: same types, typed arrays element by element, -0 is not 0). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(
      `${message ? message + ": " : ""}values differ\n  actual:   ${
        inspect(actual, { depth: 6 })
      }\n  expected: ${inspect(expected, { depth: 6 })}`,
    );
  }
}

export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  message?: string,
): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(
      `${message ? message + ": " : ""}expected ${expected} ± ${tolerance}, got ${actual}`,
    );
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

/** The error, when it matches `expected` (a message pattern or an error class); else a failure. */
function matching<E extends Error>(e: unknown, expected?: RegExp | ErrorClass<E>): E {
  const error = e instanceof Error ? e : new Error(String(e));
  if (expected instanceof RegExp && !expected.test(error.message)) {
    throw new Error(`expected an error matching ${expected}, got: ${error.message}`);
  }
  if (typeof expected === "function" && !(e instanceof expected)) {
    throw new Error(`expected ${expected.name}, got ${error.stack ?? error.message}`);
  }
  return error as E;
}

export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  expected?: RegExp | ErrorClass<E>,
): E {
  try {
    fn();
  } catch (e) {
    return matching(e, expected);
  }
  throw new Error("expected an error, none was thrown");
}

export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  expected?: RegExp | ErrorClass<E>,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return matching(e, expected);
  }
  throw new Error("expected a rejection, none happened");
}
