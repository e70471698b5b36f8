// Drawing slices of a volume: plane geometry, the window/level lookup table and the RGBA
// composition of a grey slice with label overlays. No DOM here, so tests run it in Deno.
//
// Volumes are flat arrays with x fastest: index = x + nx * (y + ny * z), as Duet's readers give
// them. Planes: axial (fixed z; x right, y down), coronal (fixed y; x right, z up) and sagittal
// (fixed x; y right, z up).

/** @typedef {"axial" | "coronal" | "sagittal"} Plane */
/** @typedef {readonly [number, number, number]} Shape */

/**
 * Width and height in pixels of a plane, and the physical size of one pixel.
 * @param {Shape} shape
 * @param {readonly [number, number, number]} spacing
 * @param {Plane} plane
 * @returns {{ w: number, h: number, du: number, dv: number }}
 */
export function planeGeometry(shape, spacing, plane) {
  const [nx, ny, nz] = shape;
  const [sx, sy, sz] = spacing;
  if (plane === "axial") return { w: nx, h: ny, du: sx, dv: sy };
  if (plane === "coronal") return { w: nx, h: nz, du: sx, dv: sz };
  return { w: ny, h: nz, du: sy, dv: sz };
}

/** Number of slices along a plane's normal. @param {Shape} shape @param {Plane} plane */
export const planeCount = (shape, plane) =>
  plane === "axial" ? shape[2] : plane === "coronal" ? shape[1] : shape[0];

/**
 * Copies slice `k` of `plane` out of `src` into `out` (w*h values, row-major).
 * @template {Uint8Array | Uint16Array} T
 * @param {T} src
 * @param {Shape} shape
 * @param {Plane} plane
 * @param {number} k
 * @param {T} out
 * @returns {T}
 */
export function extractPlane(src, shape, plane, k, out) {
  const [nx, ny, nz] = shape;
  if (plane === "axial") {
    out.set(src.subarray(k * nx * ny, (k + 1) * nx * ny));
    return out;
  }
  let i = 0;
  for (let v = 0; v < nz; v++) {
    const z = nz - 1 - v;
    if (plane === "coronal") {
      const base = nx * (k + ny * z);
      for (let x = 0; x < nx; x++) out[i++] = src[base + x];
    } else {
      for (let y = 0; y < ny; y++) out[i++] = src[k + nx * (y + ny * z)];
    }
  }
  return out;
}

/**
 * Grey level (0..255) of every uint16 value for a window [lo, hi] in intensity units, given
 * the intensities of uint16 values 0 and 65535 (`range`).
 * @param {readonly [number, number]} range
 * @param {readonly [number, number]} window
 * @returns {Uint8Array}
 */
export function windowLut(range, window) {
  const lut = new Uint8Array(65536);
  const step = (range[1] - range[0]) / 65535;
  const width = Math.max(window[1] - window[0], 1e-12);
  for (let q = 0; q < 65536; q++) {
    const g = ((range[0] + q * step - window[0]) / width) * 255;
    lut[q] = g <= 0 ? 0 : g >= 255 ? 255 : Math.round(g);
  }
  return lut;
}

/**
 * @typedef {object} Layer
 * @property {Uint8Array} labels w*h label values of the plane
 * @property {ReadonlyArray<readonly [number, number, number] | null>} colours per label value
 * @property {number} alpha 0..1
 * @property {boolean} outline only the pixels on a label's border
 */

/**
 * Writes the RGBA pixels of a grey plane (through `lut`) with label layers blended on top.
 * @param {Uint8ClampedArray} rgba w*h*4
 * @param {Uint16Array} grey w*h
 * @param {Uint8Array} lut
 * @param {number} w
 * @param {number} h
 * @param {ReadonlyArray<Layer>} layers
 */
export function composeRgba(rgba, grey, lut, w, h, layers) {
  const n = w * h;
  for (let i = 0; i < n; i++) {
    const g = lut[grey[i]];
    const o = i * 4;
    rgba[o] = g;
    rgba[o + 1] = g;
    rgba[o + 2] = g;
    rgba[o + 3] = 255;
  }
  for (const layer of layers) {
    const { labels, colours, alpha, outline } = layer;
    const keep = 1 - alpha;
    for (let i = 0; i < n; i++) {
      const v = labels[i];
      if (v === 0) continue;
      const c = colours[v];
      if (!c) continue;
      if (outline) {
        const x = i % w, y = (i - x) / w;
        const inner = x > 0 && x < w - 1 && y > 0 && y < h - 1 && labels[i - 1] === v &&
          labels[i + 1] === v && labels[i - w] === v && labels[i + w] === v;
        if (inner) continue;
      }
      const o = i * 4;
      rgba[o] = rgba[o] * keep + c[0] * alpha;
      rgba[o + 1] = rgba[o + 1] * keep + c[1] * alpha;
      rgba[o + 2] = rgba[o + 2] * keep + c[2] * alpha;
    }
  }
}

/** "#0072B2" -> [0, 114, 178]. @param {string} hex @returns {[number, number, number]} */
export const hexRgb = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
