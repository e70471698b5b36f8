/**
 * Inference: the eval-mode forward graph (BatchNorm with running statistics, no dropout) with
 * a dynamic batch axis. `exportOnnx` bakes the weights in (the deployable model);
 * `Predictor` feeds the live weights, so one session serves validation during training.
 * Either takes one model or an ensemble (a trained pair): the ensemble's probabilities are the
 * mean of its members' softmax, in the same graph.
 */
import { Graph } from "./graph.ts";
import { forward, ModelContext, type SegmentationModel } from "./models/context.ts";
import * as op from "./ops.ts";
import type { ParamStore } from "./params.ts";
import { ort, Session, type SessionOptions } from "./session.ts";

export type PredictOutput = "logits" | "probs";

export interface EvalGraphOptions {
  /** Spatial size of the input, e.g. [256, 256] or [112, 112, 80]. */
  spatial: readonly number[];
  /** A fixed batch size, or "dynamic" (default) for a named "batch" axis. */
  batch?: number | "dynamic";
  outputs?: PredictOutput[];
}

/** One model, or an ensemble whose probabilities are the mean of its members'. */
export type EvalModels = SegmentationModel | readonly SegmentationModel[];

const members = (m: EvalModels): readonly SegmentationModel[] =>
  "store" in m ? [m as SegmentationModel] : m as readonly SegmentationModel[];

/** Graph-input prefix of ensemble member i ("" for a single model). */
const memberPrefix = (i: number, count: number) => (count > 1 ? `m${i}/` : "");

function buildEvalGraph(
  models: EvalModels,
  o: EvalGraphOptions,
  paramSource: "input" | "constant",
) {
  const list = members(models), first = list[0];
  for (const model of list) {
    if (o.spatial.length !== model.spatialDims) {
      throw new Error(
        `${model.kind} takes ${model.spatialDims}-D input, got spatial [${o.spatial}]`,
      );
    }
  }
  const outs = o.outputs ?? ["probs"];
  if (list.length > 1 && outs.includes("logits")) {
    throw new Error("an ensemble outputs probabilities only (the mean of its members')");
  }
  const g = new Graph(`${first.kind}_eval`);
  const batch = o.batch === undefined || o.batch === "dynamic" ? "batch" : o.batch;
  const x = g.input("image", [batch, first.inChannels, ...o.spatial]);
  let sum: ReturnType<typeof op.softmax> | undefined, logits;
  for (const [i, model] of list.entries()) {
    const prefix = memberPrefix(i, list.length);
    const ctx = new ModelContext(g, model.store, { paramSource, prefix });
    logits = forward(model, ctx, x, { mode: "eval" }).logits;
    const p = op.softmax(logits, 1);
    sum = sum ? op.add(sum, p) : p;
  }
  if (outs.includes("logits")) g.output("logits", logits!);
  if (outs.includes("probs")) {
    g.output("probs", list.length > 1 ? op.mul(sum!, 1 / list.length) : sum!);
  }
  return { g };
}

/** The deployable ONNX model: eval mode, weights as initializers, dynamic batch by default. */
export function exportOnnx(
  models: EvalModels,
  o: EvalGraphOptions & { metadata?: Record<string, string> },
): Uint8Array {
  const list = members(models);
  const { g } = buildEvalGraph(models, o, "constant");
  // An ensemble reads as its first member (kind, channels, classes) plus every member's config.
  const config = list.length > 1
    ? { ...list[0].config(), ensemble: list.map((m) => m.config()) }
    : list[0].config();
  const metadata = { "duet.model": JSON.stringify(config), ...o.metadata };
  const what = list.length > 1 ? `ensemble of ${list.length} ${list[0].kind}` : list[0].kind;
  return g.toOnnx({ metadata, docString: `Duet ${what} (eval mode)` });
}

/**
 * Feeds for a graph's parameter and buffer inputs: tensors over the model's own arrays, so every
 * run reads the current weights without a copy.
 */
export function weightFeeds(g: Graph, store: ParamStore, prefix = ""): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of g.inputs) {
    const role = g.roles.get(t)?.kind;
    if ((role !== "param" && role !== "state") || !t.name.startsWith(prefix)) continue;
    const name = t.name.slice(prefix.length);
    const view = role === "param" ? store.params.view(name) : store.buffers.view(name);
    feeds[t.name] = new ort.Tensor("float32", view, t.staticShape);
  }
  return feeds;
}

/** Eval-mode session over a model's live weights (reads them at every run). */
export class Predictor {
  private constructor(
    readonly model: SegmentationModel,
    readonly session: Session,
    private readonly weights: Record<string, ort.Tensor>,
    private readonly inputShape: readonly number[],
  ) {}

  /** An ensemble's `model` is its first member (class and channel counts are shared). */
  static async create(
    models: EvalModels,
    o: EvalGraphOptions & { session?: SessionOptions },
  ): Promise<Predictor> {
    const list = members(models), model = list[0];
    const { g } = buildEvalGraph(models, o, "input");
    const session = await Session.create(g.toOnnx(), o.session);
    const weights = Object.assign(
      {},
      ...list.map((m, i) => weightFeeds(g, m.store, memberPrefix(i, list.length))),
    );
    return new Predictor(model, session, weights, [model.inChannels, ...o.spatial]);
  }

  /** Runs `n` images ([n, C, ...spatial] flattened); returns the requested outputs. */
  async run(images: Float32Array, n: number): Promise<Record<string, Float32Array>> {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    if (images.length !== n * per) {
      throw new Error(`Predictor.run: ${images.length} values for ${n} images`);
    }
    const feeds = {
      ...this.weights,
      image: new ort.Tensor("float32", images, [n, ...this.inputShape]),
    };
    const out = await this.session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
