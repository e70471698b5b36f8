/** Shared helpers for the transform tests (not a test file itself). */
import { makePhantom2D } from "../../datasets/phantom.ts";
import { type Image2D, image2d, type Label2D, label2d } from "../../transforms/image2d.ts";

/** A smooth field in [0.1, 0.9] (no label information). */
export function smooth(x: number, y: number): number {
  return 0.5 + 0.4 * Math.sin(x / 9 + 0.3) * Math.cos(y / 7 - 0.2);
}

/** A phantom label map (classes 0..3) and the image label*10 + smooth: its label is readable
 * from its intensity, so any image/label drift after a transform shows up. */
export function labelledPair(seed = 3, size = 96): { image: Image2D; label: Label2D } {
  const p = makePhantom2D({ seed, size });
  const label = label2d(size, size, p.label.data.slice());
  const data = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      data[x + size * y] = 10 * label.data[x + size * y] + smooth(x, y);
    }
  }
  return { image: image2d(size, size, data), label };
}

/** An image whose every pixel is unique, with a label that is a function of the value. */
export function indexPair(w: number, h: number): { image: Image2D; label: Label2D } {
  const data = new Float32Array(w * h);
  const lab = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    data[i] = i;
    lab[i] = (i * 7) % 251;
  }
  return { image: image2d(w, h, data), label: label2d(w, h, lab) };
}

export interface Consistency {
  /** Pixels whose intensity does not say their label (10L .. 10L+1). */
  readonly mismatches: number;
  /** Mismatches with no other label within `radius` pixels (true drift, not interpolation). */
  readonly far: number;
  readonly pixels: number;
}

export function consistency(image: Image2D, label: Label2D, radius = 2): Consistency {
  const { width: w, height: h } = image;
  let mismatches = 0, far = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = x + w * y;
      const l = label.data[i];
      const v = image.data[i];
      if (v >= 10 * l - 1e-3 && v <= 10 * l + 1 + 1e-3) continue;
      mismatches++;
      let boundary = false;
      for (let dy = -radius; dy <= radius && !boundary; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
          if (label.data[xx + w * yy] !== l) {
            boundary = true;
            break;
          }
        }
      }
      if (!boundary) far++;
    }
  }
  return { mismatches, far, pixels: w * h };
}

export function hasNaN(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return true;
  return false;
}

export function equalArrays(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * Exact check through the claimed pull-back map: wherever the 2x2 source neighbourhood of an
 * output pixel holds a single label L, the output label must be L and the output intensity
 * must say L. `bad` counts violations; `checked` how many pixels qualified.
 */
export function sourceConsistency(
  src: { image: Image2D; label: Label2D },
  out: { image: Image2D; label: Label2D },
  map: (x: number, y: number) => readonly [number, number],
): { checked: number; bad: number } {
  const { width: sw, height: sh } = src.label;
  const { width: w, height: h } = out.label;
  let checked = 0, bad = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [xs, ys] = map(x, y);
      const x0 = Math.floor(xs), y0 = Math.floor(ys);
      if (x0 < 0 || y0 < 0 || x0 + 1 >= sw || y0 + 1 >= sh) continue;
      const s = src.label.data;
      const l = s[x0 + sw * y0];
      if (
        s[x0 + 1 + sw * y0] !== l || s[x0 + sw * (y0 + 1)] !== l || s[x0 + 1 + sw * (y0 + 1)] !== l
      ) {
        continue;
      }
      checked++;
      const i = x + w * y;
      const v = out.image.data[i];
      if (out.label.data[i] !== l || v < 10 * l - 1e-3 || v > 10 * l + 1 + 1e-3) bad++;
    }
  }
  return { checked, bad };
}
