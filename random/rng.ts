/**
 * Seeded, serialisable pseudo-random numbers (xoshiro128**). Every random choice in Duet draws
 * from an Rng built from an explicit seed, so runs are reproducible and a resumed run can
 * restore the exact generator state from a checkpoint.
 */

/** splitmix32: spreads a small seed over the 128-bit state. */
function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
}

/** FNV-1a hash of a string, used to derive independent streams from labels. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | Uint32Array) {
    if (typeof seed === "number") {
      const next = splitmix32(seed);
      this.s = new Uint32Array([next(), next(), next(), next()]);
    } else {
      this.s = new Uint32Array(seed);
    }
  }

  /** An independent generator for a named sub-task; does not advance this one. */
  fork(label: string | number): Rng {
    const next = splitmix32((this.s[0] ^ hashString(String(label)) ^ this.s[3]) >>> 0);
    return new Rng(new Uint32Array([next(), next(), next(), next()]));
  }

  /** Full state for checkpoints; `new Rng(state)` continues the exact same stream. */
  state(): Uint32Array {
    return new Uint32Array(this.s);
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi) (exclusive upper bound, like numpy's randint). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box-Muller; the spare value is not part of the saved state, so it is dropped). */
  normal(mean = 0, std = 1): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length)];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
