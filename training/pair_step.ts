/**
 * The pair and its training-step graph for a method (what trainPair trains and the benchmark
 * times): model a, model b (a second network, the other up-sampling, or a's EMA teacher), the
 * method's extra modules and auxiliary losses, the batch inputs, and the optimizer.
 */
import type { TrainConfig } from "../schemas/config.ts";
import { Rng } from "../random/rng.ts";
import { UNet } from "../engine/models/unet.ts";
import { TrainStep } from "../engine/train.ts";
import { adam, adamw, sgd } from "../engine/optim.ts";
import type { Device } from "../engine/session.ts";
import { decodeModel, unetConfig } from "../deploy/weights.ts";
import type { MethodSpec, Shapes } from "./methods.ts";
import { prototypeContrast } from "./auxiliary.ts";

export interface PairStepOptions {
  readonly config: typeof TrainConfig.Type;
  readonly classes: number;
  readonly shapes: Shapes;
  readonly method: MethodSpec;
  readonly seed: number;
  readonly device?: Device;
  /** onnxruntime intra-op threads (default: all cores). */
  readonly threads?: number;
  /** Model artifacts to start from (a second round) instead of a fresh initialisation. */
  readonly start?: readonly [Uint8Array, Uint8Array];
}

export async function buildPairStep(o: PairStepOptions): Promise<{
  a: UNet;
  b: UNet;
  step: TrainStep;
}> {
  const { config, classes, shapes: s, method, seed } = o;
  const init = new Rng(seed).fork("train").fork("init");
  const cfg = unetConfig(config.model, classes);
  const otherUp = cfg.up === "transpose" ? "bilinear" : "transpose";
  const [a, b] = o.start ? o.start.map((bytes) => decodeModel(bytes).model) : [
    new UNet(cfg, init.fork("a")),
    new UNet({ ...cfg, up: method.otherUp ? otherUp : cfg.up }, init.fork("b")),
  ];
  if (method.teacher) b.store.copyFrom(a.store);
  const aux = prototypeContrast(
    config,
    method.teacher ? ["a"] : ["a", "b"],
    cfg.channels![0],
    init.fork("prototype"),
  );
  const modules = method.modules?.(config, s, cfg.channels!, init.fork("modules")) ?? {};
  const { h, w } = s;
  const inputs: Record<string, readonly number[] | { shape: number[]; dtype: "int32" }> = {
    xl: [s.bl, 1, h, w],
    yl: { shape: [s.bl, h, w], dtype: "int32" },
  };
  if (method.softTargets) inputs.ql = [s.bl, classes, h, w];
  if (method.unlabelled) {
    Object.assign(inputs, {
      xw: [s.bu, 1, h, w],
      xs: [s.bu, 1, h, w],
      mix_perm: [s.bu, s.bu],
      mix_box: [s.bu, 1, h, w],
    });
  }
  const opt = config.optimizer;
  const optimizer = opt.kind === "sgd"
    ? sgd({ momentum: opt.momentum, weightDecay: opt.weightDecay })
    : (opt.kind === "adam" ? adam : adamw)({ weightDecay: opt.weightDecay });
  const step = await TrainStep.build({
    models: {
      a,
      b: method.teacher ? { model: b, trainable: false } : b,
      ...aux?.modules,
      ...modules,
    },
    inputs,
    scalars: [...method.scalars],
    loss: (g) => {
      const result = method.loss(g, s, config);
      return aux ? aux.add(g, s, result) : result;
    },
    optimizer,
    seed,
    session: { device: o.device, threads: o.threads },
  });
  return { a, b, step };
}
