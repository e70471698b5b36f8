/**
 * U-Net in the SSL4MIS configuration (2-D, or the same network with 3-D convolutions and pooling:
 * `dims: 3`, kind "unet3d") (HiLab-git/SSL4MIS code/networks/unet.py): ConvBlock =
 * conv3x3-BN-LeakyReLU-Dropout-conv3x3-BN-LeakyReLU, MaxPool down, conv1x1 + bilinear
 * (align_corners) or ConvTranspose (k2 s2) up, concat skips [skip, up], 3x3 output conv.
 * SSL4MIS's Decoder never passes its `bilinear: False` setting to UpBlock, whose default is
 * bilinear, so the published model (1.81 M parameters for 1 input, 4 classes) upsamples
 * bilinearly; that is the default here too.
 * Parameter names follow the PyTorch state_dict so weights can be exchanged.
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { ParamStore } from "../params.ts";
import type { Rng } from "../../random/rng.ts";
import type { EncoderHook, Mode, ModelContext, SegmentationModel } from "./context.ts";
import { BatchNorm, Conv, convBn, ConvTranspose, dropout } from "./layers.ts";

export interface UNetConfig {
  inChannels?: number;
  numClasses: number;
  /** Channels per level, finest first (SSL4MIS: 16-32-64-128-256). */
  channels?: number[];
  /** Dropout per encoder level (SSL4MIS: 0.05, 0.1, 0.2, 0.3, 0.5). */
  dropout?: number[];
  /** "bilinear" (what SSL4MIS's UNet effectively uses; default) or "transpose". */
  up?: "transpose" | "bilinear";
  leakySlope?: number;
  /** Spatial dims: 2 (slices, default) or 3 (patches of a volume). */
  dims?: 2 | 3;
}

export const SSL4MIS_CHANNELS = [16, 32, 64, 128, 256];
export const SSL4MIS_DROPOUT = [0.05, 0.1, 0.2, 0.3, 0.5];

class ConvBlock {
  readonly c1: Conv;
  readonly b1: BatchNorm;
  readonly c2: Conv;
  readonly b2: BatchNorm;
  constructor(
    store: ParamStore,
    name: string,
    inC: number,
    outC: number,
    readonly p: number,
    readonly slope: number,
    dims: 2 | 3,
  ) {
    this.c1 = new Conv(store, `${name}.conv_conv.0`, { inC, outC, kernel: 3, pad: 1, dims });
    this.b1 = new BatchNorm(store, `${name}.conv_conv.1`, outC);
    this.c2 = new Conv(store, `${name}.conv_conv.4`, {
      inC: outC,
      outC,
      kernel: 3,
      pad: 1,
      dims,
    });
    this.b2 = new BatchNorm(store, `${name}.conv_conv.5`, outC);
  }

  apply(ctx: ModelContext, x: Tensor, mode: Mode): Tensor {
    let h = op.leakyRelu(convBn(ctx, this.c1, this.b1, x, mode), this.slope);
    h = dropout(ctx, h, this.p, mode);
    return op.leakyRelu(convBn(ctx, this.c2, this.b2, h, mode), this.slope);
  }
}

class UpBlock {
  readonly up?: ConvTranspose;
  readonly conv1x1?: Conv;
  readonly conv: ConvBlock;
  constructor(
    store: ParamStore,
    name: string,
    in1: number,
    in2: number,
    out: number,
    readonly bilinear: boolean,
    slope: number,
    readonly dims: 2 | 3,
  ) {
    if (bilinear) {
      this.conv1x1 = new Conv(store, `${name}.conv1x1`, {
        inC: in1,
        outC: in2,
        kernel: 1,
        dims,
      });
    } else {this.up = new ConvTranspose(store, `${name}.up`, {
        inC: in1,
        outC: in2,
        kernel: 2,
        dims,
      });}
    this.conv = new ConvBlock(store, `${name}.conv`, in2 * 2, out, 0, slope, dims);
  }

  apply(ctx: ModelContext, x1: Tensor, x2: Tensor, mode: Mode): Tensor {
    const u = this.bilinear
      ? op.resize(this.conv1x1!.apply(ctx, x1), {
        scales: new Array(this.dims).fill(2),
        mode: "linear",
        coordinateTransform: "align_corners",
      })
      : this.up!.apply(ctx, x1);
    return this.conv.apply(ctx, op.concat([x2, u], 1), mode);
  }
}

export class UNet implements SegmentationModel {
  readonly kind: "unet2d" | "unet3d";
  readonly store = new ParamStore();
  readonly inChannels: number;
  readonly numClasses: number;
  readonly spatialDims: 2 | 3;
  readonly channels: number[];
  readonly dropoutP: number[];
  private readonly enc: ConvBlock[] = [];
  private readonly dec: UpBlock[] = [];
  private readonly outConv: Conv;

  constructor(readonly cfg: UNetConfig, rng: Rng) {
    this.inChannels = cfg.inChannels ?? 1;
    this.numClasses = cfg.numClasses;
    const dims = this.spatialDims = cfg.dims ?? 2;
    this.kind = dims === 3 ? "unet3d" : "unet2d";
    this.channels = cfg.channels ?? SSL4MIS_CHANNELS;
    const ch = this.channels;
    this.dropoutP = cfg.dropout ?? SSL4MIS_DROPOUT.slice(0, ch.length);
    if (this.dropoutP.length !== ch.length) throw new Error("UNet: one dropout rate per level");
    const slope = cfg.leakySlope ?? 0.01;
    const s = this.store;
    this.enc.push(
      new ConvBlock(s, "encoder.in_conv", this.inChannels, ch[0], this.dropoutP[0], slope, dims),
    );
    for (let i = 1; i < ch.length; i++) {
      this.enc.push(
        new ConvBlock(
          s,
          `encoder.down${i}.maxpool_conv.1`,
          ch[i - 1],
          ch[i],
          this.dropoutP[i],
          slope,
          dims,
        ),
      );
    }
    const bilinear = (cfg.up ?? "bilinear") === "bilinear";
    for (let i = ch.length - 1, j = 1; i >= 1; i--, j++) {
      this.dec.push(
        new UpBlock(s, `decoder.up${j}`, ch[i], ch[i - 1], ch[i - 1], bilinear, slope, dims),
      );
    }
    this.outConv = new Conv(s, "decoder.out_conv", {
      inC: ch[0],
      outC: this.numClasses,
      kernel: 3,
      pad: 1,
      dims,
    });
    s.init(rng);
  }

  encode(ctx: ModelContext, x: Tensor, mode: Mode, hook?: EncoderHook): Tensor[] {
    const feats: Tensor[] = [];
    let h = x;
    this.enc.forEach((block, i) => {
      if (i > 0) h = op.maxPool(h, { kernel: new Array(this.spatialDims).fill(2) });
      h = block.apply(ctx, h, mode);
      if (hook) h = hook(i, h);
      feats.push(h);
    });
    return feats;
  }

  decode(ctx: ModelContext, f: Tensor[], mode: Mode): { logits: Tensor; decoder: Tensor[] } {
    let h = f[f.length - 1];
    const decoder: Tensor[] = [];
    this.dec.forEach((up, j) => {
      h = up.apply(ctx, h, f[f.length - 2 - j], mode);
      decoder.push(h);
    });
    return { logits: this.outConv.apply(ctx, h), decoder };
  }

  config(): Record<string, unknown> {
    return {
      kind: this.kind,
      inChannels: this.inChannels,
      numClasses: this.numClasses,
      channels: this.channels,
      dropout: this.dropoutP,
      up: this.cfg.up ?? "bilinear",
      leakySlope: this.cfg.leakySlope ?? 0.01,
      ...(this.spatialDims === 3 ? { dims: 3 } : {}),
    };
  }
}
