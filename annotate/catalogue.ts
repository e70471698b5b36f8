/**
 * The cases `annotate` shows: found by ingest's own discovery and read by ingest's own readers
 * (schemas/data_options.ts), so what the user paints on is exactly what ingest will read. Only
 * images are read here, never labels; the last few volumes stay in memory for scrolling back.
 */
import { readCaseImage, type ReadCaseOptions } from "../io/cases.ts";
import type { CaseSpec } from "../io/dataset.ts";
import type { Volume } from "../io/volume.ts";
import { quantiles, suggestSlice } from "./suggest.ts";
import { HttpError } from "./http.ts";

/** What the page needs to show a case before its voxels arrive. */
export interface CaseMeta {
  readonly id: string;
  readonly shape: readonly [number, number, number];
  readonly spacing: readonly [number, number, number];
  /** Intensity of quantized value 0 and 65535 (the volume is sent as uint16). */
  readonly range: readonly [number, number];
  /** Initial window: the 1st and 99th percentiles. */
  readonly window: readonly [number, number];
  /** The slice to annotate first (annotate/suggest.ts). */
  readonly suggested: number;
}

export interface LoadedVolume {
  readonly meta: CaseMeta;
  readonly image: Volume;
  /** Little-endian uint16 intensities, x fastest: what the page draws from. */
  readonly quantized: Uint8Array;
}

const KEEP = 3;

/** uint16 is plenty for display (window/level steps of 1/65535 of the range) and halves the
 * bytes sent: a 576x576x88 LA scan is 58 MB instead of 117. */
function quantize(data: Float32Array, lo: number, hi: number): Uint8Array {
  const out = new Uint16Array(data.length);
  const scale = hi > lo ? 65535 / (hi - lo) : 0;
  for (let i = 0; i < data.length; i++) out[i] = Math.round((data[i] - lo) * scale);
  return new Uint8Array(out.buffer);
}

export class Catalogue {
  private readonly byId: Map<string, CaseSpec>;
  private readonly loaded = new Map<string, Promise<LoadedVolume>>();

  constructor(readonly specs: readonly CaseSpec[], private readonly options: ReadCaseOptions) {
    this.byId = new Map(specs.map((s) => [s.id, s]));
  }

  /** The spec of a known case; anything else (a path, `..`, a typo) is a 404. */
  spec(id: string): CaseSpec {
    const spec = this.byId.get(id);
    if (!spec) throw new HttpError(404, `unknown case "${id}"`);
    return spec;
  }

  /** Reads (or returns the cached) image of a case. */
  volume(id: string): Promise<LoadedVolume> {
    const spec = this.spec(id);
    let p = this.loaded.get(id);
    if (p) this.loaded.delete(id); // re-inserted below: most recently used last
    p ??= this.read(spec);
    this.loaded.set(id, p);
    p.catch(() => this.loaded.delete(id));
    while (this.loaded.size > KEEP) this.loaded.delete(this.loaded.keys().next().value!);
    return p;
  }

  private async read(spec: CaseSpec): Promise<LoadedVolume> {
    const image = await readCaseImage(spec, this.options);
    let lo = Infinity, hi = -Infinity;
    for (const v of image.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const [p1, p99] = quantiles(image.data, [0.01, 0.99]);
    const meta: CaseMeta = {
      id: spec.id,
      shape: image.shape,
      spacing: image.spacing,
      range: [lo, hi],
      window: p99 > p1 ? [p1, p99] : [lo, hi],
      suggested: suggestSlice(image),
    };
    return { meta, image, quantized: quantize(image.data, lo, hi) };
  }
}
