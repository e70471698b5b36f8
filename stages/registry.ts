/** The stages, in pipeline order. */
import type { AnyStage } from "../pipeline/stage.ts";
import { ingest } from "./ingest/stage.ts";
import { normalize } from "./normalize/stage.ts";
import { synthesize } from "./synthesize/stage.ts";
import { augment } from "./augment/stage.ts";
import { train } from "./train/stage.ts";
import { baseline } from "./baseline/stage.ts";
import { refine } from "./refine/stage.ts";
import { evaluate } from "./evaluate/stage.ts";
import { exportModel } from "./export/stage.ts";

export const stages: ReadonlyArray<AnyStage> = [
  ingest,
  normalize,
  synthesize,
  augment,
  train,
  baseline,
  refine,
  evaluate,
  exportModel,
];
