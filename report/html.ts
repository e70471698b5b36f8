/**
 * The evaluation report: one self-contained HTML file (inline CSS, inline SVG charts, PNG data
 * URIs, a few lines of inline script for table sorting; no external resource of any kind).
 * `renderReport(data)` is a pure function of its input.
 */
import {
  aggregateMetrics,
  type MeanStd,
  METRIC_NAMES,
  type MetricName,
} from "../metrics/aggregate.ts";
import type { CaseMetrics } from "../metrics/medpy.ts";
import { type Chart, lineChartSvg } from "./chart.ts";
import { escapeHtml as esc } from "./escape.ts";
import { OVERLAY_COLORS, pngDataUri, rgbCss } from "./overlay.ts";
import { REPORT_CSS, SORT_SCRIPT } from "./style.ts";

export interface CaseResult {
  caseId: string;
  metrics: CaseMetrics;
}

/** The per-case metrics of one model (e.g. "model A", "model B", "ensemble"). */
export interface ModelEvaluation {
  name: string;
  cases: readonly CaseResult[];
}

export type OverlayRank = "best" | "median" | "worst";

export interface OverlayPanel {
  rank: OverlayRank;
  caseId: string;
  model?: string;
  /** The case's mean Dice over classes (shown in the caption). */
  dice: number;
  /** Which slice is shown (caption only), e.g. the z index. */
  slice?: number;
  /** PNG bytes from overlayPng, or an existing data URI. */
  png: Uint8Array | string;
}

export interface RunSummary {
  method: string;
  /** Digest of the resolved config (hex); shown shortened, full in a tooltip. */
  configDigest: string;
  dataset: string;
  runId?: string;
  /** ISO time the report was made; supplied by the caller to keep rendering pure. */
  createdAt?: string;
  durations: readonly { stage: string; seconds: number }[];
  /** Further key/value facts (device, threads, seed, ...). */
  facts?: readonly (readonly [string, string])[];
}

export interface ReportData {
  title: string;
  run: RunSummary;
  /** Unit of hd95/asd/assd: "voxel" or "mm". */
  unit: "voxel" | "mm";
  /** Display names of classes, e.g. {"1": "left atrium"}. */
  classNames?: Readonly<Record<string, string>>;
  models: readonly ModelEvaluation[];
  curves: readonly Chart[];
  overlays: readonly OverlayPanel[];
  /** PNG of training slices as they are, their weak and their strong view (report section). */
  views?: Uint8Array;
}

const RANK_TITLE: Record<OverlayRank, string> = {
  best: "Best case",
  median: "Median case",
  worst: "Worst case",
};

/** Mean Dice over a case's classes (0 for a case without classes). */
export function meanDice(metrics: CaseMetrics): number {
  const values = Object.values(metrics.classes).map((m) => m.dice);
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * Best, median and worst case by mean Dice over classes (ties: the earlier case; the median is
 * the lower middle of the ranking, so it is an actual case). Undefined when there are no cases.
 */
export function representativeCases(
  cases: readonly CaseResult[],
): Record<OverlayRank, CaseResult> | undefined {
  if (cases.length === 0) return undefined;
  const ranked = cases
    .map((c, i) => ({ c, i, d: meanDice(c.metrics) }))
    .sort((a, b) => b.d - a.d || a.i - b.i);
  return {
    best: ranked[0].c,
    median: ranked[Math.floor((ranked.length - 1) / 2)].c,
    worst: ranked[ranked.length - 1].c,
  };
}

const LABELS: Record<MetricName, string> = {
  dice: "Dice",
  jaccard: "Jaccard",
  hd95: "HD95",
  asd: "ASD",
  assd: "ASSD",
};
const isDistance = (m: MetricName) => m === "hd95" || m === "asd" || m === "assd";

function fmt(v: number, metric: MetricName): string {
  if (!Number.isFinite(v)) return "–";
  return isDistance(metric) ? v.toFixed(2) : v.toFixed(4);
}

const fmtMeanStd = (s: MeanStd, metric: MetricName) =>
  `${fmt(s.mean, metric)}<span class="pm"> ± ${fmt(s.std, metric)}</span>`;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s} s`;
}

function className(data: ReportData, key: string): string {
  const name = data.classNames?.[key];
  return name === undefined ? `class ${key}` : `${name} (${key})`;
}

function summarySection(data: ReportData): string {
  const total = data.run.durations.reduce((a, d) => a + d.seconds, 0);
  const digest = data.run.configDigest;
  const cards = [
    ["Method", esc(data.run.method)],
    ["Dataset", esc(data.run.dataset)],
    ["Config digest", `<code title="${esc(digest)}">${esc(digest.slice(0, 12))}</code>`],
    ...(data.run.durations.length ? [["Total time", esc(formatDuration(total))]] : []),
  ];
  const facts = (data.run.facts ?? []).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`
  );
  const durations = data.run.durations.map((d) =>
    `<tr><th>${esc(d.stage)}</th><td class="num">${esc(formatDuration(d.seconds))}</td></tr>`
  );
  return `<section class="cards">${
    cards.map(([k, v]) =>
      `<div class="card"><div class="card-k">${k}</div><div class="card-v">${v}</div></div>`
    )
      .join("")
  }</section>
<section class="two-col">
  ${
    durations.length > 0
      ? `<div><h3>Stage durations</h3><table class="kv">${
        durations.join("")
      }<tr class="total"><th>total</th><td class="num">${
        esc(formatDuration(total))
      }</td></tr></table></div>`
      : ""
  }
  ${facts.length > 0 ? `<div><h3>Run</h3><table class="kv">${facts.join("")}</table></div>` : ""}
</section>`;
}

function metricTable(data: ReportData): string {
  const unit = data.unit === "mm" ? "mm" : "voxels";
  const head = `<tr><th>Model</th><th>Class</th><th class="num">n</th>${
    METRIC_NAMES.map((m) =>
      `<th class="num">${LABELS[m]}${isDistance(m) ? ` <small>(${unit})</small>` : ""}</th>`
    )
      .join("")
  }</tr>`;
  const rows: string[] = [];
  for (const model of data.models) {
    const s = aggregateMetrics(model.cases.map((c) => c.metrics));
    const keys = Object.keys(s.classes);
    keys.forEach((key, k) => {
      const c = s.classes[key];
      const empty = c.nEmpty > 0
        ? ` <span class="badge" title="cases where the prediction or label was empty">${c.nEmpty} empty</span>`
        : "";
      rows.push(
        `<tr${k === 0 ? ' class="group"' : ""}>${
          k === 0
            ? `<th rowspan="${keys.length + (keys.length > 1 ? 1 : 0)}">${esc(model.name)}</th>`
            : ""
        }<td>${esc(className(data, key))}${empty}</td><td class="num">${c.n}</td>${
          METRIC_NAMES.map((m) => `<td class="num">${fmtMeanStd(c[m], m)}</td>`).join("")
        }</tr>`,
      );
    });
    if (keys.length > 1) {
      rows.push(
        `<tr class="overall"><td>mean over classes</td><td class="num">${s.cases}</td>${
          METRIC_NAMES.map((m) => `<td class="num">${fmt(s.overall[m].mean, m)}</td>`).join("")
        }</tr>`,
      );
    }
    if (keys.length === 0) {
      rows.push(`<tr class="group"><th>${esc(model.name)}</th><td colspan="7">no cases</td></tr>`);
    }
  }
  return `<table class="metrics"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

function caseTable(data: ReportData): string {
  const unit = data.unit === "mm" ? "mm" : "vox";
  const head =
    `<tr><th data-sort="text">Model</th><th data-sort="text">Case</th><th data-sort="text">Class</th>${
      METRIC_NAMES.map((m) =>
        `<th class="num" data-sort="num">${LABELS[m]}${
          isDistance(m) ? ` <small>(${unit})</small>` : ""
        }</th>`
      )
        .join("")
    }</tr>`;
  const rows: string[] = [];
  for (const model of data.models) {
    for (const c of model.cases) {
      for (const key of Object.keys(c.metrics.classes)) {
        const m = c.metrics.classes[key];
        const empty = c.metrics.empty[key];
        const badge = empty === undefined
          ? ""
          : ` <span class="badge" title="empty ${
            empty === "both" ? "prediction and label" : empty === "pred" ? "prediction" : "label"
          }: convention applied">empty ${esc(empty)}</span>`;
        rows.push(
          `<tr><td>${esc(model.name)}</td><td>${esc(c.caseId)}</td><td>${
            esc(className(data, key))
          }${badge}</td>${
            METRIC_NAMES.map((n) =>
              `<td class="num" data-v="${Number.isFinite(m[n]) ? m[n] : 0}">${fmt(m[n], n)}</td>`
            )
              .join("")
          }</tr>`,
        );
      }
    }
  }
  return `<table class="cases sortable"><thead>${head}</thead><tbody>${
    rows.join("")
  }</tbody></table>`;
}

function overlaySection(data: ReportData): string {
  if (data.overlays.length === 0) return `<p class="muted">No overlay images.</p>`;
  const order: OverlayRank[] = ["best", "median", "worst"];
  const panels = [...data.overlays].sort((a, b) => order.indexOf(a.rank) - order.indexOf(b.rank));
  const figures = panels.map((p) => {
    const src = typeof p.png === "string" ? p.png : pngDataUri(p.png);
    const sub = [
      p.model === undefined ? undefined : esc(p.model),
      `case <b>${esc(p.caseId)}</b>`,
      p.slice === undefined ? undefined : `slice ${p.slice}`,
    ].filter((x) => x !== undefined).join(" · ");
    return `<figure class="overlay"><img src="${src}" alt="${esc(RANK_TITLE[p.rank])}: ${
      esc(p.caseId)
    }"/><figcaption><span class="rank rank-${p.rank}">${RANK_TITLE[p.rank]}</span> Dice ${
      fmt(p.dice, "dice")
    }<br/><span class="muted">${sub}</span></figcaption></figure>`;
  });
  const swatch = (name: string, c: readonly [number, number, number]) =>
    `<span class="swatch"><i style="background:${rgbCss(c)}"></i>${name}</span>`;
  const legend = `<div class="legend">${swatch("ground truth", OVERLAY_COLORS.label)}${
    swatch("prediction", OVERLAY_COLORS.pred)
  }${swatch("both", OVERLAY_COLORS.both)}</div>`;
  return `${legend}<div class="overlays">${figures.join("")}</div>`;
}

function viewsSection(png: Uint8Array): string {
  return `<section><h2>What training sees</h2>
<p class="muted">Labelled training slices (real first, then synthetic samples) as they are, their
weak view and their strong view, drawn as training draws them; label contours move with the views.</p>
<figure class="views"><img src="${pngDataUri(png)}" alt="training slices, weak and strong views"/>
<figcaption>as is · weak · strong</figcaption></figure></section>
`;
}

/** The whole report as one HTML document string. */
export function renderReport(data: ReportData): string {
  const charts = data.curves.length === 0
    ? `<p class="muted">No training curves.</p>`
    : `<div class="charts">${
      data.curves.map((c) => `<div class="chart-box">${lineChartSvg(c)}</div>`).join("")
    }</div>`;
  const subtitle = [
    data.run.runId === undefined ? undefined : `run <code>${esc(data.run.runId)}</code>`,
    data.run.createdAt === undefined ? undefined : esc(data.run.createdAt),
  ].filter((x) => x !== undefined).join(" · ");
  const unitNote = data.unit === "mm"
    ? "Distances are in mm (voxel spacing applied)."
    : "Distances are in voxels (no spacing), as in the papers' tables.";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>${esc(data.title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header><h1>${esc(data.title)}</h1>${subtitle ? `<p class="subtitle">${subtitle}</p>` : ""}</header>
<main>
${summarySection(data)}
<section><h2>Metrics</h2>
<p class="muted">Mean ± standard deviation over cases (population std). ${esc(unitNote)}</p>
${metricTable(data)}
</section>
<section><h2>Training curves</h2>${charts}</section>
${data.views ? viewsSection(data.views) : ""}<section><h2>Overlays</h2>${
    overlaySection(data)
  }</section>
<section><h2>Per case</h2>
<details><summary>${
    data.models.reduce((a, m) => a + m.cases.length, 0)
  } case evaluations (click a column to sort)</summary>
${caseTable(data)}
</details>
</section>
<footer>
<p><b>Definitions</b> (medpy): Dice = 2|P∩G|/(|P|+|G|); Jaccard = |P∩G|/|P∪G|; surface = mask XOR its
erosion with the face-connected structure; HD95 = 95th percentile (linear) of the surface distances
in both directions; ASD = mean distance from the prediction's surface to the label's (one direction);
ASSD = mean over both directions. <b>Empty masks</b>: prediction or label empty → Dice = Jaccard = 0
and HD95 = ASD = ASSD = 0 (the papers' convention); both empty → Dice = Jaccard = 1, distances 0.
Such cases are marked “empty”.</p>
</footer>
</main>
<script>${SORT_SCRIPT}</script>
</body>
</html>
`;
}
