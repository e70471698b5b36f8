/**
 * Weak/strong view pairs for cross-model mutual learning (CMEMS §1, SSL4MIS WeakStrongAugment):
 * weak = rot90/flip/zoom-crop (geometric, moves labels too); strong = the weak view plus
 * CutMix, intensity jitter, blur, noise and cutout (labels untouched; CutMix boxes reported).
 *
 * The batch helper writes N views straight into caller-owned NCHW buffers so the train loop
 * allocates nothing per step beyond small parameter records. With C > 1 channels (a slice and its
 * neighbours) every channel of an image gets that image's one weak and one strong transform.
 */
import type { Rng } from "../random/rng.ts";
import { RandomWeak, type WeakConfig, type WeakParams } from "./geometric.ts";
import { type Image2D, image2d, type Label2D, label2d } from "./image2d.ts";
import { pasteBox, RandomStrong, type StrongConfig, type StrongParams } from "./intensity.ts";

export interface ViewConfig {
  readonly weak?: Partial<WeakConfig>;
  readonly strong?: Partial<StrongConfig>;
}

export interface PairParams {
  readonly weak: WeakParams;
  readonly strong: StrongParams;
}

export interface ViewPair<L extends Label2D | undefined> {
  readonly weak: Image2D;
  readonly strong: Image2D;
  /** The label moved with the weak view (strong views share it, CutMix aside). */
  readonly weakLabel: L;
  readonly params: PairParams;
}

/** N weak and strong views in NCHW buffers of n*channels*height*width values each. */
export interface ViewBatch {
  readonly n: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly weak: Float32Array;
  readonly strong: Float32Array;
  /** Present when allocated with labels: labels of the weak views, and CutMix-mixed ones
   * (n*height*width: one label plane per image). */
  readonly weakLabels?: Uint8Array;
  readonly strongLabels?: Uint8Array;
}

export function allocViewBatch(
  n: number,
  height: number,
  width: number,
  withLabels = false,
  channels = 1,
) {
  const size = n * height * width;
  const batch: ViewBatch = {
    n,
    channels,
    height,
    width,
    weak: new Float32Array(size * channels),
    strong: new Float32Array(size * channels),
    ...(withLabels ? { weakLabels: new Uint8Array(size), strongLabels: new Uint8Array(size) } : {}),
  };
  return batch;
}

/** Reusable augmenter: build once from a config, call per image or per batch. */
export class ViewAugmenter {
  readonly weakT: RandomWeak;
  readonly strongT: RandomStrong;

  constructor(config: ViewConfig = {}) {
    this.weakT = new RandomWeak(config.weak);
    this.strongT = new RandomStrong(config.strong);
  }

  /** One weak/strong pair; `partner` (same size) enables CutMix for this single pair. */
  pair<L extends Label2D | undefined>(
    image: Image2D,
    rng: Rng,
    label?: L,
    partner?: Image2D,
  ): ViewPair<L> {
    const { width, height } = image;
    const weakP = this.weakT.sample(rng, width, height);
    const weak = this.weakT.apply(weakP, image, label as L);
    const strongP = this.strongT.sample(rng, width, height, partner ? -1 : undefined);
    const strong = image2d(width, height, weak.image.data.slice());
    RandomStrong.apply(strongP, strong, partner);
    return {
      weak: weak.image,
      strong,
      weakLabel: weak.label,
      params: { weak: weakP, strong: strongP },
    };
  }

  /**
   * Fill `batch` with views of `sources` (all batch.width x batch.height; n x channels planes,
   * image by image). CutMix partners are other images of the same batch (their weak views).
   * Returns one parameter record per image. With `labels` (one per image), batch.weakLabels /
   * strongLabels receive the moved and mixed labels.
   */
  batch(
    sources: readonly Image2D[],
    rng: Rng,
    batch: ViewBatch,
    labels?: readonly Label2D[],
  ): PairParams[] {
    const { n, channels, width, height } = batch;
    if (sources.length !== n * channels) {
      throw new RangeError(`batch holds ${n} x ${channels} planes, got ${sources.length}`);
    }
    if (labels && (labels.length !== n || !batch.weakLabels)) {
      throw new RangeError("labels need a batch allocated with labels, one per image");
    }
    const plane = width * height;
    const at = (buffer: Float32Array, i: number, c: number) =>
      buffer.subarray((i * channels + c) * plane, (i * channels + c + 1) * plane);
    const weakParams: WeakParams[] = [];
    for (let i = 0; i < n; i++) {
      const p = this.weakT.sample(rng, width, height);
      weakParams.push(p);
      for (let c = 0; c < channels; c++) {
        const src = sources[i * channels + c];
        if (src.width !== width || src.height !== height) {
          throw new RangeError(
            `image ${i} is ${src.width}x${src.height}, batch is ${width}x${height}`,
          );
        }
        this.weakT.apply(p, src, c === 0 ? labels?.[i] : undefined, {
          outImage: at(batch.weak, i, c),
          outLabel: c === 0 ? batch.weakLabels?.subarray(i * plane, (i + 1) * plane) : undefined,
        });
      }
    }
    const out: PairParams[] = [];
    for (let i = 0; i < n; i++) {
      const partner = n > 1 ? (i + 1 + rng.int(0, n - 1)) % n : undefined;
      const p = this.strongT.sample(rng, width, height, partner);
      for (let c = 0; c < channels; c++) {
        const view = at(batch.strong, i, c);
        view.set(at(batch.weak, i, c));
        const partnerView = p.cutmix
          ? image2d(width, height, at(batch.weak, p.cutmix.partner, c))
          : undefined;
        RandomStrong.apply(p, image2d(width, height, view), partnerView);
      }
      out.push({ weak: weakParams[i], strong: p });
    }
    if (labels && batch.weakLabels && batch.strongLabels) {
      mixLikeStrong(batch.weakLabels, batch.strongLabels, out, 1, height, width);
    }
    return out;
  }
}

/** Convenience: one weak/strong pair with a fresh augmenter (build a ViewAugmenter in loops). */
export function weakStrongPair<L extends Label2D | undefined = undefined>(
  image: Image2D,
  rng: Rng,
  config: ViewConfig = {},
  label?: L,
): ViewPair<L> {
  return new ViewAugmenter(config).pair(image, rng, label);
}

/**
 * Give (pseudo-)labels or C-channel probability maps computed on the weak views the same
 * CutMix as the strong views: dst[i] = src[i] with the box pasted from src[partner].
 * src and dst are NCHW buffers (n x channels x height x width) and must not overlap.
 */
export function mixLikeStrong<T extends Float32Array | Uint8Array>(
  src: T,
  dst: T,
  params: readonly PairParams[],
  channels: number,
  height: number,
  width: number,
): void {
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset) {
    throw new RangeError("mixLikeStrong needs distinct source and destination buffers");
  }
  const item = channels * height * width;
  if (src.length < params.length * item || dst.length < params.length * item) {
    throw new RangeError("buffers smaller than n x channels x height x width");
  }
  dst.set(src.subarray(0, params.length * item));
  for (let i = 0; i < params.length; i++) {
    const cm = params[i].strong.cutmix;
    if (!cm || cm.partner < 0) continue;
    const d = dst.subarray(i * item, (i + 1) * item) as T;
    const s = src.subarray(cm.partner * item, (cm.partner + 1) * item) as T;
    pasteBox(d, s, width, height, cm.box, channels);
  }
}

/** A batch slot as an Image2D / Label2D view (zero-copy), e.g. to inspect or save one view. */
export function viewAt(buffer: Float32Array, i: number, height: number, width: number): Image2D {
  return image2d(width, height, buffer.subarray(i * width * height, (i + 1) * width * height));
}

export function labelAt(buffer: Uint8Array, i: number, height: number, width: number): Label2D {
  return label2d(width, height, buffer.subarray(i * width * height, (i + 1) * width * height));
}
