/** A minimal self-contained HTML report (metric table and curves) until report/ lands in full. */
import type { EvaluateOutput } from "../../schemas/outputs.ts";
import { lineChartSvg } from "../../report/chart.ts";
import { escapeHtml } from "../../report/escape.ts";

export function renderSimpleReport(data: {
  classes: ReadonlyArray<string>;
  models: EvaluateOutput["models"];
  perModel: Record<string, unknown[]>;
  curves: { step: number; loss: number[]; dice?: number[] }[];
  method: string;
}): string {
  const rows = Object.entries(data.models).flatMap(([model, metrics]) =>
    Object.keys(metrics.dice).map((cls) =>
      `<tr><td>${model}</td><td>${escapeHtml(data.classes[Number(cls)] ?? cls)}</td>` +
      ["dice", "jaccard", "hd95", "asd"].map((m) =>
        `<td>${metrics[m][cls].mean.toFixed(4)} ± ${metrics[m][cls].std.toFixed(4)}</td>`
      ).join("") +
      "</tr>"
    )
  ).join("\n");
  const lossChart = lineChartSvg({
    title: "training loss",
    xLabel: "step",
    yLabel: "loss",
    series: [0, 1].map((k) => ({
      name: `model ${String.fromCharCode(97 + k)}`,
      points: data.curves.map((c) => [c.step, c.loss[k]] as [number, number]),
    })),
  });
  const dicePoints = data.curves.filter((c) => c.dice);
  const diceChart = dicePoints.length
    ? lineChartSvg({
      title: "validation Dice",
      xLabel: "step",
      yLabel: "Dice",
      series: [0, 1].map((k) => ({
        name: `model ${String.fromCharCode(97 + k)}`,
        points: dicePoints.map((c) => [c.step, c.dice![k]] as [number, number]),
      })),
    })
    : "";
  return `<!doctype html><html><head><meta charset="utf-8"><title>Duet report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}</style>
</head><body><h1>Duet report — ${escapeHtml(data.method)}</h1>
<table><tr><th>model</th><th>class</th><th>Dice</th><th>Jaccard</th><th>HD95</th><th>ASD</th></tr>${rows}</table>
${lossChart}${diceChart}</body></html>`;
}
