/**
 * Sliding-window inference of a 3D model over a normalized volume (nnU-Net's scheme): windows of
 * the training patch at a step of (1 - overlap) of it, each window's class probabilities weighted
 * by a Gaussian centred on it (sigma 1/8 of the patch: borders, which saw little context, count
 * less), summed and divided by the summed weights. Memory is one batch of windows and one
 * class-probability volume. A volume smaller than the patch along an axis is zero-padded there.
 * With mirroring, each window's probabilities are averaged over its mirror images.
 */
import { argmaxClasses, slicePredictions } from "./slices.ts";

/** Class probabilities [n, K, d, h, w] of n windows (the engine's Predictor or an ONNX file). */
export type WindowRunner = (windows: Float32Array, n: number) => Promise<Float32Array>;

/** [D, H, W] of a volume or a window. */
export type Dims3 = readonly [number, number, number];

/** Window starts along an axis of length n: evenly spread from 0 to n - p, every voxel covered. */
export function windowStarts(n: number, p: number, overlap: number): number[] {
  if (n <= p) return [0];
  const step = Math.max(1, Math.floor(p * (1 - overlap)));
  const count = Math.ceil((n - p) / step) + 1;
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - p)) / (count - 1)));
}

/** The Gaussian importance map of a window, max 1, no weight below 1e-3 of it (nnU-Net). */
export function gaussianWeights([d, h, w]: Dims3): Float32Array {
  const axis = (n: number) => {
    const sigma = n / 8, c = (n - 1) / 2;
    return Array.from({ length: n }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)));
  };
  const [gz, gy, gx] = [axis(d), axis(h), axis(w)];
  const out = new Float32Array(d * h * w);
  for (let z = 0, i = 0; z < d; z++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++, i++) out[i] = gz[z] * gy[y] * gx[x];
  }
  let max = 0;
  for (const v of out) max = Math.max(max, v);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i] / max, 1e-3);
  return out;
}

/**
 * The origin of the window of size `patch` centred on voxel `centre`, moved inside the volume
 * where it can be (at 0 along an axis where the volume is smaller than the patch).
 */
export function windowAround(centre: Dims3, dims: Dims3, patch: Dims3): Dims3 {
  return centre.map((c, i) =>
    Math.max(0, Math.min(dims[i] - patch[i], c - (patch[i] >> 1)))
  ) as unknown as Dims3;
}

/** The origin of the window at the centre of the volume. */
export const centreWindow = (dims: Dims3, patch: Dims3): Dims3 =>
  windowAround(dims.map((n) => n >> 1) as unknown as Dims3, dims, patch);

/** Copies the window at `at` out of the volume (zeros outside it). */
export function cropWindow<T extends Float32Array | Uint8Array>(
  image: T,
  [D, H, W]: Dims3,
  [z0, y0, x0]: Dims3,
  [d, h, w]: Dims3,
  out: T,
): void {
  out.fill(0);
  for (let z = 0; z < d && z0 + z < D; z++) {
    for (let y = 0; y < h && y0 + y < H; y++) {
      const from = ((z0 + z) * H + y0 + y) * W + x0;
      const n = Math.min(w, W - x0);
      out.set(image.subarray(from, from + n), (z * h + y) * w);
    }
  }
}

/**
 * The runner with nnU-Net's test-time mirroring along the axes training mirrors: each window's
 * probabilities are the mean over the window as it is and mirrored in x, in y and in both, each
 * mirrored back (slicePredictions); four times the inference. Not along z: the 3D weak views
 * flip z only when `augment.weak.flipYProbability` is set (0 by default), and 3D `caml` models
 * that never saw a volume upside down lost up to 5 validation Dice points with z mirrored too.
 */
export const mirroredRunner = (run: WindowRunner, [, h, w]: Dims3): WindowRunner => (x, n) =>
  // A window's z planes are h x w slices: the same mirroring as a 2D model's.
  slicePredictions(run, x, n, w, h, true);

/**
 * Argmax labels of a D x H x W volume; `probs` (optional, K x D x H x W) receives the weighted
 * class probabilities. `patch` is the window [d, h, w] the runner takes; with `mirror`, each
 * window goes through it mirrored too (mirroredRunner).
 */
export async function predictWindows(
  run: WindowRunner,
  k: number,
  image: Float32Array,
  dims: Dims3,
  patch: Dims3,
  overlap: number,
  o: { batch?: number; probs?: Float32Array; mirror?: boolean } = {},
): Promise<Uint8Array> {
  if (o.mirror) run = mirroredRunner(run, patch);
  const [D, H, W] = dims, [d, h, w] = patch;
  const volume = D * H * W, window = d * h * w, batch = Math.max(1, o.batch ?? 2);
  const gauss = gaussianWeights(patch);
  const sum = o.probs ?? new Float32Array(k * volume);
  sum.fill(0);
  const weight = new Float32Array(volume);
  const starts: Dims3[] = [];
  for (const z of windowStarts(D, d, overlap)) {
    for (const y of windowStarts(H, h, overlap)) {
      for (const x of windowStarts(W, w, overlap)) starts.push([z, y, x]);
    }
  }
  const input = new Float32Array(batch * window);
  for (let i0 = 0; i0 < starts.length; i0 += batch) {
    const n = Math.min(batch, starts.length - i0);
    for (let i = 0; i < n; i++) {
      cropWindow(image, dims, starts[i0 + i], patch, input.subarray(i * window, (i + 1) * window));
    }
    const p = await run(input.subarray(0, n * window), n);
    for (let i = 0; i < n; i++) {
      const [z0, y0, x0] = starts[i0 + i];
      for (let z = 0; z < d && z0 + z < D; z++) {
        for (let y = 0; y < h && y0 + y < H; y++) {
          for (let x = 0; x < w && x0 + x < W; x++) {
            const q = (z * h + y) * w + x, v = ((z0 + z) * H + y0 + y) * W + x0 + x;
            const g = gauss[q];
            weight[v] += g;
            for (let c = 0; c < k; c++) sum[c * volume + v] += g * p[(i * k + c) * window + q];
          }
        }
      }
    }
  }
  for (let c = 0; c < k; c++) {
    for (let v = 0; v < volume; v++) sum[c * volume + v] /= weight[v];
  }
  return argmaxClasses(sum, 0, k, volume);
}
