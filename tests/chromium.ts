/**
 * Debian's headless Chromium, as the page tests start it: one path, one set of flags (fresh profile,
 * no network services), and a clear failure where it is not installed (`.ci/run` installs it).
 */
const CHROMIUM = "/usr/bin/chromium";

/** The command for Chromium with `extra` flags after the shared ones; throws when it is missing. */
export function chromium(profileDir: string, extra: readonly string[], opts: Deno.CommandOptions) {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} not found: apt-get install chromium (.ci/run does)`);
  }
  return new Deno.Command(CHROMIUM, {
    ...opts,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      `--user-data-dir=${profileDir}`,
      ...extra,
    ],
  });
}
