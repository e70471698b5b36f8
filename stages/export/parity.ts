/**
 * Parity of an exported ONNX model with the training engine: the same normalized inputs (slices,
 * or windows of a 3D model) through
 * onnxruntime (weights baked in, BatchNorm folded at export; layout optimizations off) and through
 * the engine's live-weight Predictor; the largest absolute difference between their softmax
 * probabilities.
 */
import { type EvalModels, Predictor } from "../../engine/predict.ts";
import { type Device, ort, Session } from "../../engine/session.ts";

export interface ParityResult {
  /** Network inputs compared (slices, or 3D windows). */
  readonly slices: number;
  readonly maxAbsDiff: number;
}

/** Both sessions over one model (or pair); `check` input stacks, read `result`, then `release`. */
export class ParityChecker {
  private worst = 0;
  private count = 0;

  private constructor(
    private readonly session: Session,
    private readonly predictor: Predictor,
    private readonly spatial: readonly number[],
    private readonly batch: number,
  ) {}

  static async create(
    model: EvalModels,
    onnx: Uint8Array,
    /** The network input: [H, W] or the [D, H, W] window. */
    spatial: readonly number[],
    options: { batch?: number; device?: Device } = {},
  ): Promise<ParityChecker> {
    const device = options.device ?? "cpu";
    // At level "all" onnxruntime swaps in NCHWc layout kernels for convolutions with constant
    // weights (the exported model, not the engine's live-weight graph); their float32 sums differ
    // by up to 1.3e-5 in probability on a LA model. Without them the file reproduces the engine
    // exactly (0 difference on that model), so a difference here is a real export error.
    const session = await Session.create(onnx, { device, optimization: "extended" });
    const predictor = await Predictor.create(model, { spatial, session: { device } });
    return new ParityChecker(session, predictor, spatial, options.batch ?? 16);
  }

  /** Runs `count` normalized inputs (count x channels x ...spatial) through both. */
  async check(image: Float32Array, count: number): Promise<void> {
    const channels = this.predictor.model.inChannels;
    const plane = channels * this.spatial.reduce((a, b) => a * b, 1);
    for (let s0 = 0; s0 < count; s0 += this.batch) {
      const n = Math.min(this.batch, count - s0);
      const x = image.slice(s0 * plane, (s0 + n) * plane);
      const shape = [n, channels, ...this.spatial];
      const a = await this.session.run({ image: new ort.Tensor("float32", x, shape) });
      const p = a.probs.data as Float32Array;
      const q = (await this.predictor.run(x, n)).probs;
      for (let i = 0; i < p.length; i++) {
        const d = Math.abs(p[i] - q[i]);
        if (!(d <= this.worst)) this.worst = d === d ? d : Infinity;
      }
      this.count += n;
    }
  }

  get result(): ParityResult {
    return { slices: this.count, maxAbsDiff: this.worst };
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.predictor.release();
  }
}
