/**
 * Segmenting a new image with an exported Duet model, in onnxruntime: the recipe recorded in
 * the model (duet.normalize) is fitted to the image, every z-slice goes through the network in
 * batches (a 3D model: windows over the stacked slices), the argmax labels are mapped back onto
 * the image's own grid (restoreToOriginal), so the mask has the input's shape, spacing and
 * affine, and post-processed as recorded (duet.postprocess: the largest component per class, as
 * evaluate scored it). Used by `predict` and the export stage.
 */
import type { Device } from "../engine/session.ts";
import { ort, Session } from "../engine/session.ts";
import { DataError } from "../io/errors.ts";
import type { LabelVolume, Volume } from "../io/volume.ts";
import { normalizeCase, type NormalizeRecipe, restoreToOriginal } from "../preprocess/normalize.ts";
import type { DuetModel } from "./onnx_model.ts";
import { argmaxClasses, sliceInputs, slicePredictions } from "./slices.ts";
import { inputChannels } from "./weights.ts";
import { type Dims3, predictWindows } from "./sliding_window.ts";
import { predictorSpatial } from "./predict_volume.ts";
import { keepLargestComponent } from "../metrics/components.ts";

/**
 * The recipe as it applies to an image without a label: a foreground crop (it needs a label)
 * becomes its `atPredict` behaviour (default: no crop), a body crop stays unless `atPredict` is
 * "none"; every slice is emitted.
 */
export function predictRecipe(recipe: NormalizeRecipe): NormalizeRecipe {
  const { crop, ...rest } = recipe;
  const base: NormalizeRecipe = { ...rest, slices: "all" };
  if (!crop) return base;
  const by = crop.atPredict ?? (crop.by === "foreground" ? "none" : "body");
  return by === "none" ? base : { ...base, crop: { ...crop, by: "body" } };
}

export interface SegmenterOptions {
  readonly device?: Device;
  /** onnxruntime intra-op threads (default: all cores). */
  readonly threads?: number;
  /** Slices per network run (default 16). */
  readonly batch?: number;
}

export interface Segmentation {
  /** Label map on the input's grid (shape, spacing, affine of the input). */
  readonly label: LabelVolume;
  readonly slices: number;
  /** Milliseconds in onnxruntime (the rest is preprocessing and mapping back). */
  readonly inferenceMs: number;
}

/** One onnxruntime session over a Duet model; `segment` many images with it. */
export class Segmenter {
  private constructor(
    readonly model: DuetModel,
    readonly session: Session,
    readonly batch: number,
  ) {}

  static async create(model: DuetModel, options: SegmenterOptions = {}): Promise<Segmenter> {
    const kind = model.network.kind;
    if (kind !== "unet2d" && kind !== "unet3d" && kind !== "vnet3d") {
      throw new DataError(
        model.path,
        `network kind "${String(kind)}" is not supported by this Duet (it segments with unet2d, ` +
          `unet3d and vnet3d models)`,
      );
    }
    const session = await Session.create(model.bytes, {
      device: options.device ?? "cpu",
      ...(options.threads ? { threads: options.threads } : {}),
    });
    return new Segmenter(model, session, Math.max(1, options.batch ?? 16));
  }

  /** Segments one image (2D: nz = 1, or 3D, slice by slice). `file` names it in errors. */
  async segment(image: Volume, file: string): Promise<Segmentation> {
    const [nx, ny, nz] = image.shape;
    if (image.data.length !== nx * ny * nz) {
      throw new DataError(file, `image data has ${image.data.length} voxels for ${nx}x${ny}x${nz}`);
    }
    const inference = this.model.inference;
    const inChannels = Number(this.model.network.inChannels ?? 1);
    if (inChannels !== inputChannels(inference)) {
      throw new DataError(
        this.model.path,
        `the network takes ${inChannels} channels per input but duet.inference gives ${
          inputChannels(inference)
        }`,
        "re-export the model",
      );
    }
    if (this.model.inference.kind === "windows" && nz < 2) {
      throw new DataError(
        file,
        "a 3D model segments volumes, and this image has one slice",
        "give the whole volume (NIfTI, .h5 or a DICOM series), or use a 2D model",
      );
    }
    const recipe = predictRecipe(this.model.normalize);
    const { slices, transform } = normalizeCase(file, image, undefined, recipe);
    const [W, H] = this.model.inputSize;
    if (slices.length > 0 && (slices[0].width !== W || slices[0].height !== H)) {
      throw new DataError(
        this.model.path,
        `the model takes ${W}x${H} slices but its recipe gives ${slices[0].width}x${
          slices[0].height
        }`,
        "re-export the model",
      );
    }
    const plane = W * H, k = this.model.classes.length;
    const predicted = new Map<number, Uint8Array>();
    let inferenceMs = 0;
    const spatial = predictorSpatial(inference, W, H);
    /** Class probabilities of n network inputs (a copy: the session's output is released). */
    const run = async (x: Float32Array, n: number) => {
      const t0 = performance.now();
      const out = await this.session.run(
        { image: new ort.Tensor("float32", x, [n, inChannels, ...spatial]) },
        ["probs"],
      );
      inferenceMs += performance.now() - t0;
      const p = (out.probs.data as Float32Array).slice();
      out.probs.dispose?.();
      return p;
    };
    // The recipe's slices stacked into the normalized volume (slices or windows are cut from it).
    const volume = new Float32Array(slices.length * plane);
    slices.forEach((s, i) => volume.set(s.image, i * plane));
    if (inference.kind === "windows") {
      const dims: Dims3 = [slices.length, H, W];
      const labels = await predictWindows(
        run,
        k,
        volume,
        dims,
        spatial as unknown as Dims3,
        inference.overlap,
        { mirror: inference.mirror },
      );
      slices.forEach((s, i) => predicted.set(s.z, labels.subarray(i * plane, (i + 1) * plane)));
    } else {
      for (let s0 = 0; s0 < slices.length; s0 += this.batch) {
        const n = Math.min(this.batch, slices.length - s0);
        const x = sliceInputs(volume, slices.length, plane, s0, n, inference.context ?? 0);
        const p = await slicePredictions(run, x, n, W, H, inference.mirror);
        for (let i = 0; i < n; i++) {
          predicted.set(slices[s0 + i].z, argmaxClasses(p, i * k * plane, k, plane));
        }
      }
    }
    const label = restoreToOriginal(transform, predicted);
    if (this.model.postprocess.largestComponent) {
      label.data.set(keepLargestComponent(label.data, label.shape));
    }
    return { label, slices: slices.length, inferenceMs };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
