import assert from "node:assert/strict";
import { renderReport } from "../../report/html.ts";
import { OVERLAY_COLORS } from "../../report/overlay.ts";
import { SERIES_COLORS } from "../../report/chart.ts";
import { syntheticReport } from "./fixture.ts";
import { firstSeriesRgb, screenshot } from "./chromium.ts";

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
  fn: async () => {
    const shot = await screenshot(renderReport(syntheticReport()), 60_000);
    console.log(`chromium screenshot: ${shot.ms.toFixed(0)} ms`);
    assert.equal(shot.width, 1200);
    assert.equal(shot.height, 3200);
    const pixels = shot.width * shot.height;
    assert.ok(shot.nonWhite > 0.05 * pixels, `only ${shot.nonWhite} non-white pixels`);
    assert.ok(shot.colours > 200, `only ${shot.colours} distinct colours`);
    const seen = (rgb: readonly number[], min: number) => {
      const n = shot.seen(rgb);
      assert.ok(n >= min, `colour rgb(${rgb}) seen ${n} times, want ≥ ${min}`);
    };
    // Overlay contours (the images are drawn pixelated, so exact colours survive).
    seen(OVERLAY_COLORS.label, 200);
    seen(OVERLAY_COLORS.pred, 200);
    // Curves: the first series colour (anti-aliased lines still have exact-colour pixels).
    seen(firstSeriesRgb(SERIES_COLORS[0]), 50);
  },
});
