/**
 * How a model's forward pass meets a graph: where parameters come from (graph inputs that are
 * views of the model's flat arrays, or baked-in constants for export), whether BatchNorm uses
 * batch statistics and updates its running buffers, and dropout masks as seeded inputs.
 */
import type { Graph, Tensor } from "../graph.ts";
import type { ParamStore } from "../params.ts";

export type Mode = "train" | "eval";

export interface ModelContextOptions {
  /** Name prefix of this model's graph inputs and outputs, e.g. "a/". */
  prefix?: string;
  /** "input": parameters are fed each run; "constant": baked in (exported models). */
  paramSource?: "input" | "constant";
  /** Weight of the batch in train-mode BatchNorm's running statistics (PyTorch: 0.1). */
  bnMomentum?: number;
}

export class ModelContext {
  readonly prefix: string;
  readonly paramSource: "input" | "constant";
  readonly bnMomentum: number;
  private paramTensors = new Map<string, Tensor>();
  private bufferTensors = new Map<string, Tensor>();
  /** Latest value of each buffer (BatchNorm updates chain across repeated forward calls). */
  private bufferCurrent = new Map<string, Tensor>();
  private dropouts = 0;

  constructor(readonly graph: Graph, readonly store: ParamStore, o: ModelContextOptions = {}) {
    this.prefix = o.prefix ?? "";
    this.paramSource = o.paramSource ?? "input";
    this.bnMomentum = o.bnMomentum ?? 0.1;
    if (!store.params.isSealed) throw new Error("model parameters are not initialised (call init)");
  }

  param(name: string): Tensor {
    let t = this.paramTensors.get(name);
    if (!t) {
      const info = this.store.params.info(name);
      t = this.paramSource === "input"
        ? this.graph.input(`${this.prefix}${name}`, info.shape, "float32", { kind: "param" })
        : this.graph.constant(this.store.params.view(name).slice(), info.shape, "float32");
      this.paramTensors.set(name, t);
    }
    return t;
  }

  buffer(name: string): Tensor {
    const cur = this.bufferCurrent.get(name);
    if (cur) return cur;
    const info = this.store.buffers.info(name);
    const t = this.paramSource === "input"
      ? this.graph.input(`${this.prefix}${name}`, info.shape, "float32", { kind: "state" })
      : this.graph.constant(this.store.buffers.view(name).slice(), info.shape, "float32");
    this.bufferTensors.set(name, t);
    this.bufferCurrent.set(name, t);
    return t;
  }

  setBuffer(name: string, value: Tensor): void {
    this.buffer(name);
    this.bufferCurrent.set(name, value);
  }

  /** A dropout mask input (0 or 1/(1-p)); the training step fills it from its Rng each run. */
  dropoutMask(shape: readonly number[], p: number): Tensor {
    const name = `${this.prefix}dropout${this.dropouts++}`;
    return this.graph.input(name, shape, "float32", { kind: "dropout", p });
  }

  /** Uniform noise in [lo, hi) as an input the training step fills from its Rng each run. */
  uniformNoise(shape: readonly number[], lo: number, hi: number): Tensor {
    const name = `${this.prefix}noise${this.dropouts++}`;
    return this.graph.input(name, shape, "float32", { kind: "uniform", lo, hi });
  }

  /** Gaussian noise N(0, std²) clamped to ±clip (SSL4MIS mean teacher's input noise). */
  normalNoise(shape: readonly number[], std: number, clip: number): Tensor {
    const name = `${this.prefix}noise${this.dropouts++}`;
    return this.graph.input(name, shape, "float32", { kind: "normal", std, clip });
  }

  /** Parameters used so far: store name -> graph tensor. */
  usedParams(): Map<string, Tensor> {
    return this.paramTensors;
  }

  /** Buffers whose value changed: store name -> new value tensor. */
  updatedBuffers(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, cur] of this.bufferCurrent) {
      if (cur !== this.bufferTensors.get(name)) out.set(name, cur);
    }
    return out;
  }
}

/** What a segmentation model returns: logits plus the features other losses need. */
export interface ModelOutput {
  logits: Tensor;
  /** Encoder outputs from the finest to the coarsest level. */
  encoder: Tensor[];
  /** Decoder block outputs from the coarsest to the finest level (last = pre-classifier). */
  decoder: Tensor[];
}

/** Replaces encoder level `level`'s output (before it feeds the next level and the skip). */
export type EncoderHook = (level: number, features: Tensor) => Tensor;

export interface ForwardOptions {
  mode?: Mode;
  /** Inserted after each encoder block (CAML's cross-sample attention in one model). */
  encoderHook?: EncoderHook;
  /**
   * Applied to the encoder features before decoding (feature perturbation: dropout, noise).
   * Receives the features and returns the ones to decode.
   */
  perturb?: (features: Tensor[]) => Tensor[];
}

/** Anything with trainable parameters a training step can hold (models, auxiliary heads). */
export interface Module {
  readonly kind: string;
  readonly store: ParamStore;
  /** JSON-able configuration (recorded in checkpoints and exported models). */
  config(): Record<string, unknown>;
}

export interface SegmentationModel extends Module {
  readonly inChannels: number;
  readonly numClasses: number;
  /** Spatial dims: 2 or 3. */
  readonly spatialDims: number;
  encode(ctx: ModelContext, x: Tensor, mode: Mode, hook?: EncoderHook): Tensor[];
  decode(ctx: ModelContext, features: Tensor[], mode: Mode): { logits: Tensor; decoder: Tensor[] };
}

export const isSegmentationModel = (m: Module): m is SegmentationModel =>
  "encode" in m && "decode" in m;

/** Runs encoder and decoder, with optional feature perturbation in between. */
export function forward(
  model: SegmentationModel,
  ctx: ModelContext,
  x: Tensor,
  o: ForwardOptions = {},
): ModelOutput {
  const mode = o.mode ?? "train";
  const encoder = model.encode(ctx, x, mode, o.encoderHook);
  const decIn = o.perturb ? o.perturb(encoder) : encoder;
  const { logits, decoder } = model.decode(ctx, decIn, mode);
  return { logits, encoder, decoder };
}
