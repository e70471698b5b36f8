/**
 * Every way a pipeline command can fail, and the exit code each maps to (DESIGN.md):
 * 0 done or cached; 64 bad config/usage; 65 bad input data; 74 I/O (the store or an output
 * folder refused: permissions, read-only, disk full, S3 403); 75 transient (retry);
 * 130/143 after SIGINT/SIGTERM (checkpoint written first); 1 bug. docs/reliability.md lists
 * every failure class with its code and what is kept.
 */
import { Schema } from "effect";
import { DataError } from "../io/errors.ts";

export const ExitCode = {
  ok: 0,
  bug: 1,
  usage: 64,
  data: 65,
  io: 74,
  transient: 75,
  sigint: 130,
  sigterm: 143,
} as const;

/** Bad config or command line; `problems` lists every one found, each naming its path. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  problems: Schema.Array(Schema.String),
}) {
  get exitCode(): number {
    return ExitCode.usage;
  }
  get line(): string {
    return `invalid configuration:\n${this.problems.map((p) => `  - ${p}`).join("\n")}`;
  }
}

/** A committed artifact that is missing or whose bytes no longer match the recorded digest. */
export class IntegrityError extends Schema.TaggedError<IntegrityError>()("IntegrityError", {
  artifact: Schema.String,
  problem: Schema.String,
}) {
  get exitCode(): number {
    return ExitCode.data;
  }
  get line(): string {
    return `corrupted artifact ${this.artifact}: ${this.problem}`;
  }
}

/** Bad input data (unreadable file, wrong geometry, ...): one line naming the file. */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  file: Schema.String,
  problem: Schema.String,
}) {
  get exitCode(): number {
    return ExitCode.data;
  }
  get line(): string {
    return `bad input ${this.file}: ${this.problem}`;
  }
}

/** A file or folder outside the store that cannot be written (e.g. `predict --out`). */
export class IoError extends Schema.TaggedError<IoError>()("IoError", {
  path: Schema.String,
  problem: Schema.String,
}) {
  get exitCode(): number {
    return ExitCode.io;
  }
  get line(): string {
    return `cannot write ${this.path}: ${this.problem}`;
  }
}

/**
 * The fix for a file-system error that is the environment's, not a bug (exit 74), or undefined.
 * `where` names what to change, e.g. "--store" or "--out".
 */
export function ioFix(error: unknown, where: string): string | undefined {
  const full = "free space (or raise the quota) and run again; a run resumes where it stopped";
  switch ((error as { code?: string })?.code) {
    case "EACCES":
    case "EPERM":
      return `make the folder writable by this user, or choose another ${where}`;
    case "EROFS":
      return `it is on a read-only file system: choose another ${where}`;
    case "ENOSPC":
      return `the disk is full: ${full}`;
    case "EDQUOT":
      return `disk quota exceeded: ${full}`;
    case "ENOTDIR":
    case "EEXIST":
      return `a path in ${where} is a file, not a folder: choose another ${where}`;
    case "EIO":
      return "the disk reported an I/O error: check it, then run again";
    default:
      return undefined;
  }
}

/** An IoError for a file-system failure at `path` when `ioFix` knows it, else the error. */
export function ioErrorOf(path: string, error: unknown, where: string): unknown {
  const fix = ioFix(error, where);
  if (!fix) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new IoError({ path, problem: `${message} (${fix})` });
}

/** Which signal aborted `signal` (the runner aborts with the signal's name as the reason). */
export const abortSignalName = (signal: AbortSignal): "SIGINT" | "SIGTERM" =>
  signal.reason === "SIGINT" ? "SIGINT" : "SIGTERM";

/** The process was asked to stop; what could be saved was saved. */
export class Interrupted extends Schema.TaggedError<Interrupted>()("Interrupted", {
  signal: Schema.Literals(["SIGINT", "SIGTERM"]),
}) {
  get exitCode(): number {
    return this.signal === "SIGINT" ? ExitCode.sigint : ExitCode.sigterm;
  }
  get line(): string {
    return `stopped by ${this.signal}; resume with \`deno task pipeline resume --run-id ...\``;
  }
}

/** A stage's own failure that is not one of the above (a bug, unless marked transient). */
export class StageFailed extends Schema.TaggedError<StageFailed>()("StageFailed", {
  stage: Schema.String,
  message: Schema.String,
  transient: Schema.Boolean,
}) {
  get exitCode(): number {
    return this.transient ? ExitCode.transient : ExitCode.bug;
  }
  get line(): string {
    return `stage ${this.stage} failed: ${this.message}`;
  }
}

/** Ours say their exit code and line themselves; the io readers' DataError is the one foreign kind. */
interface Described {
  readonly exitCode: number;
  readonly line: string;
}

const described = (error: unknown): Described | undefined => {
  if (error instanceof DataError) {
    return {
      exitCode: ExitCode.data,
      line: `bad input ${error.file}: ${error.problem}${error.fix ? ` (fix: ${error.fix})` : ""}`,
    };
  }
  const e = error as Partial<Described> | null;
  return typeof e?.exitCode === "number" && typeof e.line === "string" ? e as Described : undefined;
};

/** Maps any failure to its exit code: the error's own, else 1 (a bug). */
export const exitCodeOf = (error: unknown): number => described(error)?.exitCode ?? ExitCode.bug;

/** One human line for an error, without a stack trace for the expected kinds. */
export function describeError(error: unknown): string {
  const d = described(error);
  if (d) return d.line;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
