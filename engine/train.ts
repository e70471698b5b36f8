/**
 * A training step as one onnxruntime session: forward of every model, the loss the caller
 * writes, reverse-mode gradients and the optimizer update, all in one graph built once.
 * Parameters, optimizer state and BatchNorm buffers live in Float32Arrays owned by the models
 * and the step; each run feeds them in place (no copy) and copies the updated values back.
 */
import { gradients } from "./autodiff.ts";
import { type DType, Graph, type InputRole, type Tensor } from "./graph.ts";
import * as op from "./ops.ts";
import {
  type EncoderHook,
  forward,
  type ForwardOptions,
  isSegmentationModel,
  ModelContext,
  type ModelOutput,
  type Module,
  type SegmentationModel,
} from "./models/context.ts";
import { declareScalars, type OptimizerSpec, scalarFeeds, stateNames, update } from "./optim.ts";
import { ort, Session, type SessionOptions } from "./session.ts";
import { Rng } from "../random/rng.ts";
import { fillDropoutMask, fillNormal, fillUniform } from "./dropout.ts";

export type InputSpec = readonly number[] | { shape: readonly number[]; dtype: DType };
export type FeedValue = Float32Array | Int32Array | BigInt64Array | Uint8Array | number;

export interface ModelEntry {
  /** A segmentation model, or any module with parameters (e.g. an auxiliary projection head). */
  model: Module;
  /** false: fed but not updated (e.g. an EMA teacher). Default true. */
  trainable?: boolean;
}

export interface LossResult {
  /** The scalar that is minimised. */
  loss: Tensor;
  /** Scalars reported each step (e.g. loss parts), by name. */
  logs?: Record<string, Tensor>;
  /**
   * Tensors returned each step (e.g. probabilities for pseudo-labels), by name. The arrays in
   * the step result are reused by the next run: `.slice()` what you keep.
   */
  outputs?: Record<string, Tensor>;
}

export interface TrainStepSpec {
  models: Record<string, Module | ModelEntry>;
  inputs: Record<string, InputSpec>;
  /** Scalar inputs fed every run, e.g. loss weights and ramp-ups ("lr" is always declared). */
  scalars?: string[];
  loss: (b: StepBuilder) => LossResult;
  optimizer: OptimizerSpec;
  /** Seed of the dropout-mask generator. */
  seed?: number;
  /** Also return each trainable model's flat gradient (tests, gradient-norm logging). */
  outputGradients?: boolean;
  session?: SessionOptions;
}

/** A model forward pass built so far (auxiliary losses reuse a method's features). */
export interface RecordedForward {
  readonly model: string;
  readonly x: Tensor;
  readonly mode: "train" | "eval";
  readonly output: ModelOutput;
}

/** What the loss callback builds with. */
export class StepBuilder {
  /** Every `forward` built so far, in order. */
  readonly forwards: RecordedForward[] = [];

  constructor(
    readonly graph: Graph,
    private readonly contexts: Map<string, ModelContext>,
    private readonly models: Map<string, Module>,
  ) {}

  /** A data input declared in `inputs`. */
  input(name: string): Tensor {
    const t = this.graph.findInput(name);
    if (!t || this.graph.roles.get(t)?.kind !== "data") throw new Error(`no data input ${name}`);
    return t;
  }

  /** A scalar input declared in `scalars` (or "lr"). */
  scalar(name: string): Tensor {
    const t = this.graph.findInput(name);
    if (!t || this.graph.roles.get(t)?.kind !== "scalar") {
      throw new Error(`no scalar input ${name}`);
    }
    return t;
  }

  model(name: string): SegmentationModel {
    const m = this.module(name);
    if (!isSegmentationModel(m)) throw new Error(`${name} is not a segmentation model`);
    return m;
  }

  module(name: string): Module {
    const m = this.models.get(name);
    if (!m) throw new Error(`no model ${name}`);
    return m;
  }

  context(name: string): ModelContext {
    return this.contexts.get(name)!;
  }

  /** Full forward pass of a model (train mode unless `mode: "eval"`). */
  forward(name: string, x: Tensor, o: ForwardOptions = {}): ModelOutput {
    const output = forward(this.model(name), this.context(name), x, o);
    this.forwards.push({ model: name, x, mode: o.mode ?? "train", output });
    return output;
  }

  encode(name: string, x: Tensor, mode: "train" | "eval" = "train", hook?: EncoderHook): Tensor[] {
    return this.model(name).encode(this.context(name), x, mode, hook);
  }

  decode(name: string, features: Tensor[], mode: "train" | "eval" = "train") {
    return this.model(name).decode(this.context(name), features, mode);
  }
}

interface ModelSlot {
  name: string;
  model: Module;
  trainable: boolean;
  ctx: ModelContext;
  /** Optimizer state vectors, same length as the flat parameters. */
  state: Float32Array[];
  updatedBuffers: string[];
}

export interface StepResult {
  loss: number;
  logs: Record<string, number>;
  outputs: Record<string, ort.Tensor["data"]>;
  /** Flat gradients per trainable model (only with `outputGradients`). */
  gradients?: Map<string, Float32Array>;
}

const FLAT = "__flat";

export class TrainStep {
  /** Number of completed steps. */
  step = 0;
  rng: Rng;
  private fixedFeeds: Record<string, ort.Tensor> = {};
  private masks: { name: string; role: InputRole; data: Float32Array }[] = [];
  private logNames: string[] = [];
  /** Step-owned copies of the `outputs` (reused: a run overwrites the previous values). */
  private outputBuffers = new Map<string, Float32Array>();
  private outputNames: string[] = [];

  private constructor(
    readonly session: Session,
    readonly graph: Graph,
    readonly spec: TrainStepSpec,
    private readonly slots: ModelSlot[],
    readonly onnx: Uint8Array,
  ) {
    this.rng = new Rng(spec.seed ?? 0);
  }

  static async build(spec: TrainStepSpec): Promise<TrainStep> {
    const g = new Graph("train_step");
    const slots: ModelSlot[] = [];
    const contexts = new Map<string, ModelContext>();
    const models = new Map<string, Module>();
    for (const [name, e] of Object.entries(spec.models)) {
      const entry: ModelEntry = "model" in e && !("store" in e) ? e : { model: e as Module };
      const ctx = new ModelContext(g, entry.model.store, { prefix: `${name}/` });
      contexts.set(name, ctx);
      models.set(name, entry.model);
      slots.push({
        name,
        model: entry.model,
        trainable: entry.trainable ?? true,
        ctx,
        state: [],
        updatedBuffers: [],
      });
    }
    const scalars = declareScalars(g, spec.optimizer);
    for (const s of spec.scalars ?? []) g.input(s, [], "float32", { kind: "scalar" });
    for (const [name, s] of Object.entries(spec.inputs)) {
      const { shape, dtype } = "shape" in s ? s : { shape: s, dtype: "float32" as DType };
      g.input(name, shape, dtype, { kind: "data" });
    }
    const result = spec.loss(new StepBuilder(g, contexts, models));
    g.output("loss", result.loss);
    const logNames = Object.keys(result.logs ?? {});
    for (const k of logNames) g.output(`log/${k}`, result.logs![k]);
    const outputNames = Object.keys(result.outputs ?? {});
    for (const k of outputNames) g.output(`out/${k}`, result.outputs![k]);

    // Gradients for every used parameter of every trainable model, in one backward pass.
    const wrt: Tensor[] = [];
    for (const s of slots.filter((s) => s.trainable)) wrt.push(...s.ctx.usedParams().values());
    const grads = new Map<Tensor, Tensor>();
    gradients(result.loss, wrt).forEach((d, i) => grads.set(wrt[i], d));

    for (const s of slots) {
      const store = s.model.store;
      if (s.trainable) {
        const used = s.ctx.usedParams();
        const pieces = store.params.list().map((info) => {
          const t = used.get(info.name);
          return t ? op.reshape(grads.get(t)!, [-1]) : g.fill([info.size], 0);
        });
        const flatGrad = op.concat(pieces, 0);
        if (spec.outputGradients) g.output(`${s.name}/${FLAT}/grad`, flatGrad);
        const n = store.numParams;
        const flatParam = g.input(`${s.name}/${FLAT}`, [n], "float32", { kind: "state" });
        const names = stateNames(spec.optimizer);
        const stateIn = names.map((k) =>
          g.input(`${s.name}/opt/${k}`, [n], "float32", { kind: "state" })
        );
        const upd = update(spec.optimizer, flatParam, flatGrad, stateIn, scalars);
        g.output(`${s.name}/${FLAT}/new`, upd.param);
        upd.state.forEach((t, i) => g.output(`${s.name}/opt/${names[i]}/new`, t));
        s.state = names.map(() => new Float32Array(n));
      }
      for (const [buf, t] of s.ctx.updatedBuffers()) {
        g.output(`${s.name}/${buf}/new`, t);
        s.updatedBuffers.push(buf);
      }
    }
    const onnx = g.toOnnx({ metadata: { producer: "duet-engine", purpose: "training step" } });
    const session = await Session.create(onnx, spec.session);
    const step = new TrainStep(session, g, spec, slots, onnx);
    step.logNames = logNames;
    step.outputNames = outputNames;
    step.prepareFeeds();
    return step;
  }

  /** Builds the ort.Tensor wrappers of owned arrays once; runs refill the arrays in place. */
  private prepareFeeds(): void {
    const inputNames = new Set(this.session.inputNames);
    for (const s of this.slots) {
      const store = s.model.store;
      for (const [name] of s.ctx.usedParams()) {
        const info = store.params.info(name);
        this.fixedFeeds[`${s.name}/${name}`] = new ort.Tensor(
          "float32",
          store.params.view(name),
          info.shape,
        );
      }
      for (const info of store.buffers.list()) {
        const key = `${s.name}/${info.name}`;
        if (inputNames.has(key)) {
          this.fixedFeeds[key] = new ort.Tensor(
            "float32",
            store.buffers.view(info.name),
            info.shape,
          );
        }
      }
      if (s.trainable) {
        this.fixedFeeds[`${s.name}/${FLAT}`] = new ort.Tensor("float32", store.params.data, [
          store.numParams,
        ]);
        stateNames(this.spec.optimizer).forEach((k, i) => {
          this.fixedFeeds[`${s.name}/opt/${k}`] = new ort.Tensor("float32", s.state[i], [
            store.numParams,
          ]);
        });
      }
    }
    for (const t of this.graph.inputs) {
      const role = this.graph.roles.get(t) as InputRole;
      const random = role.kind === "dropout" || role.kind === "uniform" || role.kind === "normal";
      if (!random || !inputNames.has(t.name)) continue;
      const data = new Float32Array(t.size);
      this.masks.push({ name: t.name, role, data });
      this.fixedFeeds[t.name] = new ort.Tensor("float32", data, t.staticShape);
    }
  }

  /** Runs one step: `feeds` has every data input, "lr", and the declared scalars. */
  async run(feeds: Record<string, FeedValue>): Promise<StepResult> {
    const all: Record<string, ort.Tensor> = { ...this.fixedFeeds };
    for (
      const [k, v] of Object.entries({ ...feeds, ...scalarFeeds(this.spec.optimizer, this.step) })
    ) {
      const t = this.graph.findInput(k);
      if (!t) throw new Error(`TrainStep.run: unknown input ${k}`);
      all[k] = toOrt(v, t);
    }
    for (const t of this.graph.inputs) {
      const kind = this.graph.roles.get(t)?.kind;
      if ((kind === "data" || kind === "scalar") && !all[t.name]) {
        throw new Error(`TrainStep.run: missing feed ${t.name}`);
      }
    }
    // Masks and noise in creation order from one stream: reproducible and resumable.
    for (const m of this.masks) {
      if (m.role.kind === "dropout") this.rng = fillDropoutMask(this.rng, m.data, m.role.p);
      else if (m.role.kind === "uniform") {
        this.rng = fillUniform(this.rng, m.data, m.role.lo, m.role.hi);
      } else if (m.role.kind === "normal") {
        this.rng = fillNormal(this.rng, m.data, m.role.std, m.role.clip);
      }
    }
    const out = await this.session.run(all);
    for (const s of this.slots) {
      const store = s.model.store;
      if (s.trainable) {
        store.params.data.set(take(out, `${s.name}/${FLAT}/new`));
        stateNames(this.spec.optimizer).forEach((k, i) =>
          s.state[i].set(take(out, `${s.name}/opt/${k}/new`))
        );
      }
      for (const b of s.updatedBuffers) store.buffers.view(b).set(take(out, `${s.name}/${b}/new`));
    }
    this.step++;
    const logs: Record<string, number> = {};
    for (const k of this.logNames) logs[k] = Number(take(out, `log/${k}`)[0]);
    const outputs: Record<string, ort.Tensor["data"]> = {};
    for (const k of this.outputNames) {
      const data = take(out, `out/${k}`);
      let keep = this.outputBuffers.get(k);
      if (!keep || keep.length !== data.length) {
        this.outputBuffers.set(
          k,
          keep = new (data.constructor as Float32ArrayConstructor)(data.length),
        );
      }
      keep.set(data as Float32Array);
      outputs[k] = keep;
    }
    const result: StepResult = { loss: Number(take(out, "loss")[0]), logs, outputs };
    if (this.spec.outputGradients) {
      result.gradients = new Map(
        this.slots.filter((s) => s.trainable).map((
          s,
        ) => [s.name, (out[`${s.name}/${FLAT}/grad`].data as Float32Array).slice()]),
      );
    }
    for (const t of Object.values(out)) release(t);
    return result;
  }

  /** Live parameter views of one model (or of the only/first model). */
  parameters(model?: string): Map<string, Float32Array> {
    const s = model ? this.slots.find((x) => x.name === model) : this.slots[0];
    if (!s) throw new Error(`no model ${model}`);
    return s.model.store.named();
  }

  /** Optimizer state vectors of each trainable model: name -> [state...]. */
  optimizerState(): Map<string, Float32Array[]> {
    return new Map(this.slots.filter((s) => s.trainable).map((s) => [s.name, s.state]));
  }

  /** The dropout masks (and noise inputs) of the last run, in the order they were created. */
  dropoutMasks(): Map<string, Float32Array> {
    return new Map(this.masks.map((m) => [m.name, m.data]));
  }

  modelNames(): string[] {
    return this.slots.map((s) => s.name);
  }

  model(name: string): Module {
    const s = this.slots.find((x) => x.name === name);
    if (!s) throw new Error(`no model ${name}`);
    return s.model;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The data of an output, copied out of before the buffer is released. */
function take(out: Record<string, ort.Tensor>, name: string): Float32Array {
  return out[name].data as Float32Array;
}

/**
 * onnxruntime-node copies every output into a fresh ArrayBuffer. Detaching it once it has been
 * copied frees that memory now instead of at the next garbage collection, which keeps the
 * resident size of a long run flat (otherwise ~64 MB of dead buffers pile up between GCs and
 * glibc keeps the pages).
 */
function release(t: ort.Tensor): void {
  const buf = (t.data as Float32Array).buffer as ArrayBuffer & {
    transfer?: (n: number) => ArrayBuffer;
  };
  if (buf && !buf.detached && typeof buf.transfer === "function") buf.transfer(0);
}

function toOrt(v: FeedValue, t: Tensor): ort.Tensor {
  const shape = t.staticShape;
  if (typeof v === "number") {
    if (t.dtype !== "float32") throw new Error(`${t.name}: number fed to ${t.dtype} input`);
    return new ort.Tensor("float32", new Float32Array([v]), shape);
  }
  if (v.length !== t.size) throw new Error(`${t.name}: ${v.length} values for shape [${shape}]`);
  const want = {
    float32: Float32Array,
    int32: Int32Array,
    int64: BigInt64Array,
    uint8: Uint8Array,
  } as const;
  const ctor = want[t.dtype as keyof typeof want];
  if (!ctor || !(v instanceof ctor)) throw new Error(`${t.name}: expected ${t.dtype} data`);
  return new ort.Tensor(t.dtype as "float32", v as Float32Array, shape);
}
