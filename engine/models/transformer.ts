/**
 * PyTorch's nn.TransformerEncoderLayer (post-norm, ReLU, batch_first=False), the layer CAML's
 * cross-sample mutual attention stacks: multi-head self-attention as batched MatMuls (softmax
 * of QKᵀ/√d_head, dropout on the attention weights), then dropout + residual + LayerNorm, a
 * feed-forward block Linear-ReLU-dropout-Linear, dropout + residual + LayerNorm. Parameters
 * carry PyTorch's names and initialisation (xavier-uniform in-projection, zero biases there).
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { kaimingUniform, type ParamStore } from "../params.ts";
import type { Mode, ModelContext } from "./context.ts";
import { dropout } from "./layers.ts";

export interface TransformerLayerSpec {
  readonly dModel: number;
  readonly heads: number;
  readonly feedForward: number;
  readonly dropout: number;
}

export class TransformerEncoderLayer {
  constructor(store: ParamStore, readonly name: string, readonly s: TransformerLayerSpec) {
    const { dModel: e, feedForward: f } = s;
    if (e % s.heads !== 0) throw new Error(`${name}: ${e} channels for ${s.heads} heads`);
    const a = `${name}.self_attn`;
    store.param(`${a}.in_proj_weight`, [3 * e, e], {
      kind: "uniform",
      bound: Math.sqrt(6 / (e + 3 * e)),
    });
    store.param(`${a}.in_proj_bias`, [3 * e], { kind: "zeros" });
    store.param(`${a}.out_proj.weight`, [e, e], kaimingUniform(e));
    store.param(`${a}.out_proj.bias`, [e], { kind: "zeros" });
    store.param(`${name}.linear1.weight`, [f, e], kaimingUniform(e));
    store.param(`${name}.linear1.bias`, [f], kaimingUniform(e));
    store.param(`${name}.linear2.weight`, [e, f], kaimingUniform(f));
    store.param(`${name}.linear2.bias`, [e], kaimingUniform(f));
    for (const norm of ["norm1", "norm2"]) {
      store.param(`${name}.${norm}.weight`, [e], { kind: "ones" });
      store.param(`${name}.${norm}.bias`, [e], { kind: "zeros" });
    }
  }

  /** x [L, N, E]: sequence L, batch N. */
  apply(ctx: ModelContext, x: Tensor, mode: Mode): Tensor {
    const [l, n, e] = x.staticShape;
    const { heads: h, dropout: p } = this.s, dh = e / h;
    const param = (k: string) => ctx.param(`${this.name}.${k}`);
    const linear = (rows: Tensor, k: string) =>
      op.gemm(rows, param(`${k}.weight`), param(`${k}.bias`), { transB: true });
    const drop = (t: Tensor) => dropout(ctx, t, p, mode);
    const rows = op.reshape(x, [l * n, e]);
    const qkv = op.gemm(rows, param("self_attn.in_proj_weight"), param("self_attn.in_proj_bias"), {
      transB: true,
    });
    // [L, N, 3, H, dh] -> [3, N, H, L, dh]: one batched product per (sample, head).
    const split = op.transpose(op.reshape(qkv, [l, n, 3, h, dh]), [2, 1, 3, 0, 4]);
    const [q, k, v] = op.split(split, [1, 1, 1], 0).map((t) => op.reshape(t, [n, h, l, dh]));
    const scores = op.div(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), Math.sqrt(dh));
    const attention = drop(op.softmax(scores, -1)); // [N, H, L, L]
    const mixed = op.reshape(op.transpose(op.matmul(attention, v), [2, 0, 1, 3]), [l * n, e]);
    const norm = (t: Tensor, k: string) =>
      op.layerNorm(t, param(`${k}.weight`), param(`${k}.bias`));
    const h1 = norm(op.add(rows, drop(linear(mixed, "self_attn.out_proj"))), "norm1");
    const ff = linear(drop(op.relu(linear(h1, "linear1"))), "linear2");
    return op.reshape(norm(op.add(h1, drop(ff)), "norm2"), [l, n, e]);
  }
}
