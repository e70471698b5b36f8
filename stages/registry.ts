/** The eight stages, in pipeline order. */
import type { AnyStage } from "../pipeline/stage.ts";
export const stages: ReadonlyArray<AnyStage> = [];
