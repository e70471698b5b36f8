import assert from "node:assert/strict";
import { decode } from "fast-png";
import { renderReport } from "../../report/html.ts";
import { OVERLAY_COLORS } from "../../report/overlay.ts";
import { SERIES_COLORS } from "../../report/chart.ts";
import { syntheticReport } from "./fixture.ts";

const CHROMIUM = "/usr/bin/chromium";

Deno.test("renderReport: self-contained HTML with summary, table, curves and three overlays", () => {
  const data = syntheticReport();
  const html = renderReport(data);
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  // No external resources: no http(s) URLs in src/href, no <link>, no external script.
  assert.doesNotMatch(html, /\b(src|href)="(?!data:)/);
  assert.doesNotMatch(html, /<link\b/);
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /NaN|undefined|Infinity/);
  assert.equal(html.match(/<img src="data:image\/png;base64,/g)?.length, 3);
  assert.equal(html.match(/<svg /g)?.length, 2);
  for (
    const text of [
      "cmems",
      "phantoms-3d",
      "9f2c4e1a7b3d",
      "Best case",
      "Median case",
      "Worst case",
      "cavity (2)",
    ]
  ) {
    assert.ok(html.includes(text), text);
  }
  assert.ok(html.includes("empty pred"), "the empty-prediction case is marked");
  // Deterministic (pure).
  assert.equal(renderReport(data), html);
  // Escaping.
  const evil = renderReport({ ...data, title: `<script>alert("x")</script>` });
  assert.ok(evil.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
});

Deno.test({
  name:
    "the report renders in headless Chromium (screenshot is not blank, overlays and curves drawn)",
  ignore: !existsSync(CHROMIUM),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "duet-report-" });
    try {
      const htmlPath = `${dir}/report.html`, shot = `${dir}/shot.png`;
      await Deno.writeTextFile(htmlPath, renderReport(syntheticReport()));
      const t = performance.now();
      const out = await new Deno.Command(CHROMIUM, {
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
          `--user-data-dir=${dir}/profile`,
          `--screenshot=${shot}`,
          "--window-size=1200,2000",
          `file://${htmlPath}`,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const ms = performance.now() - t;
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      console.log(`chromium screenshot: ${ms.toFixed(0)} ms`);
      const copyTo = Deno.env.get("DUET_REPORT_SCREENSHOT");
      if (copyTo) await Deno.copyFile(shot, copyTo);

      const png = decode(await Deno.readFile(shot));
      assert.equal(png.width, 1200);
      assert.equal(png.height, 2000);
      const ch = png.channels;
      const px = png.data;
      const counts = new Map<number, number>();
      let nonWhite = 0;
      for (let i = 0; i < png.width * png.height; i++) {
        const r = px[i * ch], g = px[i * ch + 1], b = px[i * ch + 2];
        if (r < 245 || g < 245 || b < 245) nonWhite++;
        const key = (r << 16) | (g << 8) | b;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      assert.ok(nonWhite > 0.05 * png.width * png.height, `only ${nonWhite} non-white pixels`);
      assert.ok(counts.size > 200, `only ${counts.size} distinct colours`);
      const seen = (rgb: readonly number[], min: number) => {
        const n = counts.get((rgb[0] << 16) | (rgb[1] << 8) | rgb[2]) ?? 0;
        assert.ok(n >= min, `colour rgb(${rgb}) seen ${n} times, want ≥ ${min}`);
      };
      // Overlay contours (the images are drawn pixelated, so exact colours survive).
      seen(OVERLAY_COLORS.label, 200);
      seen(OVERLAY_COLORS.pred, 200);
      // Curves: the first series colour (anti-aliased lines still have exact-colour pixels).
      const hex = SERIES_COLORS[0];
      seen([1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)), 50);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
