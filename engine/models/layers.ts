/**
 * Parameterised layers. A layer declares its parameters in the model's store when constructed
 * (PyTorch names and default init) and emits ops when applied in a ModelContext.
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { kaimingUniform, type ParamStore } from "../params.ts";
import type { Mode, ModelContext } from "./context.ts";

export interface ConvSpec {
  inC: number;
  outC: number;
  kernel: number;
  /** 2 or 3 spatial dims. */
  dims: number;
  stride?: number;
  pad?: number;
  bias?: boolean;
}

export class Conv {
  constructor(store: ParamStore, readonly name: string, readonly s: ConvSpec) {
    const k = new Array(s.dims).fill(s.kernel);
    const fanIn = s.inC * s.kernel ** s.dims;
    store.param(`${name}.weight`, [s.outC, s.inC, ...k], kaimingUniform(fanIn));
    if (s.bias ?? true) store.param(`${name}.bias`, [s.outC], kaimingUniform(fanIn));
  }

  weights(ctx: ModelContext): { w: Tensor; b: Tensor | null } {
    return {
      w: ctx.param(`${this.name}.weight`),
      b: (this.s.bias ?? true) ? ctx.param(`${this.name}.bias`) : null,
    };
  }

  apply(ctx: ModelContext, x: Tensor, wb = this.weights(ctx)): Tensor {
    const { w, b } = wb;
    const st = this.s.stride ?? 1;
    return op.conv(x, w, b, {
      strides: new Array(this.s.dims).fill(st),
      pads: this.s.pad ?? 0,
    });
  }
}

/** ConvTranspose with kernel == stride (the U-Net / V-Net upsampling). */
export class ConvTranspose {
  constructor(store: ParamStore, readonly name: string, readonly s: ConvSpec) {
    const k = new Array(s.dims).fill(s.kernel);
    // PyTorch computes fan_in from weight.size(1) = out_channels for transposed convs.
    const fanIn = s.outC * s.kernel ** s.dims;
    store.param(`${name}.weight`, [s.inC, s.outC, ...k], kaimingUniform(fanIn));
    if (s.bias ?? true) store.param(`${name}.bias`, [s.outC], kaimingUniform(fanIn));
  }

  weights(ctx: ModelContext): { w: Tensor; b: Tensor | null } {
    return {
      w: ctx.param(`${this.name}.weight`),
      b: (this.s.bias ?? true) ? ctx.param(`${this.name}.bias`) : null,
    };
  }

  apply(ctx: ModelContext, x: Tensor, wb = this.weights(ctx)): Tensor {
    const { w, b } = wb;
    return op.convTranspose(x, w, b, {
      strides: new Array(this.s.dims).fill(this.s.stride ?? this.s.kernel),
      pads: this.s.pad ?? 0,
    });
  }
}

export class BatchNorm {
  constructor(store: ParamStore, readonly name: string, channels: number, readonly eps = 1e-5) {
    store.param(`${name}.weight`, [channels], { kind: "ones" });
    store.param(`${name}.bias`, [channels], { kind: "zeros" });
    store.buffer(`${name}.running_mean`, [channels], { kind: "zeros" });
    store.buffer(`${name}.running_var`, [channels], { kind: "ones" });
  }

  apply(ctx: ModelContext, x: Tensor, mode: Mode): Tensor {
    const n = this.name;
    const gamma = ctx.param(`${n}.weight`), beta = ctx.param(`${n}.bias`);
    const rm = ctx.buffer(`${n}.running_mean`), rv = ctx.buffer(`${n}.running_var`);
    if (mode === "eval") return op.batchNormEval(x, gamma, beta, rm, rv, this.eps);
    const r = op.batchNormTrain(x, gamma, beta, rm, rv, {
      eps: this.eps,
      momentum: ctx.bnMomentum,
    });
    ctx.setBuffer(`${n}.running_mean`, r.runningMean);
    ctx.setBuffer(`${n}.running_var`, r.runningVar);
    return r.y;
  }
}

/**
 * conv (or transposed conv) followed by BatchNorm. In eval mode the normalisation is folded
 * into the convolution's weights and bias (per output channel, on the small weight tensors),
 * which saves one pass over the activations per layer in every eval-mode forward (pseudo-label
 * passes, validation); exported models get the same graph.
 */
export function convBn(
  ctx: ModelContext,
  conv: Conv | ConvTranspose,
  bn: BatchNorm,
  x: Tensor,
  mode: Mode,
) {
  if (mode === "train") return bn.apply(ctx, conv.apply(ctx, x), mode);
  const { w, b } = conv.weights(ctx);
  const n = bn.name;
  const scale = op.div(
    ctx.param(`${n}.weight`),
    op.sqrt(op.add(ctx.buffer(`${n}.running_var`), bn.eps)),
  );
  const outAxis = conv instanceof ConvTranspose ? 1 : 0;
  const view = w.staticShape.map((d, i) => (i === outAxis ? d : 1));
  const wf = op.mul(w, op.reshape(scale, view));
  const centred = op.sub(
    b ?? ctx.graph.fill([w.staticShape[outAxis]], 0),
    ctx.buffer(`${n}.running_mean`),
  );
  const bf = op.add(op.mul(centred, scale), ctx.param(`${n}.bias`));
  return conv.apply(ctx, x, { w: wf, b: bf });
}

export class Linear {
  constructor(store: ParamStore, readonly name: string, inF: number, outF: number) {
    store.param(`${name}.weight`, [outF, inF], kaimingUniform(inF));
    store.param(`${name}.bias`, [outF], kaimingUniform(inF));
  }

  apply(ctx: ModelContext, x: Tensor): Tensor {
    return op.gemm(x, ctx.param(`${this.name}.weight`), ctx.param(`${this.name}.bias`), {
      transB: true,
    });
  }
}

/** nn.Dropout (element-wise) or nn.Dropout2d/3d (whole channels) in train mode. */
export function dropout(
  ctx: ModelContext,
  x: Tensor,
  p: number,
  mode: Mode,
  channelwise = false,
): Tensor {
  if (mode === "eval" || p <= 0) return x;
  const shape = channelwise
    ? [...x.staticShape.slice(0, 2), ...new Array(x.rank - 2).fill(1)]
    : x.staticShape;
  return op.dropout(x, ctx.dropoutMask(shape, p));
}
