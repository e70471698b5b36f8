/**
 * Inline SVG line charts for training curves (loss per model, validation Dice over steps, ...).
 * Pure string building; no fonts or scripts beyond what the report page provides.
 */
import { escapeHtml } from "./escape.ts";

export interface Series {
  name: string;
  /** [x, y] points; non-finite y values break the line (gaps), never draw NaN. */
  points: readonly (readonly [number, number])[];
}

export interface Chart {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: readonly Series[];
  /** Log-scale y axis (losses); non-positive values are dropped. */
  logY?: boolean;
}

/** Colour-blind-safe palette (Okabe-Ito, reordered for contrast on white). */
export const SERIES_COLORS = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#F0E442",
];

/** "Nice" tick values (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

const WIDTH = 560, HEIGHT = 320;
const M = { left: 58, right: 16, top: 34, bottom: 74 };

/** One chart as an `<svg>` element string. */
export function lineChartSvg(chart: Chart): string {
  const tr = (y: number) => (chart.logY ? Math.log10(y) : y);
  const usable = (p: readonly [number, number]) =>
    Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!chart.logY || p[1] > 0);
  const pts = chart.series.flatMap((s) => s.points.filter(usable));
  const title = `<text x="${M.left}" y="20" class="chart-title">${escapeHtml(chart.title)}</text>`;
  if (pts.length === 0) {
    return `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" class="chart">${title}` +
      `<text x="${WIDTH / 2}" y="${
        HEIGHT / 2
      }" text-anchor="middle" class="chart-empty">no data</text></svg>`;
  }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => tr(p[1]));
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  let xTicks = niceTicks(x0, x1, 6);
  x0 = Math.min(x0, xTicks[0]);
  x1 = Math.max(x1, xTicks[xTicks.length - 1]);
  xTicks = xTicks.filter((t) => t >= x0 && t <= x1);
  let yTicks = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const y0 = Math.min(Math.min(...ys), yTicks[0]);
  const y1 = Math.max(Math.max(...ys), yTicks[yTicks.length - 1]);
  yTicks = yTicks.filter((t) => t >= y0 && t <= y1);
  if (chart.logY) {
    // Decades, plus 2× and 5× marks when fewer than three decades are in view.
    const decades = yTicks.filter((t) => Number.isInteger(t));
    yTicks = decades;
    if (decades.length < 3) {
      yTicks = [];
      for (let d = Math.floor(y0); d <= Math.ceil(y1); d++) {
        for (const m of [1, 2, 5]) {
          const t = d + Math.log10(m);
          if (t >= y0 - 1e-12 && t <= y1 + 1e-12) yTicks.push(t);
        }
      }
    }
  }
  const pw = WIDTH - M.left - M.right, ph = HEIGHT - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [title];
  for (const t of yTicks) {
    const y = f(sy(t));
    const label = chart.logY ? formatTick(Number((10 ** t).toPrecision(6))) : formatTick(t);
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${M.left - 6}" y="${y}" dy="0.32em" text-anchor="end" class="tick">${label}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = f(sx(t));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${M.top + ph}" y2="${M.top + ph + 4}" class="axis"/>`,
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${
        formatTick(t)
      }</text>`,
    );
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="frame"/>`,
  );
  if (chart.xLabel) {
    parts.push(
      `<text x="${M.left + pw / 2}" y="${
        M.top + ph + 34
      }" text-anchor="middle" class="axis-label">${escapeHtml(chart.xLabel)}</text>`,
    );
  }
  if (chart.yLabel) {
    const cy = M.top + ph / 2;
    parts.push(
      `<text transform="translate(14 ${cy}) rotate(-90)" text-anchor="middle" class="axis-label">${
        escapeHtml(chart.yLabel + (chart.logY ? " (log)" : ""))
      }</text>`,
    );
  }
  // Lines, split at unusable points.
  chart.series.forEach((s, k) => {
    const color = SERIES_COLORS[k % SERIES_COLORS.length];
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) {
        const [x, y] = run[0].split(",");
        parts.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${color}"/>`);
      } else if (run.length > 1) {
        parts.push(
          `<polyline points="${
            run.join(" ")
          }" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`,
        );
      }
      run = [];
    };
    for (const p of s.points) {
      if (usable(p)) run.push(`${f(sx(p[0]))},${f(sy(tr(p[1])))}`);
      else flush();
    }
    flush();
  });
  // Legend below the plot, wrapping into rows.
  let lx = M.left, ly = M.top + ph + 52;
  chart.series.forEach((s, k) => {
    const w = 26 + 7 * s.name.length;
    if (lx + w > WIDTH - M.right && lx > M.left) {
      lx = M.left;
      ly += 16;
    }
    const color = SERIES_COLORS[k % SERIES_COLORS.length];
    parts.push(
      `<line x1="${lx}" x2="${lx + 16}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 21}" y="${ly}" dy="0.32em" class="legend">${escapeHtml(s.name)}</text>`,
    );
    lx += w;
  });
  return `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" class="chart" aria-label="${
    escapeHtml(chart.title)
  }">${parts.join("")}</svg>`;
}
