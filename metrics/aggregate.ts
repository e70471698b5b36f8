/**
 * Aggregation of per-case metrics: mean and standard deviation per class over cases (numpy's
 * `np.mean` / `np.std`, i.e. population std, ddof = 0, as the papers' tables), and the per-case
 * CSV the evaluate stage writes.
 */
import type { CaseMetrics, ClassMetrics } from "./medpy.ts";

export const METRIC_NAMES = ["dice", "jaccard", "hd95", "asd", "assd"] as const;
export type MetricName = typeof METRIC_NAMES[number];

export interface MeanStd {
  mean: number;
  std: number;
}

export interface ClassSummary {
  /** Number of cases that had this class in their metrics. */
  n: number;
  /** Cases among them where the empty-mask convention applied. */
  nEmpty: number;
  dice: MeanStd;
  jaccard: MeanStd;
  hd95: MeanStd;
  asd: MeanStd;
  assd: MeanStd;
}

export interface MetricsSummary {
  cases: number;
  classes: Record<string, ClassSummary>;
  /** Per metric, mean over classes of the per-class means (and of their stds). */
  overall: Record<MetricName, MeanStd>;
}

/** Mean and population std (ddof = 0); {0, 0} for no values (never NaN). */
export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) return { mean: 0, std: 0 };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(sq / n) };
}

const byClassKey = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

export interface AggregateOptions {
  /** Leave out cases where the empty-mask convention applied for that class. Default false. */
  excludeEmpty?: boolean;
}

/** Mean ± std per class and metric over cases. */
export function aggregateMetrics(
  cases: readonly CaseMetrics[],
  options: AggregateOptions = {},
): MetricsSummary {
  const keys = new Set<string>();
  for (const c of cases) for (const k of Object.keys(c.classes)) keys.add(k);
  const classes: Record<string, ClassSummary> = {};
  for (const key of [...keys].sort(byClassKey)) {
    const rows: ClassMetrics[] = [];
    let nEmpty = 0;
    for (const c of cases) {
      const m = c.classes[key];
      if (m === undefined) continue;
      const isEmpty = c.empty[key] !== undefined;
      if (isEmpty) nEmpty++;
      if (isEmpty && options.excludeEmpty) continue;
      rows.push(m);
    }
    const summary = { n: rows.length, nEmpty } as ClassSummary;
    for (const name of METRIC_NAMES) summary[name] = meanStd(rows.map((r) => r[name]));
    classes[key] = summary;
  }
  const overall = {} as Record<MetricName, MeanStd>;
  const summaries = Object.values(classes);
  for (const name of METRIC_NAMES) {
    overall[name] = {
      mean: meanStd(summaries.map((s) => s[name].mean)).mean,
      std: meanStd(summaries.map((s) => s[name].std)).mean,
    };
  }
  return { cases: cases.length, classes, overall };
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Per-case CSV, one row per case and class:
 * `case,class,dice,jaccard,hd95,asd,assd,empty,unit` (empty is "", "pred", "label" or "both").
 * Numbers are written with full precision (shortest round-trip form).
 */
export function metricsCsv(rows: readonly { caseId: string; metrics: CaseMetrics }[]): string {
  const lines = ["case,class,dice,jaccard,hd95,asd,assd,empty,unit"];
  for (const { caseId, metrics } of rows) {
    for (const key of Object.keys(metrics.classes).sort(byClassKey)) {
      const m = metrics.classes[key];
      lines.push(
        [
          csvField(caseId),
          key,
          ...METRIC_NAMES.map((n) => String(m[n])),
          metrics.empty[key] ?? "",
          metrics.unit,
        ].join(","),
      );
    }
  }
  return lines.join("\n") + "\n";
}
