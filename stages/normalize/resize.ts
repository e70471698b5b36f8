/** 2D resizing of one slice: bilinear for images, nearest for labels (half-pixel centres). */
export function resizeBilinear(
  src: Float32Array,
  w: number,
  h: number,
  W: number,
  H: number,
  out: Float32Array = new Float32Array(W * H),
) {
  const sx = w / W, sy = h / H;
  for (let Y = 0; Y < H; Y++) {
    const fy = Math.min(Math.max((Y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, h - 1), ty = fy - y0;
    for (let X = 0; X < W; X++) {
      const fx = Math.min(Math.max((X + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, w - 1), tx = fx - x0;
      const top = src[y0 * w + x0] * (1 - tx) + src[y0 * w + x1] * tx;
      const bottom = src[y1 * w + x0] * (1 - tx) + src[y1 * w + x1] * tx;
      out[Y * W + X] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

export function resizeNearest(
  src: Uint8Array,
  w: number,
  h: number,
  W: number,
  H: number,
  out: Uint8Array = new Uint8Array(W * H),
) {
  for (let Y = 0; Y < H; Y++) {
    const y = Math.min(Math.floor((Y + 0.5) * h / H), h - 1);
    for (let X = 0; X < W; X++) {
      out[Y * W + X] = src[y * w + Math.min(Math.floor((X + 0.5) * w / W), w - 1)];
    }
  }
  return out;
}
