/**
 * What the user sees while a run goes: a progress bar on a terminal, plain lines when output is
 * piped (one every 10% or 10 s, so logs stay short), or JSON lines with `--log-format json`.
 * Everything goes to stderr; stdout is kept for command results (`status --json`, `metrics --json`).
 */
export type LogFormat = "auto" | "plain" | "json";

export interface ProgressBar {
  /** Advance by n steps; `detail` (e.g. "loss 0.31") is shown beside the bar. */
  readonly tick: (n?: number, detail?: string) => void;
  readonly done: (detail?: string) => void;
}

export interface Reporter {
  readonly info: (message: string, fields?: Record<string, unknown>) => void;
  readonly warn: (message: string, fields?: Record<string, unknown>) => void;
  readonly progress: (label: string, total: number) => ProgressBar;
}

const encoder = new TextEncoder();
const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));

export function makeReporter(format: LogFormat = "auto"): Reporter {
  const mode = format === "auto" ? (Deno.stderr.isTerminal() ? "tty" : "plain") : format;
  const line = (level: string, message: string, fields?: Record<string, unknown>) => {
    if (mode === "json") {
      write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }) + "\n");
    } else write(`${level === "warn" ? "warning: " : ""}${message}\n`);
  };
  return {
    info: (m, f) => line("info", m, f),
    warn: (m, f) => line("warn", m, f),
    progress: (label, total) => {
      let current = 0;
      let lastPrint = 0;
      let lastFraction = 0;
      const started = performance.now();
      const render = (detail = "", final = false) => {
        const fraction = total > 0 ? Math.min(1, current / total) : 1;
        const elapsed = (performance.now() - started) / 1000;
        const eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
        if (mode === "json") {
          write(
            JSON.stringify({
              time: new Date().toISOString(),
              level: "progress",
              label,
              current,
              total,
              detail,
            }) + "\n",
          );
        } else if (mode === "tty") {
          const width = 28;
          const filled = Math.round(fraction * width);
          const bar = "█".repeat(filled) + "░".repeat(width - filled);
          const tail = final ? `${elapsed.toFixed(1)}s` : `eta ${eta.toFixed(0)}s`;
          write(
            `\r\x1b[2K${label} ${bar} ${current}/${total} ${tail} ${detail}`.trimEnd() +
              (final ? "\n" : ""),
          );
        } else {
          write(
            `${label} ${current}/${total} (${Math.round(fraction * 100)}%, ${
              elapsed.toFixed(1)
            }s) ${detail}`.trimEnd() + "\n",
          );
        }
      };
      return {
        tick: (n = 1, detail) => {
          current += n;
          const now = performance.now();
          const fraction = total > 0 ? current / total : 1;
          const due = mode === "tty"
            ? now - lastPrint > 100
            : fraction - lastFraction >= 0.1 || now - lastPrint > 10_000;
          if (due) {
            lastPrint = now;
            lastFraction = fraction;
            render(detail);
          }
        },
        done: (detail) => {
          current = Math.max(current, total);
          render(detail, true);
        },
      };
    },
  };
}

/** A reporter that records everything, for tests. */
export function makeMemoryReporter(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warning: ${m}`),
    progress: (label, total) => ({
      tick: () => {},
      done: () => lines.push(`${label} ${total}/${total}`),
    }),
  };
}
