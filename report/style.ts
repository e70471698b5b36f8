/** Inline CSS and the small table-sorting script of the HTML report. */

export const REPORT_CSS = `
:root { --fg: #1f2933; --muted: #6b7785; --line: #e3e8ee; --bg: #f6f8fa; --accent: #0b6bcb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { padding: 22px 32px 14px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { margin: 0; font-size: 22px; font-weight: 650; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 13px; margin: 0 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.subtitle { margin: 4px 0 0; color: var(--muted); }
main { padding: 8px 32px 32px; max-width: 1180px; }
code { font: 12.5px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
.muted { color: var(--muted); }
small { color: var(--muted); font-weight: 400; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin-top: 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #fff; }
.card-k { font-size: 11.5px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.card-v { font-size: 16px; font-weight: 600; margin-top: 2px; overflow-wrap: anywhere; }
.two-col { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 24px; margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); white-space: nowrap; }
.num { text-align: right; white-space: nowrap; }
table.kv th { font-weight: 500; color: var(--muted); width: 45%; }
table.kv tr.total th, table.kv tr.total td { font-weight: 650; color: var(--fg); border-top: 2px solid var(--line); }
table.metrics tbody th { font-weight: 650; background: var(--bg); }
table.metrics tr.group td, table.metrics tr.group th { border-top: 2px solid #cfd6de; }
table.metrics tr.overall td { color: var(--muted); font-style: italic; }
.pm { color: var(--muted); font-size: 12.5px; }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 9px; background: #fff3cd; color: #7a5a00; margin-left: 4px; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; }
.chart-box { border: 1px solid var(--line); border-radius: 8px; padding: 6px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: var(--fg); }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .axis-label, svg .legend { font-size: 12px; fill: var(--fg); }
svg .chart-empty { font-size: 13px; fill: var(--muted); }
svg .grid { stroke: #edf0f3; stroke-width: 1; }
svg .axis { stroke: #9aa5b1; }
svg .frame { fill: none; stroke: #c5ccd3; }
.legend { display: flex; gap: 18px; margin: 4px 0 10px; }
.swatch { display: inline-flex; align-items: center; gap: 6px; }
.swatch i { width: 22px; height: 4px; border-radius: 2px; display: inline-block; }
.overlays { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; }
figure.overlay { margin: 0; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; background: #111; }
figure.overlay img { width: 100%; display: block; image-rendering: pixelated; }
figure.overlay figcaption { background: #fff; padding: 8px 12px; font-size: 13px; }
figure.views { margin: 0; }
figure.views img { max-width: 100%; image-rendering: pixelated; }
figure.views figcaption { font-size: 13px; color: var(--muted, #666); }
.rank { font-weight: 650; margin-right: 6px; }
.rank-best { color: #0a7a45; } .rank-median { color: #8a6d00; } .rank-worst { color: #b42318; }
details summary { cursor: pointer; color: var(--accent); margin-bottom: 8px; }
table.sortable th[data-sort] { cursor: pointer; user-select: none; }
table.sortable th[data-dir="asc"]::after { content: " ▲"; }
table.sortable th[data-dir="desc"]::after { content: " ▼"; }
footer { margin-top: 32px; padding-top: 12px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12.5px; }
@media (max-width: 800px) { .cards, .two-col, .charts, .overlays { grid-template-columns: 1fr; } }
`;

/** Click a header of a `.sortable` table to sort by that column (numbers by data-v). */
export const SORT_SCRIPT = `
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("th[data-sort]").forEach((th, col) => {
    th.addEventListener("click", () => {
      const dir = th.dataset.dir === "asc" ? "desc" : "asc";
      table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
      th.dataset.dir = dir;
      const body = table.tBodies[0];
      const rows = [...body.rows];
      const key = (r) => th.dataset.sort === "num" ? Number(r.cells[col].dataset.v) : r.cells[col].textContent;
      rows.sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0; return dir === "asc" ? c : -c; });
      rows.forEach((r) => body.appendChild(r));
    });
  });
});
`;
