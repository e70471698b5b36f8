/**
 * Drives bench/torch_reference.py in --serve mode over stdin/stdout (Debian's python3-torch via
 * /usr/bin/python3), so PyTorch stays warm between rounds. A missing interpreter or torch module
 * makes the reference unavailable instead of failing the benchmark.
 */
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./torch_reference.py", import.meta.url));

export class TorchReference {
  private lines: AsyncIterator<string> | null = null;
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private child: Deno.ChildProcess | null = null;
  available = false;
  reason = "";
  version: string | undefined;

  static async start(
    threads: number,
    /** More torch_reference.py arguments (--vnet ... for the 3D workloads). */
    extra: readonly string[] = [],
    python = Deno.env.get("DUET_TORCH_PYTHON") ?? "/usr/bin/python3",
  ) {
    const t = new TorchReference();
    try {
      t.child = new Deno.Command(python, {
        args: [SCRIPT, "--serve", "--threads", String(threads), ...extra],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      t.writer = t.child.stdin.getWriter();
      t.lines = lineReader(t.child.stdout);
      const first = await t.lines.next();
      if (first.done) {
        const err = new TextDecoder().decode((await t.child.output()).stderr).trim().split("\n")
          .pop();
        t.reason = `${python} ${SCRIPT} exited: ${err}`;
        return t;
      }
      const hello = JSON.parse(first.value);
      t.version = hello.torch;
      t.available = true;
    } catch (e) {
      t.reason = `cannot run ${python}: ${(e as Error).message}`;
    }
    return t;
  }

  async run(kind: "train" | "infer", n: number): Promise<number[]> {
    await this.writer!.write(new TextEncoder().encode(`${kind} ${n}\n`));
    const r = await this.lines!.next();
    if (r.done) throw new Error("PyTorch reference exited");
    return JSON.parse(r.value).ms;
  }

  async stop(): Promise<void> {
    if (!this.child) return;
    try {
      if (this.available) await this.writer!.write(new TextEncoder().encode("quit\n"));
      await this.writer!.close();
    } catch { /* already gone */ }
    await this.child.status;
    // Drain stderr so the process resources are released.
    await this.child.stderr.cancel().catch(() => {});
  }
}

async function* lineReader(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) yield line;
    }
  }
}
