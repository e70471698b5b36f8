/**
 * The pair and its training-step graph for a method (what trainPair trains and the benchmark
 * times): model a, model b (a second network, the other up-sampling, or a's EMA teacher), the
 * method's extra modules and auxiliary losses, the batch inputs, and the optimizer.
 */
import type { TrainConfig } from "../schemas/config.ts";
import { Rng } from "../random/rng.ts";
import { TrainStep } from "../engine/train.ts";
import { adam, adamw, sgd } from "../engine/optim.ts";
import type { Device } from "../engine/session.ts";
import type { SegmentationModel } from "../engine/models/context.ts";
import { buildModel, decodeModel } from "../deploy/weights.ts";
import { type MethodSpec, type Shapes, spatialOf } from "./methods.ts";
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
  a: SegmentationModel;
  b: SegmentationModel;
  step: TrainStep;
}> {
  const { config, classes, shapes: s, method, seed } = o;
  const init = new Rng(seed).fork("train").fork("init");
  const [a, b] = o.start ? o.start.map((bytes) => decodeModel(bytes).model) : [
    buildModel(config.model, classes, init.fork("a")),
    buildModel(config.model, classes, init.fork("b"), method.otherUp),
  ];
  if (method.teacher) b.store.copyFrom(a.store);
  const aux = prototypeContrast(
    config,
    method.teacher ? ["a"] : ["a", "b"],
    config.model.channels[0],
    init.fork("prototype"),
  );
  const modules = method.modules?.(config, s, config.model.channels, init.fork("modules")) ?? {};
  const sp = spatialOf(s), c = s.inChannels ?? 1;
  const inputs: Record<string, readonly number[] | { shape: number[]; dtype: "int32" }> = {
    xl: [s.bl, c, ...sp],
    yl: { shape: [s.bl, ...sp], dtype: "int32" },
  };
  if (method.softTargets) inputs.ql = [s.bl, classes, ...sp];
  if (method.unlabelled) {
    Object.assign(inputs, {
      xw: [s.bu, c, ...sp],
      xs: [s.bu, c, ...sp],
      mix_perm: [s.bu, s.bu],
      mix_box: [s.bu, 1, ...sp],
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
