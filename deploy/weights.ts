/**
 * The trained-model artifact: the engine's safetensors weights file whose metadata holds the
 * U-Net configuration, so whoever reads it (evaluation, refinement, export) rebuilds the network
 * without the training config.
 */
import { UNet, type UNetConfig } from "../engine/models/unet.ts";
import { decodeSafetensors, loadModel, saveModel } from "../engine/checkpoint.ts";
import type { ModelConfig } from "../schemas/config.ts";
import { Rng } from "../random/rng.ts";

export const unetConfig = (model: typeof ModelConfig.Type, classes: number): UNetConfig => ({
  inChannels: 1,
  numClasses: classes,
  channels: [...model.channels],
  dropout: [...model.dropout],
  up: model.up,
});

export const encodeModel = (model: UNet, extra: Record<string, unknown> = {}): Uint8Array =>
  saveModel(model.store, { ...extra, model: model.config() });

/** Rebuilds the network from a model artifact; throws on a file that is not one. */
export function decodeModel(bytes: Uint8Array): { model: UNet; meta: Record<string, unknown> } {
  const duet = decodeSafetensors(bytes).metadata.duet;
  const meta: Record<string, unknown> = duet ? JSON.parse(duet) : {};
  const cfg = meta.model as UNetConfig & { kind?: string };
  if (!cfg || cfg.kind !== "unet2d") {
    throw new Error("not a Duet model artifact (no unet2d config)");
  }
  const model = new UNet(cfg, new Rng(0));
  loadModel(model.store, bytes);
  return { model, meta };
}
