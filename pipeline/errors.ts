/**
 * Every way a pipeline command can fail, and the exit code each maps to (DESIGN.md):
 * 0 done or cached; 64 bad config/usage; 65 bad input data; 75 transient (retry);
 * 130/143 after SIGINT/SIGTERM (checkpoint written first); 1 bug.
 */
import { Schema } from "effect";

export const ExitCode = {
  ok: 0,
  bug: 1,
  usage: 64,
  data: 65,
  transient: 75,
  sigint: 130,
  sigterm: 143,
} as const;

/** Bad config or command line; `problems` lists every one found, each naming its path. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  problems: Schema.Array(Schema.String),
}) {}

/** A committed artifact that is missing or whose bytes no longer match the recorded digest. */
export class IntegrityError extends Schema.TaggedError<IntegrityError>()("IntegrityError", {
  artifact: Schema.String,
  problem: Schema.String,
}) {}

/** Bad input data (unreadable file, wrong geometry, ...): one line naming the file. */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  file: Schema.String,
  problem: Schema.String,
}) {}

/** The process was asked to stop; what could be saved was saved. */
export class Interrupted extends Schema.TaggedError<Interrupted>()("Interrupted", {
  signal: Schema.Literals(["SIGINT", "SIGTERM"]),
}) {}

/** A stage's own failure that is not one of the above (a bug, unless marked transient). */
export class StageFailed extends Schema.TaggedError<StageFailed>()("StageFailed", {
  stage: Schema.String,
  message: Schema.String,
  transient: Schema.Boolean,
}) {}

type Tagged = { _tag?: string; name?: string; transient?: boolean; signal?: string };

/** Maps any failure (ours, the data readers' DataError, the store's StoreError) to an exit code. */
export function exitCodeOf(error: unknown): number {
  const e = (error ?? {}) as Tagged;
  switch (e._tag ?? e.name) {
    case "ConfigError":
      return ExitCode.usage;
    case "IntegrityError":
    case "InputError":
    case "DataError":
      return ExitCode.data;
    case "Interrupted":
      return e.signal === "SIGINT" ? ExitCode.sigint : ExitCode.sigterm;
    case "StoreError":
    case "StageFailed":
      return e.transient ? ExitCode.transient : ExitCode.bug;
    default:
      return ExitCode.bug;
  }
}

/** One human line for an error, without a stack trace for the expected kinds. */
export function describeError(error: unknown): string {
  const e = (error ?? {}) as Tagged & Record<string, unknown>;
  switch (e._tag ?? e.name) {
    case "ConfigError":
      return `invalid configuration:\n${
        (e.problems as string[]).map((p) => `  - ${p}`).join("\n")
      }`;
    case "IntegrityError":
      return `corrupted artifact ${e.artifact}: ${e.problem}`;
    case "InputError":
    case "DataError":
      return `bad input ${e.file}: ${e.problem}${e.fix ? ` (fix: ${e.fix})` : ""}`;
    case "Interrupted":
      return `stopped by ${e.signal}; resume with \`deno task pipeline resume --run-id ...\``;
    case "StoreError":
      return `object store error at ${e.uri}: ${e.message}${
        e.transient ? " (transient; retry)" : ""
      }`;
    case "StageFailed":
      return `stage ${e.stage} failed: ${e.message}`;
    default:
      return error instanceof Error ? (error.stack ?? error.message) : String(error);
  }
}
