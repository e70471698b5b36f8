/**
 * Screenshots of report HTML in Debian's headless Chromium, with a histogram of exact pixel
 * colours, for the render tests (DUET_REPORT_SCREENSHOT=path keeps a copy to look at).
 */
import { decode } from "fast-png";
import { chromium } from "../chromium.ts";

export interface Screenshot {
  readonly width: number;
  readonly height: number;
  /** Pixels with any channel below 245. */
  readonly nonWhite: number;
  /** Number of distinct colours. */
  readonly colours: number;
  /** How many pixels have exactly this colour. */
  seen(rgb: readonly number[]): number;
  readonly ms: number;
}

/** Renders `html` at 1200x3200; throws with Chromium's stderr when it fails. */
export async function screenshot(html: string, timeoutMs: number): Promise<Screenshot> {
  const dir = await Deno.makeTempDir({ prefix: "duet-report-" });
  try {
    const page = `${dir}/report.html`, shot = `${dir}/shot.png`;
    await Deno.writeTextFile(page, html);
    const t = performance.now();
    const out = await chromium(`${dir}/profile`, [
      `--screenshot=${shot}`,
      "--window-size=1200,3200",
      `file://${page}`,
    ], {
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const ms = performance.now() - t;
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const copyTo = Deno.env.get("DUET_REPORT_SCREENSHOT");
    if (copyTo) await Deno.copyFile(shot, copyTo);
    const png = decode(await Deno.readFile(shot));
    const counts = new Map<number, number>();
    let nonWhite = 0;
    for (let i = 0; i < png.width * png.height; i++) {
      const o = i * png.channels;
      const r = png.data[o], g = png.data[o + 1], b = png.data[o + 2];
      if (r < 245 || g < 245 || b < 245) nonWhite++;
      const key = (r << 16) | (g << 8) | b;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return {
      width: png.width,
      height: png.height,
      nonWhite,
      colours: counts.size,
      seen: (rgb) => counts.get((rgb[0] << 16) | (rgb[1] << 8) | rgb[2]) ?? 0,
      ms,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The first chart series colour as [r, g, b]. */
export const firstSeriesRgb = (hex: string): number[] =>
  [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
