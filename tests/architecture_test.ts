/**
 * The layer picture of docs/architecture.md, enforced: every relative import of the product's code
 * (everything but tests/ and bench/) is checked against which folder may import which. A new
 * import that crosses a line fails here, naming the file, the import and the rule.
 */
import { dirname, join, normalize, relative } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { root } from "./cli.ts";

/** Folder → the folders its modules may import (besides their own). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  random: [],
  engine: ["random"],
  io: ["random"],
  metrics: [],
  transforms: ["io", "random"],
  preprocess: ["io", "random"],
  datasets: ["io", "random", "transforms"],
  schemas: ["io", "preprocess", "transforms"],
  report: ["metrics", "schemas"],
  deploy: ["engine", "io", "metrics", "preprocess", "random", "schemas", "pipeline"],
  training: ["deploy", "engine", "io", "random", "schemas", "transforms", "pipeline"],
  stages: [
    "datasets",
    "deploy",
    "engine",
    "io",
    "metrics",
    "pipeline",
    "preprocess",
    "random",
    "report",
    "schemas",
    "training",
    "transforms",
  ],
  annotate: ["deploy", "io", "pipeline", "report", "schemas"],
  pipeline: [
    "annotate",
    "datasets",
    "deploy",
    "engine",
    "io",
    "metrics",
    "report",
    "schemas",
    "stages",
  ],
};

/**
 * Finer lines inside the folders above. Libraries may use only the pipeline's leaf modules (the
 * stage contract's types, errors, digests, the version); of stages/, the pipeline sees only the
 * registry, and only main.ts imports it (everything else is handed it); a stage never imports
 * another stage's folder.
 */
const PIPELINE_LEAVES = [
  "pipeline/stage.ts",
  "pipeline/errors.ts",
  "pipeline/digest.ts",
  "pipeline/version.ts",
];

function violation(from: string, to: string): string | undefined {
  const [a, b] = [from.split("/")[0], to.split("/")[0]];
  if (a === b) {
    const [sa, sb] = [from.split("/")[1], to.split("/")[1]];
    const stageDir = (p: string) => p.split("/").length > 2;
    if (a === "stages" && stageDir(from) && stageDir(to) && sa !== sb) {
      return "a stage never imports another stage (move the shared code into a library)";
    }
    return undefined;
  }
  if (!(a in MAY_IMPORT)) return undefined; // tests, bench, the root
  if (!MAY_IMPORT[a].includes(b)) {
    return `${a}/ may import only ${MAY_IMPORT[a].join(", ") || "nothing"}`;
  }
  if (["deploy", "training"].includes(a) && b === "pipeline" && !PIPELINE_LEAVES.includes(to)) {
    return `${a}/ may use only the pipeline's leaf modules (${PIPELINE_LEAVES.join(", ")})`;
  }
  if (
    a === "pipeline" && b === "stages" &&
    (from !== "pipeline/main.ts" || to !== "stages/registry.ts")
  ) {
    return "only pipeline/main.ts imports stages/ (its registry); the rest is handed the registry";
  }
  return undefined;
}

const IMPORT =
  /(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']|import\s*\(\s*["'](\.[^"']+)["']/gs;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(join(root, dir))) {
    const path = join(dir, e.name);
    if (e.isDirectory) sourceFiles(path, out);
    else if (/\.(ts|js)$/.test(e.name)) out.push(path);
  }
  return out;
}

/** Every (importer, imported) pair of the product's modules, paths relative to the root. */
function productImports(): [string, string][] {
  const pairs: [string, string][] = [];
  for (const dir of Object.keys(MAY_IMPORT)) {
    for (const file of sourceFiles(dir)) {
      for (const m of Deno.readTextFileSync(join(root, file)).matchAll(IMPORT)) {
        const spec = m[1] ?? m[2];
        pairs.push([file, relative(".", normalize(join(dirname(file), spec)))]);
      }
    }
  }
  return pairs;
}

Deno.test("architecture: every import keeps to the layers of docs/architecture.md", () => {
  const pairs = productImports();
  assert(pairs.length > 500, `only ${pairs.length} imports found: is the scan broken?`);
  const broken = pairs.flatMap(([from, to]) => {
    const why = violation(from, to);
    return why ? [`${from} imports ${to}: ${why}`] : [];
  });
  assertEquals(broken, []);
});

Deno.test("architecture: the rules catch what they forbid", () => {
  assert(violation("io/nifti.ts", "schemas/config.ts"));
  assert(violation("engine/ops.ts", "pipeline/stage.ts"));
  assert(violation("stages/baseline/stage.ts", "stages/train/stage.ts"));
  assert(violation("pipeline/summary.ts", "stages/evaluate/report_data.ts"));
  assert(violation("training/train_pair.ts", "pipeline/runner.ts"));
  assert(violation("deploy/segment.ts", "training/methods.ts"));
  assert(violation("training/pool.ts", "stages/registry.ts"));
  assert(violation("pipeline/cli.ts", "stages/registry.ts"));
  assert(violation("annotate/predictions.ts", "stages/registry.ts"));
  assertEquals(violation("stages/evaluate/stage.ts", "stages/final_models.ts"), undefined);
  assertEquals(violation("pipeline/main.ts", "stages/registry.ts"), undefined);
});
