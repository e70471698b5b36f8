/**
 * Runs Debian's /usr/bin/python3 (with python3-nibabel, python3-h5py, python3-scipy) as the
 * reference implementation in round-trip tests. Always the Debian interpreter: the one on PATH
 * may lack those packages.
 */
export const PYTHON = "/usr/bin/python3";

export async function python(script: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`python failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

export function tempDir(prefix: string): string {
  return Deno.makeTempDirSync({ prefix: `duet-${prefix}-` });
}

/** Reads a raw little-endian float64 file written by numpy's tofile(). */
export function readF64(path: string): Float64Array {
  const b = Deno.readFileSync(path);
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
}
