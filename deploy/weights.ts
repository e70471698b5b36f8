/**
 * The trained-model artifact: the engine's safetensors weights file whose metadata holds the
 * network's configuration (a 2D or 3D U-Net, or a 3D V-Net) and, for 3D, the sliding window it is run
 * with, so whoever reads it (evaluation, refinement, export) rebuilds the network and runs it as
 * it was validated, without the training config.
 */
import { UNet, type UNetConfig } from "../engine/models/unet.ts";
import { VNet, type VNetConfig } from "../engine/models/vnet.ts";
import type { SegmentationModel } from "../engine/models/context.ts";
import { decodeSafetensors, loadModel, saveModel } from "../engine/checkpoint.ts";
import type { ModelConfig } from "../schemas/config.ts";
import { Rng } from "../random/rng.ts";

/**
 * How a model covers a volume: slice by slice (2D; with `context` neighbouring slices on each side
 * as extra channels, 2.5D), or Gaussian-weighted windows (3D); with `mirror`, each slice's or
 * window's probabilities averaged over its mirror images (test-time mirroring).
 */
export type Inference =
  | { readonly kind: "slices"; readonly context?: number; readonly mirror?: boolean }
  | {
    readonly kind: "windows";
    /** Window [x, y, z] in voxels. */
    readonly patch: readonly [number, number, number];
    readonly overlap: number;
    readonly mirror?: boolean;
  };

export const inferenceOf = (model: typeof ModelConfig.Type): Inference =>
  model.arch !== "unet2d" && model.patch
    ? { kind: "windows", patch: model.patch, overlap: model.overlap }
    : model.context > 0
    ? { kind: "slices", context: model.context }
    : { kind: "slices" };

/** The inference with test-time mirroring on (`evaluate.mirror`). */
export const withMirror = (inference: Inference, mirror: boolean): Inference =>
  mirror ? { ...inference, mirror: true } : inference;

/** Input channels per network input: the slice and its neighbours (2.5D), else one. */
export const inputChannels = (inference: Inference): number =>
  inference.kind === "slices" ? 2 * (inference.context ?? 0) + 1 : 1;

/**
 * A freshly initialised network of the configured architecture; `otherUp` gives it the other
 * up-sampling (CAML's pair).
 */
export function buildModel(
  model: typeof ModelConfig.Type,
  classes: number,
  rng: Rng,
  otherUp = false,
): SegmentationModel {
  const up = otherUp ? (model.up === "transpose" ? "bilinear" : "transpose") : model.up;
  if (model.arch === "vnet3d") {
    return new VNet(vnetConfig(model, classes, up), rng);
  }
  return new UNet(
    { ...unetConfig(model, classes, up), dims: model.arch === "unet3d" ? 3 : 2 },
    rng,
  );
}

const unetConfig = (
  model: typeof ModelConfig.Type,
  classes: number,
  up: "transpose" | "bilinear",
): UNetConfig => ({
  inChannels: model.arch === "unet2d" ? 2 * model.context + 1 : 1,
  numClasses: classes,
  channels: [...model.channels],
  dropout: [...model.dropout],
  up,
});

const vnetConfig = (
  model: typeof ModelConfig.Type,
  classes: number,
  up: "transpose" | "bilinear",
): VNetConfig => ({
  inChannels: 1,
  numClasses: classes,
  nFilters: model.channels[0],
  up: up === "transpose" ? "transpose" : "trilinear",
  hasDropout: model.dropout.some((p) => p > 0),
});

export const encodeModel = (
  model: SegmentationModel,
  extra: Record<string, unknown> = {},
): Uint8Array => saveModel(model.store, { ...extra, model: model.config() });

/** Rebuilds the network from a model artifact; throws on a file that is not one. */
export function decodeModel(bytes: Uint8Array): {
  model: SegmentationModel;
  inference: Inference;
  meta: Record<string, unknown>;
} {
  const duet = decodeSafetensors(bytes).metadata.duet;
  const meta: Record<string, unknown> = duet ? JSON.parse(duet) : {};
  const cfg = meta.model as (UNetConfig & VNetConfig & { kind?: string }) | undefined;
  const model = cfg?.kind === "unet2d" || cfg?.kind === "unet3d"
    ? new UNet(cfg, new Rng(0))
    : cfg?.kind === "vnet3d"
    ? new VNet(cfg, new Rng(0))
    : undefined;
  if (!model) throw new Error("not a Duet model artifact (no unet2d, unet3d or vnet3d config)");
  loadModel(model.store, bytes);
  const inference = (meta.inference as Inference | undefined) ?? { kind: "slices" };
  return { model, inference, meta };
}
