/**
 * Parameter storage. Each model owns one flat Float32Array for its trainable parameters and one
 * for its buffers (BatchNorm running statistics); named tensors are views into them. A flat
 * layout lets the step graph take one input and run the optimizer as a handful of big
 * element-wise ops instead of a dozen ops per tensor, and makes copies and checkpoints trivial.
 */
import type { Rng } from "../random/rng.ts";

export type Init =
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "uniform"; bound: number }
  | { kind: "normal"; std: number };

export interface ParamInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/** PyTorch's default Conv/Linear init: kaiming_uniform(a=√5) = U(±1/√fan_in), same bound for bias. */
export function kaimingUniform(fanIn: number): Init {
  return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
}

function fill(data: Float32Array, init: Init, rng: Rng): void {
  switch (init.kind) {
    case "zeros":
      data.fill(0);
      break;
    case "ones":
      data.fill(1);
      break;
    case "uniform":
      for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-init.bound, init.bound);
      break;
    case "normal":
      for (let i = 0; i < data.length; i++) data[i] = rng.normal(0, init.std);
      break;
  }
}

/** A growable list of named tensors, frozen into one flat array by `seal()`. */
class FlatStore {
  private specs: { name: string; shape: number[]; init: Init }[] = [];
  private index = new Map<string, ParamInfo>();
  data = new Float32Array(0);
  private sealed = false;

  declare(name: string, shape: readonly number[], init: Init): void {
    if (this.sealed) throw new Error(`cannot add ${name}: parameters already allocated`);
    if (this.specs.some((s) => s.name === name)) throw new Error(`duplicate parameter ${name}`);
    this.specs.push({ name, shape: [...shape], init });
  }

  seal(rng: Rng): void {
    if (this.sealed) return;
    let offset = 0;
    for (const s of this.specs) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      this.index.set(s.name, { name: s.name, shape: s.shape, offset, size });
      offset += size;
    }
    this.data = new Float32Array(offset);
    // Initialise in declaration order from one stream: the same seed gives the same weights.
    for (const s of this.specs) fill(this.view(s.name), s.init, rng);
    this.sealed = true;
  }

  get isSealed(): boolean {
    return this.sealed;
  }

  info(name: string): ParamInfo {
    const i = this.index.get(name);
    if (!i) throw new Error(`unknown parameter ${name}`);
    return i;
  }

  has(name: string): boolean {
    return this.specs.some((s) => s.name === name);
  }

  list(): ParamInfo[] {
    return [...this.index.values()];
  }

  view(name: string): Float32Array {
    const i = this.info(name);
    return this.data.subarray(i.offset, i.offset + i.size);
  }
}

/** Trainable parameters and buffers of one model. */
export class ParamStore {
  readonly params = new FlatStore();
  readonly buffers = new FlatStore();

  /** Declares a trainable parameter (allocation happens in `init`). */
  param(name: string, shape: readonly number[], init: Init): void {
    this.params.declare(name, shape, init);
  }

  /** Declares a non-trainable buffer (e.g. BatchNorm running mean). */
  buffer(name: string, shape: readonly number[], init: Init): void {
    this.buffers.declare(name, shape, init);
  }

  /** Allocates and initialises everything from the given generator. */
  init(rng: Rng): void {
    this.params.seal(rng);
    this.buffers.seal(rng);
  }

  get numParams(): number {
    return this.params.data.length;
  }

  /** Named views of the trainable parameters (live: they change as training runs). */
  named(): Map<string, Float32Array> {
    return new Map(this.params.list().map((p) => [p.name, this.params.view(p.name)]));
  }

  /** Copies all values (parameters and buffers) from another store with the same layout. */
  copyFrom(other: ParamStore): void {
    if (other.params.data.length !== this.params.data.length) {
      throw new Error("copyFrom: parameter layouts differ");
    }
    this.params.data.set(other.params.data);
    this.buffers.data.set(other.buffers.data);
  }
}
