/**
 * Precise BatchNorm statistics (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): the
 * running mean and variance that training leaves (an EMA with momentum 0.1) follow the last few
 * dozen batches of still-moving weights, and eval-mode predictions swing with them. This
 * recomputes them with the weights frozen, as the average over fixed batches of the per-batch
 * statistics (PyTorch's `momentum=None`), without dropout. The model is left untouched.
 */
import { Graph } from "./graph.ts";
import { forward, ModelContext, type SegmentationModel } from "./models/context.ts";
import { weightFeeds } from "./predict.ts";
import { ort, Session, type SessionOptions } from "./session.ts";

export class PreciseBatchNorm {
  private constructor(
    readonly model: SegmentationModel,
    readonly batch: number,
    private readonly session: Session,
    private readonly feeds: Record<string, ort.Tensor>,
    private readonly inputShape: readonly number[],
  ) {}

  /** A train-mode forward of `batch` images whose outputs are the batch's statistics. */
  static async create(
    model: SegmentationModel,
    o: { spatial: readonly number[]; batch: number; session?: SessionOptions },
  ): Promise<PreciseBatchNorm> {
    const g = new Graph(`${model.kind}_bn_stats`);
    const x = g.input("image", [o.batch, model.inChannels, ...o.spatial]);
    // Momentum 1: the "updated" running statistics are exactly this batch's.
    const ctx = new ModelContext(g, model.store, { bnMomentum: 1 });
    forward(model, ctx, x, { mode: "train" });
    for (const [name, t] of ctx.updatedBuffers()) g.output(`batch:${name}`, t);
    const session = await Session.create(g.toOnnx(), o.session);
    const feeds = weightFeeds(g, model.store);
    for (const t of g.inputs) {
      if (g.roles.get(t)?.kind !== "dropout") continue;
      const ones = new Float32Array(t.staticShape.reduce((a, b) => a * b, 1)).fill(1);
      feeds[t.name] = new ort.Tensor("float32", ones, t.staticShape); // dropout off
    }
    return new PreciseBatchNorm(model, o.batch, session, feeds, [model.inChannels, ...o.spatial]);
  }

  /**
   * The model's buffers (same layout as `store.buffers.data`) with every BatchNorm's running
   * mean and variance averaged over the batches of `images` ([n, C, ...spatial] flattened,
   * n a multiple of `batch`) under the current weights.
   */
  async compute(images: Float32Array): Promise<Float32Array> {
    const per = this.inputShape.reduce((a, b) => a * b, 1) * this.batch;
    const batches = images.length / per;
    if (!Number.isInteger(batches) || batches < 1) {
      throw new Error(`PreciseBatchNorm: ${images.length} values are not whole batches of ${per}`);
    }
    const buffers = this.model.store.buffers;
    const sums = new Map<string, Float64Array>();
    for (let i = 0; i < batches; i++) {
      const out = await this.session.run({
        ...this.feeds,
        image: new ort.Tensor("float32", images.subarray(i * per, (i + 1) * per), [
          this.batch,
          ...this.inputShape,
        ]),
      });
      for (const [output, t] of Object.entries(out)) {
        const name = output.slice("batch:".length);
        const sum = sums.get(name) ?? new Float64Array(t.data.length);
        sums.set(name, sum);
        const v = t.data as Float32Array;
        for (let j = 0; j < v.length; j++) sum[j] += v[j];
      }
    }
    const result = buffers.data.slice();
    for (const [name, sum] of sums) {
      const { offset } = buffers.info(name);
      for (let j = 0; j < sum.length; j++) result[offset + j] = sum[j] / batches;
    }
    return result;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
