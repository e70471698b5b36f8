/**
 * A per-class first-in-first-out queue of feature vectors (CAML's memory bank of labelled
 * features) kept as buffers: the training step reads the queue as state and writes the updated
 * one back each run, so checkpoints carry it and a resumed run continues with the same bank.
 * No parameters: add it to a step as `{ model: bank, trainable: false }`.
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { ParamStore } from "../params.ts";
import { Rng } from "../../random/rng.ts";
import type { ModelContext, Module } from "./context.ts";

export interface MemoryBankSpec {
  readonly classes: number;
  /** Entries per class. */
  readonly size: number;
  readonly dim: number;
}

export class MemoryBank implements Module {
  readonly kind = "memory-bank";
  readonly store = new ParamStore();

  constructor(readonly spec: MemoryBankSpec) {
    const { classes, size, dim } = spec;
    this.store.buffer("features", [classes, size, dim], { kind: "zeros" });
    // 1 where an entry holds a feature (the queue starts empty).
    this.store.buffer("valid", [classes, size], { kind: "zeros" });
    this.store.init(new Rng(0));
  }

  /** The queue as of now: features [K, M, D] and their validity [K, M]. */
  read(ctx: ModelContext): { features: Tensor; valid: Tensor } {
    return { features: ctx.buffer("features"), valid: ctx.buffer("valid") };
  }

  /**
   * Puts `features` [K, n, D] (validity [K, n]) at the front of each class's queue; the n
   * oldest entries fall out. Returns the updated queue, which is also what the step writes back.
   */
  push(ctx: ModelContext, features: Tensor, valid: Tensor): { features: Tensor; valid: Tensor } {
    const { features: old, valid: oldValid } = this.read(ctx);
    const n = features.staticShape[1], keep = this.spec.size - n;
    if (keep < 0) throw new Error(`MemoryBank: ${n} new entries for a queue of ${this.spec.size}`);
    const front = (t: Tensor, add: Tensor) =>
      keep === 0 ? add : op.concat([add, op.slice(t, [0], [keep], [1])], 1);
    const next = {
      features: front(old, op.stopGradient(features)),
      valid: front(oldValid, op.stopGradient(valid)),
    };
    ctx.setBuffer("features", next.features);
    ctx.setBuffer("valid", next.valid);
    return next;
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, ...this.spec };
  }
}
