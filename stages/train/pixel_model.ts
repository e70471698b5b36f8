/**
 * The interim segmentation model until the ONNX engine lands (issue 3): a per-pixel softmax
 * regression on local intensity features (intensity, its square, 3x3 and 7x7 box means). Small
 * but real: trained by SGD with momentum, deterministic, checkpointable.
 */
export const FEATURES = 6;

/** features[f * plane + p] for one H x W image. */
export function pixelFeatures(
  image: Float32Array,
  w: number,
  h: number,
  out = new Float32Array(FEATURES * w * h),
) {
  const plane = w * h;
  const box = (r: number, dst: Float32Array) => {
    const tmp = new Float32Array(plane);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0, n = 0;
        for (let d = -r; d <= r; d++) {
          const xx = x + d;
          if (xx >= 0 && xx < w) (s += image[y * w + xx]), n++;
        }
        tmp[y * w + x] = s / n;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0, n = 0;
        for (let d = -r; d <= r; d++) {
          const yy = y + d;
          if (yy >= 0 && yy < h) (s += tmp[yy * w + x]), n++;
        }
        dst[y * w + x] = s / n;
      }
    }
  };
  for (let p = 0; p < plane; p++) {
    out[p] = 1;
    out[plane + p] = image[p];
    out[2 * plane + p] = image[p] * image[p];
  }
  box(1, out.subarray(3 * plane, 4 * plane));
  box(3, out.subarray(4 * plane, 5 * plane));
  for (let p = 0; p < plane; p++) out[5 * plane + p] = out[4 * plane + p] * out[4 * plane + p];
  return out;
}

export class PixelModel {
  readonly weights: Float32Array;
  readonly velocity: Float32Array;
  constructor(readonly classes: number, init: () => number) {
    this.weights = Float32Array.from({ length: classes * FEATURES }, () => 0.01 * init());
    this.velocity = new Float32Array(classes * FEATURES);
  }

  /** Softmax probabilities, classes x plane. */
  predict(
    features: Float32Array,
    plane: number,
    out: Float32Array = new Float32Array(this.classes * plane),
  ) {
    const C = this.classes, W = this.weights;
    for (let p = 0; p < plane; p++) {
      let max = -Infinity;
      for (let c = 0; c < C; c++) {
        let z = 0;
        for (let f = 0; f < FEATURES; f++) z += W[c * FEATURES + f] * features[f * plane + p];
        out[c * plane + p] = z;
        if (z > max) max = z;
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += out[c * plane + p] = Math.exp(out[c * plane + p] - max);
      for (let c = 0; c < C; c++) out[c * plane + p] /= sum;
    }
    return out;
  }

  /**
   * Accumulates the gradient of weighted cross-entropy into grad; targets[p] = 255 is ignored.
   * Returns the summed loss.
   */
  accumulate(
    features: Float32Array,
    plane: number,
    targets: Uint8Array,
    weight: number,
    grad: Float32Array,
    probs: Float32Array,
  ) {
    this.predict(features, plane, probs);
    let loss = 0;
    for (let p = 0; p < plane; p++) {
      const t = targets[p];
      if (t === 255) continue;
      loss -= weight * Math.log(Math.max(probs[t * plane + p], 1e-8));
      for (let c = 0; c < this.classes; c++) {
        const g = weight * (probs[c * plane + p] - (c === t ? 1 : 0));
        for (let f = 0; f < FEATURES; f++) grad[c * FEATURES + f] += g * features[f * plane + p];
      }
    }
    return loss;
  }

  step(grad: Float32Array, count: number, lr: number, momentum: number) {
    for (let i = 0; i < grad.length; i++) {
      this.velocity[i] = momentum * this.velocity[i] + grad[i] / Math.max(count, 1);
      this.weights[i] -= lr * this.velocity[i];
    }
  }
}
