/**
 * CAML's cross-sample mutual attention (PAPERS.md §2, `IntraSampleAttention` then
 * `InterSampleAttention` in code/networks/VNet.py): on a feature map [B, C, ...spatial], one
 * Transformer encoder layer whose sequence is each sample's positions, then one whose sequence
 * is the batch at each position (labelled samples attend to unlabelled ones and back). Training
 * only: identity in eval mode, so the exported model has no attention. A Module of its own,
 * trained with the model it is inserted into (the saved model stays a plain network).
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { ParamStore } from "../params.ts";
import type { Rng } from "../../random/rng.ts";
import type { EncoderHook, Mode, ModelContext, Module } from "./context.ts";
import { TransformerEncoderLayer } from "./transformer.ts";

export interface CmaSpec {
  /** Channels of the features it is applied to (d_model). */
  readonly channels: number;
  /** Encoder level whose output it replaces (CAML: after the 4th block, level 3). */
  readonly level?: number;
  /** CAML: 4 heads, feed-forward 4·channels, dropout 0.5. */
  readonly heads?: number;
  readonly dropout?: number;
}

export class CrossSampleAttention implements Module {
  readonly kind = "cma";
  readonly store = new ParamStore();
  private readonly intra: TransformerEncoderLayer;
  private readonly inter: TransformerEncoderLayer;

  constructor(readonly spec: CmaSpec, rng: Rng) {
    const layer = {
      dModel: spec.channels,
      heads: spec.heads ?? 4,
      feedForward: 4 * spec.channels,
      dropout: spec.dropout ?? 0.5,
    };
    this.intra = new TransformerEncoderLayer(this.store, "intra_attention.encoder_layers", layer);
    this.inter = new TransformerEncoderLayer(this.store, "inter_attention.encoder_layers", layer);
    this.store.init(rng);
  }

  apply(ctx: ModelContext, f: Tensor, mode: Mode): Tensor {
    if (mode === "eval") return f;
    const [b, c, ...spatial] = f.staticShape;
    const positions = spatial.reduce((x, y) => x * y, 1);
    const last = f.rank - 1;
    // [B, C, ...] -> tokens [B, P, C]
    const channelsLast = [0, ...spatial.map((_, i) => i + 2), 1];
    const tokens = op.reshape(op.transpose(f, channelsLast), [b, positions, c]);
    // Intra-sample: sequence = positions, batch = samples.
    const intra = op.transpose(
      this.intra.apply(ctx, op.transpose(tokens, [1, 0, 2]), mode),
      [1, 0, 2],
    );
    // Inter-sample: sequence = samples, batch = positions.
    const inter = this.inter.apply(ctx, intra, mode);
    const back = [0, last, ...spatial.map((_, i) => i + 1)];
    return op.transpose(op.reshape(inter, [b, ...spatial, c]), back);
  }

  /** The encoder hook that inserts it into a model's forward pass at `spec.level`. */
  hook(ctx: ModelContext, mode: Mode): EncoderHook {
    return (level, h) => (level === (this.spec.level ?? 3) ? this.apply(ctx, h, mode) : h);
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, ...this.spec };
  }
}
