/** The few assertions the tests use (deno std is not reachable here: no jsr). */
import { deepStrictEqual } from "node:assert";

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  try {
    deepStrictEqual(actual, expected);
  } catch {
    throw new Error(
      `${message ? message + ": " : ""}expected ${JSON.stringify(expected)}, got ${
        JSON.stringify(actual)
      }`,
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

export async function assertRejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (pattern && !pattern.test(error.message)) {
      throw new Error(`expected rejection matching ${pattern}, got: ${error.message}`);
    }
    return error;
  }
  throw new Error("expected a rejection, none happened");
}

export function assertThrows(fn: () => unknown, pattern?: RegExp): Error {
  try {
    fn();
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (pattern && !pattern.test(error.message)) {
      throw new Error(`expected an error matching ${pattern}, got: ${error.message}`);
    }
    return error;
  }
  throw new Error("expected an error, none was thrown");
}
