/** The CLI in a real process (`deno task pipeline ...`), as users and schedulers run it. */
export const root = new URL("../", import.meta.url).pathname;

export interface CliResult {
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts pipeline/main.ts with `args`, stdout and stderr piped; `env` adds variables. */
export const spawnCli = (
  args: readonly string[],
  env?: Record<string, string>,
): Deno.ChildProcess =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${root}pipeline/main.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).spawn();

/** Runs pipeline/main.ts with `args`; `killAfterMs` SIGKILLs it at that moment. */
export async function cli(
  args: readonly string[],
  opts: { killAfterMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const child = spawnCli(args, opts.env);
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (opts.killAfterMs !== undefined) {
    timer = setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
  }
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}
