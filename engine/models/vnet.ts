/**
 * 3-D V-Net as used by UA-MT / MC-Net / CAML (code/networks/VNet.py): conv3x3x3-BN-ReLU stages
 * ×{1,2,3,3,3} with 16·2^i channels, Conv3d k2 s2 down, ConvTranspose3d k2 s2 (CAML model V)
 * or trilinear ×2 + conv3x3x3 (CAML model A) up, additive skips, decoder stages ×{3,3,2,1},
 * Dropout3d(0.5) after block five and block nine in training, 1x1x1 output conv.
 */
import type { Tensor } from "../graph.ts";
import * as op from "../ops.ts";
import { ParamStore } from "../params.ts";
import type { Rng } from "../../random/rng.ts";
import type { EncoderHook, Mode, ModelContext, SegmentationModel } from "./context.ts";
import { BatchNorm, Conv, convBn, ConvTranspose, dropout } from "./layers.ts";

export interface VNetConfig {
  inChannels?: number;
  numClasses?: number;
  nFilters?: number;
  /** "transpose" (up_type 0) or "trilinear" (up_type 1, align_corners=False). */
  up?: "transpose" | "trilinear";
  /** Dropout3d(0.5) after blocks five and nine in training (UA-MT has_dropout). */
  hasDropout?: boolean;
}

class Stage {
  private convs: Conv[] = [];
  private bns: BatchNorm[] = [];
  constructor(store: ParamStore, name: string, n: number, inC: number, outC: number) {
    for (let i = 0; i < n; i++) {
      this.convs.push(
        new Conv(store, `${name}.conv.${3 * i}`, {
          inC: i === 0 ? inC : outC,
          outC,
          kernel: 3,
          pad: 1,
          dims: 3,
        }),
      );
      this.bns.push(new BatchNorm(store, `${name}.conv.${3 * i + 1}`, outC));
    }
  }

  apply(ctx: ModelContext, x: Tensor, mode: Mode): Tensor {
    let h = x;
    this.convs.forEach((c, i) => {
      h = op.relu(convBn(ctx, c, this.bns[i], h, mode));
    });
    return h;
  }
}

/** Down (Conv k2 s2), up (ConvTranspose k2 s2) or trilinear up + conv3; then BN and ReLU. */
class Resample {
  private conv?: Conv;
  private deconv?: ConvTranspose;
  private bn: BatchNorm;
  constructor(
    store: ParamStore,
    name: string,
    readonly kind: "down" | "up" | "trilinear",
    inC: number,
    outC: number,
  ) {
    if (kind === "down") {
      this.conv = new Conv(store, `${name}.conv.0`, { inC, outC, kernel: 2, stride: 2, dims: 3 });
    } else if (kind === "up") {
      this.deconv = new ConvTranspose(store, `${name}.conv.0`, { inC, outC, kernel: 2, dims: 3 });
    } else this.conv = new Conv(store, `${name}.conv.1`, { inC, outC, kernel: 3, pad: 1, dims: 3 });
    this.bn = new BatchNorm(store, `${name}.conv.${kind === "trilinear" ? 2 : 1}`, outC);
  }

  apply(ctx: ModelContext, x: Tensor, mode: Mode): Tensor {
    if (this.kind === "up") return op.relu(convBn(ctx, this.deconv!, this.bn, x, mode));
    const input = this.kind === "down"
      ? x
      : op.resize(x, { scales: [2, 2, 2], mode: "linear", coordinateTransform: "half_pixel" });
    return op.relu(convBn(ctx, this.conv!, this.bn, input, mode));
  }
}

export class VNet implements SegmentationModel {
  readonly kind = "vnet3d";
  readonly store = new ParamStore();
  readonly inChannels: number;
  readonly numClasses: number;
  readonly spatialDims = 3;
  private readonly enc: Stage[] = [];
  private readonly down: Resample[] = [];
  private readonly up: Resample[] = [];
  private readonly dec: Stage[] = [];
  private readonly outConv: Conv;
  private readonly hasDropout: boolean;

  constructor(readonly cfg: VNetConfig, rng: Rng) {
    this.inChannels = cfg.inChannels ?? 1;
    this.numClasses = cfg.numClasses ?? 2;
    this.hasDropout = cfg.hasDropout ?? true;
    const nf = cfg.nFilters ?? 16;
    const s = this.store;
    const names = ["one", "two", "three", "four", "five"];
    const encStages = [1, 2, 3, 3, 3];
    for (let i = 0; i < 5; i++) {
      this.enc.push(
        new Stage(
          s,
          `block_${names[i]}`,
          encStages[i],
          i === 0 ? this.inChannels : nf << i,
          nf << i,
        ),
      );
      if (i < 4) {
        this.down.push(new Resample(s, `block_${names[i]}_dw`, "down", nf << i, nf << (i + 1)));
      }
    }
    const upKind = cfg.up === "trilinear" ? "trilinear" : "up";
    const decNames = ["five", "six", "seven", "eight"];
    const decStages = [3, 3, 2, 1];
    const decStageNames = ["six", "seven", "eight", "nine"];
    for (let j = 0; j < 4; j++) {
      const inC = nf << (4 - j), outC = nf << (3 - j);
      this.up.push(new Resample(s, `block_${decNames[j]}_up`, upKind, inC, outC));
      this.dec.push(new Stage(s, `block_${decStageNames[j]}`, decStages[j], outC, outC));
    }
    this.outConv = new Conv(s, "out_conv", { inC: nf, outC: this.numClasses, kernel: 1, dims: 3 });
    s.init(rng);
  }

  encode(ctx: ModelContext, x: Tensor, mode: Mode, hook?: EncoderHook): Tensor[] {
    const feats: Tensor[] = [];
    let h = x;
    for (let i = 0; i < 5; i++) {
      h = this.enc[i].apply(ctx, h, mode);
      if (hook) h = hook(i, h);
      if (i === 4 && this.hasDropout) h = dropout(ctx, h, 0.5, mode, true);
      feats.push(h);
      if (i < 4) h = this.down[i].apply(ctx, h, mode);
    }
    return feats;
  }

  decode(ctx: ModelContext, f: Tensor[], mode: Mode): { logits: Tensor; decoder: Tensor[] } {
    let h = f[4];
    const decoder: Tensor[] = [];
    for (let j = 0; j < 4; j++) {
      h = op.add(this.up[j].apply(ctx, h, mode), f[3 - j]);
      h = this.dec[j].apply(ctx, h, mode);
      if (j === 3 && this.hasDropout) h = dropout(ctx, h, 0.5, mode, true);
      decoder.push(h);
    }
    return { logits: this.outConv.apply(ctx, h), decoder };
  }

  config(): Record<string, unknown> {
    return {
      kind: this.kind,
      inChannels: this.inChannels,
      numClasses: this.numClasses,
      nFilters: this.cfg.nFilters ?? 16,
      up: this.cfg.up ?? "transpose",
      hasDropout: this.hasDropout,
    };
  }
}
