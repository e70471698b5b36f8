/**
 * ingest: the cases of a dataset with their roles, geometry kept, each stored as one artifact.
 *
 * `data.source` is "phantoms" (the embedded synthetic set) or a folder / list file relative to
 * `data.root`, read with io/ (discoverCases, then per case the image and, by role, the label,
 * with every check: finite voxels, label shape/geometry, label values within `data.classes`).
 * Labels are stored only as far as their role may read them: labelled, validation and test cases
 * keep the whole label map, the exemplar keeps its ONE annotated slice, and an unlabelled case's
 * label is never opened (io/roles.ts bindRoles drops its path) and so never stored.
 *
 * Shardable: shard i of n takes cases i, i+n, ... of the dataset's order. Any bad input fails
 * the stage with the io/ DataError (exit 65, one line naming the file); the runner commits
 * nothing of a failed unit.
 *
 * Artifact `case-<id>.bin` (io/array_container.ts; any ID, encoded by pipeline/artifact_name.ts):
 * image [nz, ny, nx] float32 (x fastest), and label [k, ny, nx] uint8 for the z indices in
 * meta.labelSlices (all nz, or the exemplar's one).
 */
import { Effect, Schema } from "effect";
import { resolve } from "node:path";
import { DataConfig } from "../../schemas/config.ts";
import { type CaseRecord, IngestOutput, type Role } from "../../schemas/outputs.ts";
import { defineStage, type StageContext } from "../../pipeline/stage.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { makePhantom3D } from "../../datasets/phantom.ts";
import { Rng } from "../../random/rng.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { datasetName, discoverCases } from "../../io/dataset.ts";
import {
  assignRoles,
  bindRoles,
  loadRoledCase,
  pickExemplarSlice,
  type RoleAssignment,
  RolesConfigError,
  withPseudoLabels,
} from "../../io/roles.ts";
import { encodeArrays } from "../../io/array_container.ts";
import { caseArtifact } from "../../pipeline/artifact_name.ts";
import { discoverOptions, readOptions } from "../../schemas/data_options.ts";
import { type CaseStats, countClasses, datasetLine } from "./summary.ts";

type Data = typeof DataConfig.Type;

/** One case as ingest stores it: the label only where its role may read it. */
interface IngestedCase {
  readonly id: string;
  readonly role: Role;
  readonly source: string;
  readonly image: Volume;
  /** Whole label map (labelled, validation, test with a label). */
  readonly label?: LabelVolume;
  /** The exemplar's one annotated slice: z index and its nx*ny label. */
  readonly exemplar?: { readonly z: number; readonly label: Uint8Array };
}

/** io/ failures keep their type (DataError: exit 65); a roles config that contradicts the
 * dataset is a ConfigError (exit 64). */
const attempt = <A>(f: () => Promise<A> | A) =>
  Effect.tryPromise({
    try: async () => await f(),
    catch: (e) =>
      e instanceof RolesConfigError
        ? new ConfigError({ problems: e.problems.map((p) => `data.${p}`) })
        : e,
  });

/** Roles of the dataset's cases (io/roles.ts); a config with no labelled data is exit 64. */
function assign(ids: ReadonlyArray<string>, data: Data): RoleAssignment {
  const { roles } = data;
  if (
    !roles.exemplar && data.pseudoLabels === undefined &&
    (roles.labelled === 0 || (Array.isArray(roles.labelled) && roles.labelled.length === 0))
  ) {
    throw new ConfigError({
      problems: [
        "data.roles: no labelled data: set data.roles.exemplar, data.roles.labelled or " +
        "data.pseudoLabels",
      ],
    });
  }
  return assignRoles(ids, { ...roles, exemplar: roles.exemplar ?? undefined });
}

const roleOf = (a: RoleAssignment): Map<string, Role> => {
  const out = new Map<string, Role>();
  for (const role of ["labelled", "unlabelled", "validation", "test"] as const) {
    for (const id of a[role]) out.set(id, role);
  }
  if (a.exemplar) out.set(a.exemplar.case, "exemplar");
  return out;
};

const phantomIds = (count: number) =>
  Array.from({ length: count }, (_, i) => `phantom-${String(i).padStart(3, "0")}`);

/** Phantom i depends only on (seed, i), so shards generate just their own cases. */
function loadPhantom(data: Data, seed: number, index: number, role: Role): IngestedCase {
  const phantom = makePhantom3D({
    seed: new Rng(seed).fork(index).nextUint32(),
    shape: data.phantoms.shape,
    classes: data.classes.length - 1,
  });
  const id = phantomIds(data.phantoms.count)[index];
  const base = { id, role, source: "phantoms", image: phantom.image };
  if (role === "unlabelled") return base;
  if (role !== "exemplar") return { ...base, label: phantom.label };
  const slice = data.roles.exemplar!.slice;
  const z = typeof slice === "string" ? pickExemplarSlice(phantom.label, slice) : slice;
  return { ...base, exemplar: exemplarSlice(phantom.label, z, id) };
}

function exemplarSlice(label: LabelVolume, z: number, where: string) {
  const [nx, ny, nz] = label.shape;
  if (!(z >= 0 && z < nz)) {
    throw new ConfigError({
      problems: [`data.roles.exemplar.slice: ${z} is outside 0..${nz - 1} (${where})`],
    });
  }
  return { z, label: label.data.slice(z * nx * ny, (z + 1) * nx * ny) };
}

/** What the dataset line counts of a case: the labels ingest stores for its role. */
function caseStats(c: IngestedCase, classes: number): CaseStats {
  const label = c.label?.data ?? c.exemplar?.label;
  return {
    role: c.role,
    shape: c.image.shape,
    ...(label ? { classVoxels: countClasses(label, classes) } : {}),
  };
}

const store = (ctx: StageContext, c: IngestedCase) =>
  Effect.gen(function* () {
    const artifact = caseArtifact("case", c.id, ".bin");
    const [nx, ny, nz] = c.image.shape;
    const labelSlices = c.label
      ? Array.from({ length: nz }, (_, z) => z)
      : c.exemplar
      ? [c.exemplar.z]
      : [];
    const label = c.label?.data ?? c.exemplar?.label;
    yield* ctx.write(
      artifact,
      encodeArrays({ id: c.id, labelSlices }, {
        image: { data: c.image.data, shape: [nz, ny, nx] },
        ...(label ? { label: { data: label, shape: [labelSlices.length, ny, nx] } } : {}),
      }),
    );
    const record: CaseRecord = {
      id: c.id,
      role: c.role,
      source: c.source,
      shape: [nx, ny, nz],
      spacing: [...c.image.spacing],
      affine: [...c.image.affine],
      artifact,
      hasLabel: label !== undefined,
      exemplarSlice: c.exemplar?.z ?? null,
    };
    return record;
  });

/** The dataset line (stages/ingest/summary.ts), for this shard's cases. */
function reportDataset(ctx: StageContext, data: Data, stats: readonly CaseStats[]) {
  const shard = ctx.shard.count > 1 ? ` (shard ${ctx.shard.index + 1}/${ctx.shard.count})` : "";
  ctx.reporter.info(
    `ingest: ${datasetLine(datasetName(data.source, data.root) + shard, stats, data.classes)}`,
  );
}

/** The phantom default: cases generated from the seed, roles over their IDs. */
const ingestPhantoms = (ctx: StageContext, data: Data, seed: number) =>
  Effect.gen(function* () {
    if (data.pseudoLabels !== undefined) {
      return yield* new ConfigError({
        problems: ["data.pseudoLabels: the phantoms have no masks to read; set data.source"],
      });
    }
    const ids = phantomIds(data.phantoms.count);
    const roles = roleOf(yield* attempt(() => assign(ids, data)));
    const mine = ids.map((_, i) => i).filter((i) => i % ctx.shard.count === ctx.shard.index);
    const bar = ctx.reporter.progress("ingest", mine.length);
    const cases: CaseRecord[] = [], stats: CaseStats[] = [];
    for (const i of mine) {
      const c = yield* attempt(() => loadPhantom(data, seed, i, roles.get(ids[i])!));
      cases.push(yield* store(ctx, c));
      stats.push(caseStats(c, data.classes.length));
      bar.tick();
    }
    bar.done();
    reportDataset(ctx, data, stats);
    return { cases };
  });

/** A folder or list file read with io/. */
const ingestFiles = (ctx: StageContext, data: Data) =>
  Effect.gen(function* () {
    const source = resolve(data.root ?? ".", data.source);
    let specs = yield* attempt(() => discoverCases(source, discoverOptions(data)));
    let assignment = yield* attempt(() => assign(specs.map((s) => s.id), data));
    if (data.pseudoLabels !== undefined) {
      const dir = resolve(data.root ?? ".", data.pseudoLabels);
      const before = assignment.labelled.length;
      ({ specs, roles: assignment } = yield* attempt(() =>
        withPseudoLabels(specs, assignment, dir)
      ));
      const taken = assignment.labelled.length - before;
      ctx.reporter.info(`ingest: ${taken} unlabelled cases train on the masks in ${dir}`);
    }
    const roled = new Map(
      (yield* attempt(() => bindRoles(specs, assignment))).map((c) => [c.spec.id, c]),
    );
    const mine = specs.filter((_, i) => i % ctx.shard.count === ctx.shard.index);
    const options = readOptions(data);
    const bar = ctx.reporter.progress("ingest", mine.length);
    const cases: CaseRecord[] = [], stats: CaseStats[] = [];
    for (const spec of mine) {
      const item = yield* attempt(() => loadRoledCase(roled.get(spec.id)!, options));
      const base = { id: spec.id, role: item.role, source: spec.imagePath, image: item.image };
      const c: IngestedCase = item.role === "unlabelled"
        ? base
        : item.role === "exemplar"
        ? { ...base, exemplar: { z: item.slice, label: item.sliceLabel.data } }
        : { ...base, ...(item.label ? { label: item.label } : {}) };
      cases.push(yield* store(ctx, c));
      stats.push(caseStats(c, data.classes.length));
      bar.tick();
    }
    bar.done();
    reportDataset(ctx, data, stats);
    return { cases };
  });

export const ingest = defineStage({
  name: "ingest",
  version: 2,
  needs: [],
  shardable: true,
  select: (c) => ({ data: c.data, seed: c.seed }),
  input: Schema.Struct({ data: DataConfig, seed: Schema.Int }),
  output: IngestOutput,
  run: (ctx, { data, seed }) =>
    data.source === "phantoms" ? ingestPhantoms(ctx, data, seed) : ingestFiles(ctx, data),
});
