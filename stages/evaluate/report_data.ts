/**
 * From what the evaluate stage has (per-case metrics of each model, the train stage's
 * curves.json, one representative slice per case and model) to report/html.ts's ReportData.
 * Pure and deterministic (no clock), so a re-run evaluate writes the same bytes.
 */
import type { Chart, Series } from "../../report/chart.ts";
import {
  type CaseResult,
  meanDice,
  type ModelEvaluation,
  type OverlayPanel,
  type ReportData,
  representativeCases,
} from "../../report/html.ts";
import { overlayPng } from "../../report/overlay.ts";
import { isBaseline } from "../../report/gains.ts";

/** One point of the train stage's curves.json. */
export interface CurvePoint {
  step: number;
  loss: number;
  logs?: Record<string, number>;
  /** Mean foreground validation Dice of each model (a, b) at this step. */
  dice?: number[];
}

/** The slice shown for one case and model: the one with the most label ∪ prediction. */
export interface CaseSlice {
  z: number;
  width: number;
  height: number;
  image: Float32Array;
  label: Uint8Array;
  pred: Uint8Array;
}

/** At most `max` points: means over equal step windows (smooths the per-step loss). */
export function bucketMeans(
  points: readonly (readonly [number, number])[],
  max: number,
): [number, number][] {
  const finite = points.filter(([, y]) => Number.isFinite(y));
  if (finite.length <= max) return finite.map(([x, y]) => [x, y]);
  const per = Math.ceil(finite.length / max);
  const out: [number, number][] = [];
  for (let i = 0; i < finite.length; i += per) {
    const chunk = finite.slice(i, i + per);
    out.push([
      chunk[chunk.length - 1][0],
      chunk.reduce((a, [, y]) => a + y, 0) / chunk.length,
    ]);
  }
  return out;
}

/** Validation Dice of each model of a pair ("model a", "model b") from its curves. */
const diceSeries = (curves: readonly CurvePoint[], names: readonly string[]): Series[] => {
  const validated = curves.filter((c) => c.dice && c.dice.length > 0);
  return names.map((name, k) => ({
    name,
    points: validated.map((c) => [c.step, c.dice![k] ?? NaN] as [number, number]),
  }));
};

/**
 * Training loss (total and each logged term) and validation Dice of each model, with the
 * supervised baseline's validation Dice beside it when there is one.
 */
export function curveCharts(
  curves: readonly CurvePoint[],
  modelNames: readonly string[],
  baseline?: { curves: readonly CurvePoint[]; names: readonly string[] },
): Chart[] {
  if (curves.length === 0) return [];
  const MAX = 400;
  const windowed = curves.length > MAX;
  const keys = [...new Set(curves.flatMap((c) => Object.keys(c.logs ?? {})))].sort();
  // The logged terms, then the total (drawn last, so a term equal to it does not hide it).
  const loss: Series[] = [
    ...keys.map((k) => ({
      name: k,
      points: bucketMeans(curves.map((c) => [c.step, c.logs?.[k] ?? NaN]), MAX),
    })),
    { name: "total", points: bucketMeans(curves.map((c) => [c.step, c.loss]), MAX) },
  ];
  const charts: Chart[] = [{
    title: windowed
      ? `Training loss (means over ${Math.ceil(curves.length / MAX)}-step windows)`
      : "Training loss",
    xLabel: "step",
    yLabel: "loss",
    series: loss,
  }];
  const dice = [
    ...diceSeries(curves, modelNames),
    ...(baseline ? diceSeries(baseline.curves, baseline.names) : []),
  ].filter((s) => s.points.length > 0);
  if (dice.length > 0) {
    charts.push({
      title: "Validation Dice (mean over foreground classes)",
      xLabel: "step",
      yLabel: "Dice",
      series: dice,
    });
  }
  return charts;
}

/** Mean over cases of the per-case mean Dice. */
const overallDice = (cases: readonly CaseResult[]) =>
  cases.length === 0 ? 0 : cases.reduce((a, c) => a + meanDice(c.metrics), 0) / cases.length;

/**
 * Overlays of the best, median and worst case (by mean Dice over classes) of the model with the
 * highest mean Dice (each case once). `slices(model, caseId)` gives the representative slice.
 */
export function overlayPanels(
  models: readonly ModelEvaluation[],
  slices: (model: string, caseId: string) => CaseSlice | undefined,
): OverlayPanel[] {
  if (models.length === 0) return [];
  const shown = [...models].sort((a, b) => overallDice(b.cases) - overallDice(a.cases))[0];
  const reps = representativeCases(shown.cases);
  if (!reps) return [];
  const panels: OverlayPanel[] = [];
  const seen = new Set<string>();
  for (const rank of ["best", "median", "worst"] as const) {
    const c = reps[rank];
    const s = slices(shown.name, c.caseId);
    // With fewer than three cases a case can be two ranks at once: show it once.
    if (!s || seen.has(c.caseId)) continue;
    seen.add(c.caseId);
    panels.push({
      rank,
      caseId: c.caseId,
      model: shown.name,
      dice: meanDice(c.metrics),
      slice: s.z,
      png: overlayPng(s.image, s.label, s.pred, s.width, s.height),
    });
  }
  return panels;
}

export interface EvaluationReportInput {
  method: string;
  configDigest: string;
  dataset: string;
  runId: string;
  unit: "voxel" | "mm";
  classes: readonly string[];
  models: readonly ModelEvaluation[];
  curves: readonly CurvePoint[];
  /** The supervised baseline's curves (empty without one); its models are named "baseline …". */
  baselineCurves: readonly CurvePoint[];
  /** PNG of training slices and their weak and strong views (the augment stage's preview). */
  views?: Uint8Array;
  slices: (model: string, caseId: string) => CaseSlice | undefined;
  facts: readonly (readonly [string, string])[];
}

export function evaluationReport(input: EvaluationReportInput): ReportData {
  const cases = input.models[0]?.cases.length ?? 0;
  return {
    title: `Duet evaluation — ${input.dataset}`,
    run: {
      method: input.method,
      configDigest: input.configDigest,
      dataset: `${input.dataset} (${cases} validation/test case${cases === 1 ? "" : "s"})`,
      runId: input.runId,
      // No wall times: the report is an artifact, and a resumed run must reproduce it exactly.
      durations: [],
      facts: input.facts,
    },
    unit: input.unit,
    classNames: Object.fromEntries(
      input.classes.map((name, i) => [String(i), name]).slice(1),
    ),
    models: input.models,
    curves: curveCharts(
      input.curves,
      input.models.filter((m) => !isBaseline(m.name)).map((m) => m.name),
      { curves: input.baselineCurves, names: input.models.map((m) => m.name).filter(isBaseline) },
    ),
    overlays: overlayPanels(input.models, input.slices),
    ...(input.views ? { views: input.views } : {}),
  };
}
