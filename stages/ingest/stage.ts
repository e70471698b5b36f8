/**
 * ingest: the cases of a dataset with their roles, geometry kept, each stored as one artifact.
 * Labels are stored only for roles whose labels may be read (exemplar, labelled, validation,
 * test): an unlabelled case's label never leaves this stage.
 */
import { Effect, Schema } from "effect";
import { DataConfig } from "../../schemas/config.ts";
import { type CaseRecord, IngestOutput, type Role } from "../../schemas/outputs.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { makePhantom3D } from "../../fixtures/phantom.ts";
import { Rng } from "../../random/rng.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { assignRoles, largestForegroundSlice } from "../../io/roles.ts";
import { encodeArrays } from "../codec.ts";

export interface LoadedCase {
  readonly id: string;
  readonly source: string;
  readonly image: Volume;
  readonly label?: LabelVolume;
}

/** Role of each case (io/roles.ts); a config that names unknown cases or no labels is exit 64. */
function rolesOf(
  ids: ReadonlyArray<string>,
  roles: typeof DataConfig.Type["roles"],
): Map<string, Role> {
  if (
    !roles.exemplar &&
    (roles.labelled === 0 || (Array.isArray(roles.labelled) && roles.labelled.length === 0))
  ) {
    throw new ConfigError({
      problems: ["data.roles: no labelled data: set data.roles.exemplar or data.roles.labelled"],
    });
  }
  let assignment;
  try {
    assignment = assignRoles(ids, { ...roles, exemplar: roles.exemplar ?? undefined });
  } catch (e) {
    throw new ConfigError({ problems: [`data.${(e as Error).message}`] });
  }
  const out = new Map<string, Role>();
  for (const role of ["labelled", "unlabelled", "validation", "test"] as const) {
    for (const id of assignment[role]) out.set(id, role);
  }
  if (assignment.exemplar) out.set(assignment.exemplar.case, "exemplar");
  return out;
}

const phantomIds = (count: number) =>
  Array.from({ length: count }, (_, i) => `phantom-${String(i).padStart(3, "0")}`);

/** Phantom i depends only on (seed, i), so shards generate just their own cases. */
function loadPhantom(data: typeof DataConfig.Type, seed: number, index: number): LoadedCase {
  const phantom = makePhantom3D({
    seed: new Rng(seed).fork(index).nextUint32(),
    shape: data.phantoms.shape,
    classes: data.classes.length - 1,
  });
  return {
    id: phantomIds(data.phantoms.count)[index],
    source: "phantoms",
    image: phantom.image,
    label: phantom.label,
  };
}

export const ingest = defineStage({
  name: "ingest",
  version: 1,
  needs: [],
  shardable: true,
  select: (c) => ({ data: c.data, seed: c.seed }),
  input: Schema.Struct({ data: DataConfig, seed: Schema.Int }),
  output: IngestOutput,
  run: (ctx, { data, seed }) =>
    Effect.gen(function* () {
      if (data.source !== "phantoms") {
        return yield* new ConfigError({
          problems: [`data.source: reading "${data.source}" lands with the data readers`],
        });
      }
      const ids = phantomIds(data.phantoms.count);
      const roles = yield* Effect.try({
        try: () => rolesOf(ids, data.roles),
        catch: (e) => e as ConfigError,
      });
      const mine = ids.map((_, i) => i).filter((i) => i % ctx.shard.count === ctx.shard.index);
      const bar = ctx.reporter.progress("ingest", mine.length);
      const cases: CaseRecord[] = [];
      for (const i of mine) {
        const c = loadPhantom(data, seed, i);
        const role = roles.get(c.id)!;
        const keepLabel = role !== "unlabelled" && c.label !== undefined;
        const artifact = `case-${c.id}.bin`;
        const [nx, ny, nz] = c.image.shape;
        yield* ctx.write(
          artifact,
          encodeArrays({ id: c.id }, {
            image: { data: c.image.data, shape: [nz, ny, nx] },
            ...(keepLabel ? { label: { data: c.label!.data, shape: [nz, ny, nx] } } : {}),
          }),
        );
        cases.push({
          id: c.id,
          role,
          source: c.source,
          shape: c.image.shape as [number, number, number],
          spacing: c.image.spacing as [number, number, number],
          affine: [...c.image.affine],
          artifact,
          hasLabel: keepLabel,
          exemplarSlice: role === "exemplar" && c.label
            ? (data.roles.exemplar!.slice === "largest"
              ? largestForegroundSlice(c.label)
              : data.roles.exemplar!.slice)
            : null,
        });
        bar.tick();
      }
      bar.done();
      return { cases };
    }),
});
