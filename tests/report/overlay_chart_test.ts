import assert from "node:assert/strict";
import { decode } from "fast-png";
import {
  OVERLAY_COLORS,
  overlayPng,
  pickSlice,
  pngDataUri,
  renderOverlay,
  zSlice,
} from "../../report/overlay.ts";
import { lineChartSvg, niceTicks } from "../../report/chart.ts";
import { formatDuration, representativeCases } from "../../report/html.ts";
import type { CaseMetrics } from "../../metrics/medpy.ts";

const at = (o: { width: number; rgb: Uint8Array }, x: number, y: number) => {
  const i = 3 * (x + o.width * y);
  return [o.rgb[i], o.rgb[i + 1], o.rgb[i + 2]];
};

Deno.test("renderOverlay: grey image, label and prediction contours in their colours", () => {
  const w = 10, h = 8;
  const image = new Float32Array(w * h).map((_, i) => i % w); // ramp along x
  const label = new Uint8Array(w * h), pred = new Uint8Array(w * h);
  for (let y = 2; y <= 5; y++) {
    for (let x = 2; x <= 5; x++) label[x + w * y] = 1;
    for (let x = 4; x <= 7; x++) pred[x + w * y] = 1;
  }
  const o = renderOverlay(image, label, pred, w, h, { scale: 1, thickness: 1, window: [0, 9] });
  assert.equal(o.width, 10);
  assert.deepEqual(at(o, 2, 3), [...OVERLAY_COLORS.label]); // label's left edge
  assert.deepEqual(at(o, 7, 3), [...OVERLAY_COLORS.pred]); // prediction's right edge
  assert.deepEqual(at(o, 4, 2), [...OVERLAY_COLORS.both]); // top edge of both
  assert.deepEqual(at(o, 3, 3), [85, 85, 85]); // label interior: grey 3/9
  assert.deepEqual(at(o, 9, 0), [255, 255, 255]); // window top
  assert.deepEqual(at(o, 0, 0), [0, 0, 0]);
  // Up-scaled: 3x with the default thickness 2.
  const big = renderOverlay(image, label, pred, w, h, { scale: 3, window: [0, 9] });
  assert.equal(big.width, 30);
  assert.equal(big.height, 24);
  assert.deepEqual(at(big, 6, 10), [...OVERLAY_COLORS.label]);
  assert.deepEqual(at(big, 7, 10), [...OVERLAY_COLORS.label]);
  assert.notDeepEqual(at(big, 8, 10), [...OVERLAY_COLORS.label]);
  assert.throws(() => renderOverlay(image, label.subarray(1), pred, w, h), /pixels/);
});

Deno.test("overlayPng decodes back to the same pixels; data URI; slice helpers", () => {
  const w = 16, h = 12;
  const image = new Float32Array(w * h).map((_, i) => Math.sin(i));
  const label = new Uint8Array(w * h).map((_, i) => (i % w > 4 && i % w < 10 ? 1 : 0));
  const pred = new Uint8Array(w * h);
  const png = overlayPng(image, label, pred, w, h);
  const d = decode(png);
  const o = renderOverlay(image, label, pred, w, h);
  assert.equal(d.width, o.width);
  assert.ok(o.width >= 320);
  assert.deepEqual(new Uint8Array(d.data), o.rgb);
  assert.ok(pngDataUri(png).startsWith("data:image/png;base64,iVBORw0KGgo"));
  const shape = [4, 3, 5] as const;
  const lab = new Uint8Array(60), prd = new Uint8Array(60);
  lab[12 * 3 + 1] = 1;
  prd[12 * 3 + 2] = 2;
  prd[12 * 1] = 1;
  assert.equal(pickSlice(lab, prd, shape), 3);
  assert.deepEqual([...zSlice(prd, shape, 3)].slice(0, 3), [0, 0, 2]);
});

Deno.test("charts: nice ticks, gaps for NaN, log axis, empty chart", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(50, 3000, 6), [500, 1000, 1500, 2000, 2500, 3000]);
  const svg = lineChartSvg({
    title: "Loss <A&B>",
    series: [{ name: "a", points: [[0, 1], [1, NaN], [2, 0.5], [3, 0.15]] }, {
      name: "b",
      points: [],
    }],
    logY: true,
  });
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  assert.ok(svg.includes("Loss &lt;A&amp;B&gt;"));
  assert.equal(svg.match(/<polyline/g)?.length, 1); // [2..3] is a line; [0] alone is a dot
  assert.equal(svg.match(/<circle/g)?.length, 1);
  assert.ok(svg.includes(">0.5<") && svg.includes(">0.2<"), "2x/5x log ticks");
  assert.ok(lineChartSvg({ title: "t", series: [] }).includes("no data"));
});

Deno.test("representativeCases and formatDuration", () => {
  const c = (id: string, dice: number): { caseId: string; metrics: CaseMetrics } => ({
    caseId: id,
    metrics: {
      classes: { "1": { dice, jaccard: 0, hd95: 0, asd: 0, assd: 0 } },
      empty: {},
      unit: "voxel",
    },
  });
  const r = representativeCases([c("a", 0.5), c("b", 0.9), c("c", 0.7), c("d", 0.1)])!;
  assert.deepEqual([r.best.caseId, r.median.caseId, r.worst.caseId], ["b", "c", "d"]);
  assert.equal(representativeCases([]), undefined);
  assert.equal(formatDuration(0.25), "250 ms");
  assert.equal(formatDuration(83), "1 min 23 s");
  assert.equal(formatDuration(7300), "2 h 1 min");
});
