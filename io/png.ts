/**
 * 2D grey PNG images and masks (fast-png). A PNG becomes a Volume with nz = 1, x = column,
 * y = row (top row first), so `data[x + width * y]`.
 *
 * Values are the raw samples: 0..255 (8-bit), 0..65535 (16-bit), 0..2^d-1 for 1/2/4-bit grey,
 * and palette indices for indexed-colour PNGs (the usual way masks are stored). RGB(A) files are
 * accepted only when R = G = B (grey saved as colour); alpha is ignored. Spacing comes from the
 * pHYs chunk when it is in pixels per metre, else 1 mm.
 */
import { decode, encode } from "fast-png";
import { DataError, readFileBytes } from "./errors.ts";
import { identityAffine, type Volume } from "./volume.ts";

export function readPng(path: string): Volume {
  return decodePngVolume(readFileBytes(path), path);
}

export function decodePngVolume(bytes: Uint8Array, file: string): Volume {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) {
    throw new DataError(file, "not a PNG file (bad signature)");
  }
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new DataError(
      file,
      `unreadable PNG (${(e as Error).message}): corrupt or truncated`,
      "re-export or re-download it",
    );
  }
  const { width, height, depth, channels } = png;
  const n = width * height;
  const out = new Float32Array(n);
  const samples = unpack(png.data, width, height, channels, depth);
  if (samples.length < n * channels) {
    throw new DataError(file, "truncated PNG pixel data", "re-export or re-download it");
  }
  const colour = png.palette ? 1 : channels >= 3 ? 3 : 1;
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    const v = samples[o];
    if (colour === 3 && (samples[o + 1] !== v || samples[o + 2] !== v)) {
      throw new DataError(
        file,
        `colour PNG (pixel ${i % width},${Math.floor(i / width)} has R,G,B = ${v},${
          samples[o + 1]
        },${samples[o + 2]}); Duet reads grey images`,
        "save it as 8- or 16-bit greyscale",
      );
    }
    out[i] = v;
  }
  let spacing: [number, number, number] = [1, 1, 1];
  const res = png.resolution;
  if (res && res.unit === 1 && res.x > 0 && res.y > 0) spacing = [1000 / res.x, 1000 / res.y, 1];
  return { data: out, shape: [width, height, 1], spacing, affine: identityAffine(spacing) };
}

/** fast-png leaves 1/2/4-bit rows packed; spread them to one sample per element. */
function unpack(
  data: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  depth: number,
): ArrayLike<number> {
  if (depth >= 8) return data;
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

export interface PngWriteOptions {
  /** 8 (default for Uint8Array data) or 16 (default for Float32Array data). */
  readonly depth?: 8 | 16;
}

/** Encodes a 2D volume (nz = 1) as a grey PNG; values are rounded and clamped to the depth. */
export function encodePngVolume(
  volume: Volume<Float32Array | Uint8Array>,
  options: PngWriteOptions = {},
): Uint8Array {
  const [width, height, nz] = volume.shape;
  if (nz !== 1) throw new Error(`PNG holds 2D images; this volume has nz = ${nz}`);
  const depth = options.depth ?? (volume.data instanceof Uint8Array ? 8 : 16);
  const max = depth === 8 ? 255 : 65535;
  const data = depth === 8 ? new Uint8Array(width * height) : new Uint16Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(volume.data[i]);
    data[i] = v < 0 ? 0 : v > max ? max : v;
  }
  return encode({ width, height, data, depth, channels: 1 });
}

export function writePng(
  path: string,
  volume: Volume<Float32Array | Uint8Array>,
  options: PngWriteOptions = {},
): void {
  Deno.writeFileSync(path, encodePngVolume(volume, options));
}
