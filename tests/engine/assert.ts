/** Tiny assertion helpers (no deno std here: JSR is unreachable). */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

export function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}

export function assertThrows(fn: () => unknown, pattern?: RegExp): Error {
  try {
    fn();
  } catch (e) {
    if (pattern && !pattern.test(String((e as Error).message))) {
      throw new Error(`error message ${(e as Error).message} does not match ${pattern}`);
    }
    return e as Error;
  }
  throw new Error("expected an error");
}

export async function assertRejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (pattern && !pattern.test(String((e as Error).message))) {
      throw new Error(`error message ${(e as Error).message} does not match ${pattern}`);
    }
    return e as Error;
  }
  throw new Error("expected a rejection");
}
