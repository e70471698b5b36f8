/**
 * Checks across config fields that the schema cannot express, run with every decode: a config
 * the network or the phantom generator cannot take is exit 64 before any work, listed with the
 * other problems, instead of a crash in ingest or after minutes of preprocessing in train.
 */
import type { Config } from "../schemas/config.ts";
import { PHANTOM_MAX_CLASSES, PHANTOM_MIN_SIZE } from "../datasets/phantom.ts";

/** Every cross-field problem, each naming its path and the fix; empty when there is none. */
export function crossFieldProblems(config: Config): string[] {
  const problems: string[] = [];
  // Each U-Net level below the first halves the slice, and the skips must meet the same size.
  const levels = config.train.model.channels.length;
  const factor = 2 ** (levels - 1);
  const size = config.normalize.size;
  if (size.some((s) => s % factor !== 0)) {
    const fit = size.map((s) => Math.max(factor, Math.round(s / factor) * factor));
    problems.push(
      `normalize.size: [${size.join(", ")}] must be multiples of ${factor} for a U-Net with ` +
        `${levels} levels (train.model.channels), e.g. [${fit.join(", ")}]`,
    );
  }
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
