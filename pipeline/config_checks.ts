/**
 * Checks across config fields that the schema cannot express, run with every decode: a config
 * the network or the phantom generator cannot take is exit 64 before any work, listed with the
 * other problems, instead of a crash in ingest or after minutes of preprocessing in train.
 */
import type { Config } from "../schemas/config.ts";
import { PHANTOM_MAX_CLASSES, PHANTOM_MIN_SIZE } from "../datasets/phantom.ts";

/** Every cross-field problem, each naming its path and the fix; empty when there is none. */
export function crossFieldProblems(config: Config): string[] {
  const model = config.train.model.arch === "unet2d"
    ? sliceModelProblems(config)
    : volumeModelProblems(config);
  return [...model, ...dataProblems(config)];
}

/** `values` that are not all multiples of `factor`: the problem, with the nearest that are. */
function multiplesProblem(
  path: string,
  values: readonly number[],
  factor: number,
  why: string,
): string[] {
  if (values.every((v) => v % factor === 0)) return [];
  const fit = values.map((v) => Math.max(factor, Math.round(v / factor) * factor));
  return [
    `${path}: [${values.join(", ")}] must be multiples of ${factor} ${why}, e.g. [${
      fit.join(", ")
    }]`,
  ];
}

/** Each U-Net level below the first halves the slice, and the skips must meet the same size. */
function sliceModelProblems(config: Config): string[] {
  const levels = config.train.model.channels.length;
  const problems = multiplesProblem(
    "normalize.size",
    config.normalize.size,
    2 ** (levels - 1),
    `for a U-Net with ${levels} levels (train.model.channels)`,
  );
  // Neighbouring slices are only neighbours when the volumes keep every slice.
  if (config.train.model.context > 0 && config.normalize.slices !== "all") {
    problems.push(
      'normalize.slices: train.model.context takes neighbouring slices as channels; set "all"',
    );
  }
  if (config.augment.labelledIntensity > 0) {
    problems.push(
      "augment.labelledIntensity: for 3D models; 2D labelled slices get intensity changes from synthesis (synthesize.intensity); set 0",
    );
  }
  return problems;
}

function dataProblems(config: Config): string[] {
  const problems: string[] = [];
  if (config.data.source === "phantoms") {
    const foreground = config.data.classes.length - 1;
    if (foreground > PHANTOM_MAX_CLASSES) {
      problems.push(
        `data.classes: ${foreground} foreground classes, but the phantom generator makes at most ` +
          `${PHANTOM_MAX_CLASSES}; name at most ${PHANTOM_MAX_CLASSES + 1} classes or set ` +
          `data.source to your own data`,
      );
    }
    const [nx, ny] = config.data.phantoms.shape;
    if (nx < PHANTOM_MIN_SIZE || ny < PHANTOM_MIN_SIZE) {
      problems.push(
        `data.phantoms.shape: width and height must be at least ${PHANTOM_MIN_SIZE}, got ` +
          `[${config.data.phantoms.shape.join(", ")}]`,
      );
    }
  }
  return problems;
}

/**
 * 3D models: the V-Net's stages have 16·2^i filters and halve four times, a 3D U-Net halves once
 * per level below the first, so patch sides are multiples of 16 or 2^(levels - 1); what 3D
 * leaves out.
 */
function volumeModelProblems(config: Config): string[] {
  const problems: string[] = [];
  const { model } = config.train;
  const nf = model.channels[0];
  const vnet = model.arch === "vnet3d";
  if (vnet && (model.channels.length !== 5 || model.channels.some((c, i) => c !== nf << i))) {
    problems.push(
      `train.model.channels: vnet3d has five stages, each with twice the filters of the last, ` +
        `e.g. [${[0, 1, 2, 3, 4].map((i) => nf << i).join(", ")}]; got [${
          model.channels.join(", ")
        }]`,
    );
  }
  const factor = vnet ? 16 : 2 ** (model.channels.length - 1);
  if (!model.patch) {
    problems.push(`train.model.patch: ${model.arch} needs a patch [x, y, z], e.g. [64, 64, 32]`);
  } else {
    problems.push(
      ...multiplesProblem(
        "train.model.patch",
        model.patch,
        factor,
        `(the ${model.arch} halves it ${Math.log2(factor)} times)`,
      ),
    );
  }
  const unsupported: [boolean, string][] = [
    [
      model.context > 0,
      "train.model.context: neighbouring slices as channels are for unet2d (a 3D model sees them already); set 0",
    ],
    [
      config.data.roles.exemplar !== null,
      "data.roles.exemplar: one annotated slice cannot train a 3D model; set labelled volumes (data.roles.labelled) or use train.model.arch unet2d",
    ],
    [
      config.normalize.slices !== "all",
      'normalize.slices: 3D models train on whole labelled volumes; set "all"',
    ],
    [
      config.train.synthetic === "always",
      'train.synthetic: the synthetic samples are 2D slices; 3D models cannot use them (set "method" or "never")',
    ],
    [
      config.refine.enabled && config.refine.soft,
      "refine.soft: the soft second round is 2D-only in this version; set false for 3D models",
    ],
    [
      config.refine.enabled && config.refine.synthetic,
      "refine.synthetic: the synthetic samples are 2D slices; 3D models cannot use them (set false)",
    ],
  ];
  for (const [bad, line] of unsupported) if (bad) problems.push(line);
  return problems;
}
