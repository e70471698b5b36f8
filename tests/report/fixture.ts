/** Synthetic evaluation data for report tests: phantoms, two models, curves, overlays. */
import { Rng } from "../../random/rng.ts";
import { computeMetrics } from "../../metrics/medpy.ts";
import { overlayPng, pickSlice, zSlice } from "../../report/overlay.ts";
import {
  type CaseResult,
  meanDice,
  type OverlayPanel,
  type ReportData,
  representativeCases,
} from "../../report/html.ts";

type Shape3 = [number, number, number];

interface Phantom {
  image: Float32Array;
  label: Uint8Array;
  pred: Uint8Array;
}

/** Two nested ellipsoids (class 1 outer ring, class 2 core) in noise, and a degraded prediction. */
function phantom(rng: Rng, shape: Shape3, quality: number): Phantom {
  const [nx, ny, nz] = shape;
  const n = nx * ny * nz;
  const image = new Float32Array(n), label = new Uint8Array(n), pred = new Uint8Array(n);
  const cx = nx / 2 + rng.uniform(-6, 6), cy = ny / 2 + rng.uniform(-6, 6), cz = nz / 2;
  const r = rng.uniform(16, 24);
  // The prediction is shifted and scaled by an amount that grows as quality drops.
  const err = 1 - quality;
  const px = cx + rng.uniform(-1, 1) * 10 * err, py = cy + rng.uniform(-1, 1) * 10 * err;
  const pr = r * (1 + rng.uniform(-0.4, 0.4) * err);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = x + nx * (y + ny * z);
        const dz = (z - cz) * 2.5;
        const d = Math.hypot((x - cx) / 1.2, y - cy, dz);
        const dp = Math.hypot((x - px) / 1.2, y - py, dz) + rng.normal(0, 1.5 * err);
        label[i] = d < r * 0.55 ? 2 : d < r ? 1 : 0;
        pred[i] = dp < pr * 0.55 ? 2 : dp < pr ? 1 : 0;
        const tissue = label[i] === 2 ? 0.9 : label[i] === 1 ? 0.6 : 0.25 + 0.1 * Math.sin(x / 7);
        image[i] = tissue + rng.normal(0, 0.06);
      }
    }
  }
  return { image, label, pred };
}

export function syntheticReport(): ReportData {
  const rng = new Rng(42);
  const shape: Shape3 = [96, 80, 8];
  const phantoms = new Map<string, Phantom>();
  const modelA: CaseResult[] = [], modelB: CaseResult[] = [];
  for (let c = 0; c < 7; c++) {
    const caseId = `case_${String(c + 1).padStart(3, "0")}`;
    const q = 0.45 + 0.5 * rng.next();
    const ph = phantom(rng, shape, q);
    phantoms.set(caseId, ph);
    const spacing = [0.625, 0.625, 2.5];
    modelA.push({
      caseId,
      metrics: computeMetrics({ data: ph.pred, shape }, { data: ph.label, shape }, { spacing }),
    });
    const phB = phantom(rng, shape, Math.min(1, q + 0.1));
    modelB.push({
      caseId,
      metrics: computeMetrics({ data: phB.pred, shape }, { data: ph.label, shape }, { spacing }),
    });
  }
  // One case where model B predicts nothing for class 2: the empty convention shows in the table.
  const ph0 = phantoms.get("case_001")!;
  const noCore = ph0.pred.map((v) => (v === 2 ? 1 : v));
  modelB[0] = {
    caseId: "case_001",
    metrics: computeMetrics({ data: noCore, shape }, { data: ph0.label, shape }, {
      classes: [1, 2],
      spacing: [0.625, 0.625, 2.5],
    }),
  };

  const reps = representativeCases(modelA)!;
  const overlays: OverlayPanel[] = (["best", "median", "worst"] as const).map((rank) => {
    const c = reps[rank];
    const ph = phantoms.get(c.caseId)!;
    const z = pickSlice(ph.label, ph.pred, shape);
    return {
      rank,
      caseId: c.caseId,
      model: "model A",
      dice: meanDice(c.metrics),
      slice: z,
      png: overlayPng(
        zSlice(ph.image, shape, z),
        zSlice(ph.label, shape, z),
        zSlice(ph.pred, shape, z),
        shape[0],
        shape[1],
        { scale: 3 },
      ),
    };
  });

  const steps = Array.from({ length: 60 }, (_, i) => (i + 1) * 50);
  const curve = (f: (s: number) => number) => steps.map((s) => [s, f(s)] as [number, number]);
  const noise = () => rng.normal(0, 1);
  return {
    title: "Duet evaluation — synthetic phantoms",
    run: {
      method: "cmems",
      configDigest: "9f2c4e1a7b3d5f60aa11cc22dd33ee44ff556677",
      dataset: "phantoms-3d (7 test cases)",
      runId: "run-2026-11-22-abc123",
      createdAt: "2026-11-22T03:00:00Z",
      durations: [
        { stage: "ingest", seconds: 1.2 },
        { stage: "normalize", seconds: 3.4 },
        { stage: "synthesize", seconds: 12.5 },
        { stage: "augment", seconds: 8.1 },
        { stage: "train", seconds: 1843 },
        { stage: "refine", seconds: 95 },
        { stage: "evaluate", seconds: 14.2 },
      ],
      facts: [["device", "cpu (2 threads)"], ["seed", "1337"], ["iterations", "3000"]],
    },
    unit: "mm",
    classNames: { "1": "myocardium", "2": "cavity" },
    models: [{ name: "model A", cases: modelA }, { name: "model B", cases: modelB }],
    curves: [
      {
        title: "Training loss",
        xLabel: "iteration",
        yLabel: "loss",
        logY: true,
        series: [
          {
            name: "model A",
            points: curve((s) => 1.2 * Math.exp(-s / 700) + 0.05 + 0.01 * noise()),
          },
          {
            name: "model B",
            points: curve((s) => 1.1 * Math.exp(-s / 900) + 0.06 + 0.01 * noise()),
          },
          { name: "consistency", points: curve((s) => 0.3 * Math.exp(-s / 1200) + 0.02) },
        ],
      },
      {
        title: "Validation Dice",
        xLabel: "iteration",
        yLabel: "Dice",
        series: [
          {
            name: "model A",
            points: curve((s) => 0.88 * (1 - Math.exp(-s / 600)) + 0.01 * noise()),
          },
          {
            name: "model B",
            points: curve((s) => 0.85 * (1 - Math.exp(-s / 800)) + 0.01 * noise()),
          },
          {
            name: "ensemble",
            points: curve((s) => s === 1000 ? NaN : 0.9 * (1 - Math.exp(-s / 650))),
          },
        ],
      },
    ],
    overlays,
  };
}
