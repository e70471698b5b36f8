/**
 * `deno task pipeline predict --model M.onnx --input PATH... --out DIR [--device cpu]`: segments
 * new images with an exported Duet model (deploy/segment.ts) and writes one mask per
 * input, on the input's grid: `<ID>.nii.gz` with the input's affine, or `<ID>.png` for a PNG.
 *
 * Inputs: .nii/.nii.gz, SSL4MIS .h5 (the dataset and axis order the model was trained with,
 * its duet.hdf5 metadata, or `--h5-axes` / `--h5-image`; default `image`, (X, Y, Z)), .png, or a folder
 * holding one DICOM series. IDs as ingest names cases (file name without extension; the parent
 * folder for UA-MT's `<ID>/mri_norm2.h5`; the folder name for DICOM). `--input a b c` and
 * `--input a --input b` both work.
 *
 * Failure: every input is checked to exist and have a known type before any work; a bad model
 * stops with one line (exit 65; 64 for usage). An input that cannot be read or segmented (corrupt,
 * wrong dimensionality) does not stop the others: it is logged and skipped, every other mask is
 * written, and the command then exits 65 naming each failed input. Masks are written to a
 * temporary name in --out and renamed when complete, so --out never holds a half-written mask.
 */
import { Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import { basename, join } from "node:path";
import { DeviceUnavailableError } from "../../engine/session.ts";
import { readCaseImage } from "../../io/cases.ts";
import { type CaseFormat, formatOf, idFromPath } from "../../io/dataset.ts";
import { hasDicomPreamble, listDicomFiles } from "../../io/dicom.ts";
import { DataError, fileAccessError, isDataError } from "../../io/errors.ts";
import { encodeNifti } from "../../io/nifti.ts";
import { encodePngVolume } from "../../io/png.ts";
import type { LabelVolume } from "../../io/volume.ts";
import { type Hdf5Layout, readDuetModel } from "../../deploy/onnx_model.ts";
import { Segmenter } from "../../deploy/segment.ts";
import { ConfigError, Interrupted, ioErrorOf } from "../errors.ts";

export interface PredictInput {
  readonly id: string;
  readonly path: string;
  readonly format: CaseFormat;
}

/** Resolves input paths to IDs and formats; fails before any work on a missing/unknown one. */
export function resolveInputs(paths: readonly string[]): PredictInput[] {
  const out: PredictInput[] = [];
  const seen = new Map<string, string>();
  for (const path of paths) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(path);
    } catch (e) {
      throw fileAccessError(path, e);
    }
    let input: PredictInput;
    if (st.isDirectory) {
      if (listDicomFiles(path).length === 0) {
        throw new DataError(path, "folder without DICOM files", "give one DICOM series folder");
      }
      input = { id: basename(path.replace(/\/+$/, "")), path, format: "dicom" };
    } else {
      const format = formatOf(path);
      if (!format) {
        const head = Deno.readFileSync(path).subarray(0, 132);
        throw new DataError(
          path,
          hasDicomPreamble(head)
            ? "a single DICOM file; predict reads a DICOM series from its folder"
            : "unknown image type",
          hasDicomPreamble(head)
            ? "give the folder that holds the series"
            : "give .nii, .nii.gz, .h5, .png files or DICOM folders",
        );
      }
      input = { id: idFromPath(path), path, format };
    }
    const prev = seen.get(input.id);
    if (prev !== undefined) {
      throw new ConfigError({
        problems: [
          `--input: ${prev} and ${path} have the same ID "${input.id}" (both would write it)`,
        ],
      });
    }
    seen.set(input.id, path);
    out.push(input);
  }
  return out;
}

/** Output file name of an input's mask. */
export const maskName = (input: PredictInput) =>
  `${input.id}${input.format === "png" ? ".png" : ".nii.gz"}`;

/** Writes bytes to `dir/name` via a temporary file and a rename (never half-written). */
export function writeAtomic(dir: string, name: string, bytes: Uint8Array): string {
  const final = join(dir, name);
  const tmp = join(dir, `.${name}.${Deno.pid}.partial`);
  try {
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, final);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created */ }
    throw ioErrorOf(final, e, "--out");
  }
  return final;
}

const encodeMask = (input: PredictInput, label: LabelVolume): Uint8Array =>
  input.format === "png" ? encodePngVolume(label, { depth: 8 }) : encodeNifti(label, { level: 1 });

export interface PredictRequest {
  readonly model: string;
  readonly inputs: readonly string[];
  readonly out: string;
  readonly device?: "cpu" | "cuda" | "webgpu";
  readonly threads?: number;
  readonly batch?: number;
  /** How .h5 inputs store the image; default: the model's duet.hdf5, else (X, Y, Z) `image`. */
  readonly hdf5?: Partial<Hdf5Layout>;
  readonly signal?: AbortSignal;
  /** One line per finished input (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface PredictSummary {
  readonly written: string[];
  readonly seconds: number;
  readonly inferenceSeconds: number;
  readonly slices: number;
}

function prepareOut(out: string): void {
  try {
    const st = Deno.statSync(out);
    if (!st.isDirectory) {
      throw new ConfigError({ problems: [`--out: ${out} exists and is not a folder`] });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw ioErrorOf(out, e, "--out");
    try {
      Deno.mkdirSync(out, { recursive: true });
    } catch (e) {
      throw ioErrorOf(out, e, "--out");
    }
  }
}

/** Runs predict; throws DataError / ConfigError / Interrupted. */
export async function predictFiles(req: PredictRequest): Promise<PredictSummary> {
  const t0 = performance.now();
  const log = req.log ?? ((line: string) => console.error(line));
  const model = readDuetModel(req.model);
  const inputs = resolveInputs(req.inputs);
  prepareOut(req.out);
  let segmenter: Segmenter;
  try {
    segmenter = await Segmenter.create(model, {
      device: req.device,
      threads: req.threads,
      batch: req.batch,
    });
  } catch (e) {
    if (e instanceof DeviceUnavailableError) throw new ConfigError({ problems: [e.message] });
    throw e;
  }
  const h5: Hdf5Layout = { axes: "xyz", image: "image", ...model.hdf5, ...req.hdf5 };
  const readOptions = { classes: [0], hdf5: { axisOrder: h5.axes, imageKey: h5.image } };
  const inference = model.inference;
  log(
    `${req.model}: ${inference.kind === "windows" ? "3D windows" : "slice by slice"}${
      inference.mirror ? ", mirrored" : ""
    }${model.postprocess.largestComponent ? ", largest component per class" : ""}`,
  );
  const written: string[] = [];
  const failed: DataError[] = [];
  let inferenceMs = 0, slices = 0;
  try {
    for (const [i, input] of inputs.entries()) {
      if (req.signal?.aborted) {
        throw new Interrupted({ signal: req.signal.reason === "SIGINT" ? "SIGINT" : "SIGTERM" });
      }
      const started = performance.now();
      let image, result;
      try {
        image = await readCaseImage(
          { id: input.id, format: input.format, imagePath: input.path },
          readOptions,
        );
        result = await segmenter.segment(image, input.path);
      } catch (e) {
        // One bad input must not cost the masks of the good ones after it.
        if (!isDataError(e)) throw e;
        failed.push(e);
        log(`[${i + 1}/${inputs.length}] ${input.id}: skipped: ${e.message}`);
        continue;
      }
      const path = writeAtomic(req.out, maskName(input), encodeMask(input, result.label));
      written.push(path);
      inferenceMs += result.inferenceMs;
      slices += result.slices;
      log(
        `[${i + 1}/${inputs.length}] ${input.id}: ${
          image.shape.join("x")
        }, ${result.slices} slices, ${
          ((performance.now() - started) / 1000).toFixed(2)
        } s -> ${path}`,
      );
    }
  } finally {
    await segmenter.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  log(
    `predicted ${written.length} mask(s), ${slices} slices, in ${seconds.toFixed(1)} s (${
      (inferenceMs / 1000).toFixed(1)
    } s in onnxruntime)`,
  );
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) {
    throw new DataError(
      `${failed.length} of ${inputs.length} inputs`,
      failed.map((e) => e.message).join("; "),
      `the other ${written.length} masks are written; fix or leave out these inputs`,
    );
  }
  return { written, seconds, inferenceSeconds: inferenceMs / 1000, slices };
}

/** Ours (DataError, ConfigError, Interrupted, IoError) carry their exit code; the rest are bugs. */
const passThrough = (e: unknown) => e instanceof Error ? e : new Error(String(e));

/** The `predict` command; `signal` is aborted on SIGINT/SIGTERM (stops between inputs). */
export const makePredictCommand = (signal?: AbortSignal) =>
  Command.make("predict", {
    model: Flag.String("model").pipe(Flag.withDescription("a model.onnx written by Duet's export")),
    input: Flag.String("input").pipe(
      Flag.withDescription(".nii/.nii.gz, .h5, .png files or DICOM series folders (repeatable)"),
      Flag.atLeast(0),
    ),
    more: Argument.String("paths").pipe(
      Argument.withDescription("more inputs (`--input a b c`)"),
      Argument.variadic(),
    ),
    out: Flag.String("out").pipe(Flag.withDescription("folder for the masks (created)")),
    device: Flag.Literals("device", ["cpu", "cuda", "webgpu"]).pipe(
      Flag.withDescription("onnxruntime execution provider"),
      Flag.withDefault("cpu" as const),
    ),
    batch: Flag.Int("batch").pipe(
      Flag.withDescription("slices per network run"),
      Flag.withDefault(16),
    ),
    h5Axes: Flag.Literals("h5-axes", ["xyz", "zyx"]).pipe(
      Flag.withDescription(".h5 inputs' axis order (default: as the model's training data)"),
      Flag.optional,
    ),
    h5Image: Flag.String("h5-image").pipe(
      Flag.withDescription(".h5 inputs' image dataset (default: as the model's training data)"),
      Flag.optional,
    ),
    threads: Flag.Int("threads").pipe(
      Flag.withDescription("onnxruntime threads (default: all cores)"),
      Flag.optional,
    ),
  }, (flags) =>
    Effect.gen(function* () {
      const inputs = [...flags.input, ...flags.more];
      if (inputs.length === 0) {
        return yield* Effect.fail(
          new ConfigError({ problems: ["predict: give at least one --input"] }),
        );
      }
      if (flags.batch < 1) {
        return yield* Effect.fail(new ConfigError({ problems: ["--batch must be >= 1"] }));
      }
      yield* Effect.tryPromise({
        try: () =>
          predictFiles({
            model: flags.model,
            inputs,
            out: flags.out,
            device: flags.device,
            batch: flags.batch,
            threads: Option.getOrUndefined(flags.threads),
            hdf5: {
              ...Option.match(flags.h5Axes, { onNone: () => ({}), onSome: (axes) => ({ axes }) }),
              ...Option.match(flags.h5Image, {
                onNone: () => ({}),
                onSome: (image) => ({ image }),
              }),
            },
            signal,
          }),
        catch: passThrough,
      });
    })).pipe(
      Command.withDescription("segment images with an exported Duet model (one mask per input)"),
    );
