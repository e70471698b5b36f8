/**
 * The one error every reader, check and discovery function raises for bad input data.
 *
 * Its message is ONE line: the file, the problem, and the fix where there is one, so the CLI can
 * print it as is and exit 65 (bad input data) without a stack trace.
 */
export class DataError extends Error {
  override readonly name = "DataError";
  /** The file (or folder, or list file) the problem is in. */
  readonly file: string;
  /** What is wrong, in words, without the file name. */
  readonly problem: string;
  /** What the user can do about it, when there is something. */
  readonly fix?: string;

  constructor(file: string, problem: string, fix?: string) {
    const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
    super(`${oneLine(file)}: ${oneLine(problem)}${fix ? ` (fix: ${oneLine(fix)})` : ""}`);
    this.file = file;
    this.problem = oneLine(problem);
    this.fix = fix === undefined ? undefined : oneLine(fix);
  }
}

/** Exit status for bad input data (BSD sysexits EX_DATAERR), as the design's CLI contract says. */
export const DATA_ERROR_EXIT_CODE = 65;

export const isDataError = (e: unknown): e is DataError => e instanceof DataError;

/**
 * Reads a whole file, turning "not found", "permission denied" and friends into a DataError.
 */
export function readFileBytes(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw fileAccessError(path, e);
  }
}

export function fileAccessError(path: string, e: unknown): DataError {
  if (e instanceof DataError) return e;
  if (e instanceof Deno.errors.NotFound) {
    return new DataError(path, "file not found", "check the path and the dataset folder");
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new DataError(path, "permission denied", "make the file readable");
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new DataError(path, "is a folder, expected a file");
  }
  return new DataError(path, `unreadable file (${e instanceof Error ? e.message : String(e)})`);
}

/** Fails with a DataError when any voxel is NaN or ±Inf. */
export function checkFinite(file: string, data: ArrayLike<number>, what = "image"): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      throw new DataError(
        file,
        `${what} has a non-finite voxel (${v}) at flat index ${i}`,
        "replace NaN/Inf voxels (e.g. numpy.nan_to_num) before ingest",
      );
    }
  }
}
