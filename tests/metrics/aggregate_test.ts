import assert from "node:assert/strict";
import { aggregateMetrics, meanStd, metricsCsv } from "../../metrics/aggregate.ts";
import type { CaseMetrics } from "../../metrics/medpy.ts";

const m = (dice: number, hd95: number): CaseMetrics["classes"][string] => ({
  dice,
  jaccard: dice / (2 - dice),
  hd95,
  asd: hd95 / 4,
  assd: hd95 / 3,
});

Deno.test("meanStd is numpy's mean and population std; empty gives zeros", () => {
  assert.deepEqual(meanStd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, std: 2 });
  assert.deepEqual(meanStd([]), { mean: 0, std: 0 });
});

Deno.test("aggregateMetrics: per class mean ± std, empty cases counted and optionally excluded", () => {
  const cases: CaseMetrics[] = [
    { classes: { "1": m(0.8, 4), "2": m(0.6, 10) }, empty: {}, unit: "voxel" },
    { classes: { "1": m(0.9, 2), "2": m(0, 0) }, empty: { "2": "pred" }, unit: "voxel" },
    { classes: { "1": m(0.7, 6) }, empty: {}, unit: "voxel" },
  ];
  const s = aggregateMetrics(cases);
  assert.equal(s.cases, 3);
  assert.deepEqual(Object.keys(s.classes), ["1", "2"]);
  assert.equal(s.classes["1"].n, 3);
  assert.ok(Math.abs(s.classes["1"].dice.mean - 0.8) < 1e-12);
  assert.ok(Math.abs(s.classes["1"].dice.std - Math.sqrt(0.02 / 3)) < 1e-12);
  assert.equal(s.classes["2"].nEmpty, 1);
  assert.equal(s.classes["2"].hd95.mean, 5);
  const ex = aggregateMetrics(cases, { excludeEmpty: true });
  assert.equal(ex.classes["2"].n, 1);
  assert.equal(ex.classes["2"].hd95.mean, 10);
  assert.ok(Math.abs(s.overall.dice.mean - (0.8 + 0.3) / 2) < 1e-12);
});

Deno.test("metricsCsv writes one row per case and class with full precision", () => {
  const csv = metricsCsv([
    {
      caseId: "case,1",
      metrics: {
        classes: { "2": m(1 / 3, 1), "1": m(0.5, 2) },
        empty: { "2": "label" },
        unit: "mm",
      },
    },
  ]);
  const lines = csv.trimEnd().split("\n");
  assert.equal(lines[0], "case,class,dice,jaccard,hd95,asd,assd,empty,unit");
  assert.equal(lines[1], `"case,1",1,0.5,${0.5 / 1.5},2,0.5,${2 / 3},,mm`);
  assert.equal(lines[2], `"case,1",2,${1 / 3},${(1 / 3) / (2 - 1 / 3)},1,0.25,${1 / 3},label,mm`);
});
