/**
 * The one mapping from the `normalize` config section to the preprocessing recipe
 * (preprocess/normalize.ts). The normalize stage fits it per case; export/predict import it to
 * apply the same preprocessing to new images (or replay a case's recorded CaseTransform).
 */
import type { NormalizeConfig } from "./config.ts";
import type { IntensityRecipe } from "../preprocess/intensity.ts";
import type { NormalizeRecipe } from "../preprocess/normalize.ts";

type Config = typeof NormalizeConfig.Type;

function intensityOf(config: Config): IntensityRecipe {
  switch (config.intensity) {
    case "zscore":
      return { kind: "zscore" };
    case "zscore-nonzero":
      return { kind: "zscore", nonzero: true };
    case "percentile":
      return { kind: "percentile", lower: config.percentiles[0], upper: config.percentiles[1] };
    case "ct-window":
      return { kind: "window", center: config.window.center, width: config.window.width };
    case "none":
      return { kind: "none" };
  }
}

/**
 * Recipe of a `normalize` config. Crops are in-plane only (every z-slice is kept, so slice
 * indices, e.g. the exemplar's, stay valid) and from the image alone ("body"), so predict
 * repeats them on unlabelled new images. Every slice is emitted; `config.slices` only selects
 * which labelled slices training reads (the stage's trainLabels), so it is not part of this.
 */
export function recipeOf(config: Config): NormalizeRecipe {
  return {
    intensity: intensityOf(config),
    ...(config.crop.by === "body"
      ? {
        crop: {
          by: "body" as const,
          margin: config.crop.margin,
          axes: "xy" as const,
          atPredict: "body" as const,
          ...(config.crop.threshold === null ? {} : { threshold: config.crop.threshold }),
        },
      }
      : {}),
    ...(config.spacing ? { spacing: config.spacing } : {}),
    size: config.size,
    ...(config.fit === "pad" ? { fit: "pad" as const } : {}),
  };
}
