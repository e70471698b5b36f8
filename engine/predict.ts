/**
 * Inference: the eval-mode forward graph (BatchNorm with running statistics, no dropout) with
 * a dynamic batch axis. `exportOnnx` bakes the weights in (the deployable model);
 * `Predictor` feeds the live weights, so one session serves validation during training.
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

function buildEvalGraph(
  model: SegmentationModel,
  o: EvalGraphOptions,
  paramSource: "input" | "constant",
) {
  if (o.spatial.length !== model.spatialDims) {
    throw new Error(`${model.kind} takes ${model.spatialDims}-D input, got spatial [${o.spatial}]`);
  }
  const g = new Graph(`${model.kind}_eval`);
  const batch = o.batch === undefined || o.batch === "dynamic" ? "batch" : o.batch;
  const x = g.input("image", [batch, model.inChannels, ...o.spatial]);
  const ctx = new ModelContext(g, model.store, { paramSource });
  const { logits } = forward(model, ctx, x, { mode: "eval" });
  const outs = o.outputs ?? ["probs"];
  if (outs.includes("logits")) g.output("logits", logits);
  if (outs.includes("probs")) g.output("probs", op.softmax(logits, 1));
  return { g, ctx };
}

/** The deployable ONNX model: eval mode, weights as initializers, dynamic batch by default. */
export function exportOnnx(
  model: SegmentationModel,
  o: EvalGraphOptions & { metadata?: Record<string, string> },
): Uint8Array {
  const { g } = buildEvalGraph(model, o, "constant");
  const metadata = { "duet.model": JSON.stringify(model.config()), ...o.metadata };
  return g.toOnnx({ metadata, docString: `Duet ${model.kind} (eval mode)` });
}

/**
 * Feeds for a graph's parameter and buffer inputs: tensors over the model's own arrays, so every
 * run reads the current weights without a copy.
 */
export function weightFeeds(g: Graph, store: ParamStore): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of g.inputs) {
    const role = g.roles.get(t)?.kind;
    if (role !== "param" && role !== "state") continue;
    const view = role === "param" ? store.params.view(t.name) : store.buffers.view(t.name);
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

  static async create(
    model: SegmentationModel,
    o: EvalGraphOptions & { session?: SessionOptions },
  ): Promise<Predictor> {
    const { g } = buildEvalGraph(model, o, "input");
    const session = await Session.create(g.toOnnx(), o.session);
    const weights = weightFeeds(g, model.store);
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
