/** The closing summary of `run`/`resume`. */
import { Effect } from "effect";
import type { RunEnv } from "./runner.ts";
export const printRunSummary = (_env: RunEnv) => Effect.void;
