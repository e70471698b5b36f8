/**
 * MLP heads on features (SimCLR/BYOL style; CAML's projection and prediction heads): Linear -
 * BatchNorm1d - ReLU - Linear, under PyTorch's nn.Sequential names (`<head>.0`, `.1`, `.3`).
 * A head maps rows [N, C] (Gemm), or every pixel of an NC... map with the same weights as 1x1
 * convolutions (BatchNorm over all pixels is BatchNorm1d over the pixel rows). The heads are a
 * Module of their own, so a training step trains them beside the models while the saved and
 * exported models stay plain segmentation networks.
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { kaimingUniform, ParamStore } from "../params.ts";
import type { Rng } from "../../random/rng.ts";
import type { Mode, ModelContext, Module } from "./context.ts";
import { BatchNorm } from "./layers.ts";

export interface HeadSpec {
  readonly in: number;
  readonly hidden: number;
  readonly out: number;
}

export class Heads implements Module {
  readonly kind = "heads";
  readonly store = new ParamStore();
  private readonly norms = new Map<string, BatchNorm>();

  constructor(readonly specs: Readonly<Record<string, HeadSpec>>, rng: Rng) {
    for (const [name, s] of Object.entries(specs)) {
      this.linear(`${name}.0`, s.in, s.hidden);
      this.norms.set(name, new BatchNorm(this.store, `${name}.1`, s.hidden));
      this.linear(`${name}.3`, s.hidden, s.out);
    }
    this.store.init(rng);
  }

  /** nn.Linear's parameters and default init. */
  private linear(name: string, inF: number, outF: number) {
    this.store.param(`${name}.weight`, [outF, inF], kaimingUniform(inF));
    this.store.param(`${name}.bias`, [outF], kaimingUniform(inF));
  }

  /** Head `name` on rows [N, C] or on an NC... feature map (per pixel); train-mode BatchNorm
   * uses the batch's statistics and updates the running ones. */
  apply(ctx: ModelContext, name: string, x: Tensor, mode: Mode): Tensor {
    const bn = this.norms.get(name);
    if (!bn) throw new Error(`no head ${name}`);
    const dense = (layer: string, h: Tensor) => {
      const w = ctx.param(`${name}.${layer}.weight`), b = ctx.param(`${name}.${layer}.bias`);
      if (h.rank === 2) return op.gemm(h, w, b, { transB: true });
      const [o, i] = w.staticShape;
      return op.conv(h, op.reshape(w, [o, i, ...new Array(h.rank - 2).fill(1)]), b);
    };
    return dense("3", op.relu(bn.apply(ctx, dense("0", x), mode)));
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, heads: this.specs };
  }
}
