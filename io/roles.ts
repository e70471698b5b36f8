/**
 * Case roles: exemplar, labelled, unlabelled, validation, test.
 *
 * `assignRoles` is pure: case IDs (in list order) + the roles config -> ID lists per role.
 * Validation and test cases leave the training pool first; the exemplar case (ONE annotated 2D
 * slice) is taken next; `labelled: K` is the first K remaining pool cases in list order (CAML's
 * convention); everything else in the pool is unlabelled.
 *
 * `bindRoles` attaches specs, and drops the label path of unlabelled cases, so that the
 * training pool's unlabelled items cannot reach their label: `loadTrainingCase` for an
 * unlabelled case reads the image only, and its result type has no label field.
 */
import { Rng } from "../random/rng.ts";
import { DataError } from "./errors.ts";
import { type CaseSpec, isFile } from "./dataset.ts";
import {
  classValues,
  readCase,
  readCaseImage,
  readCaseLabel,
  type ReadCaseOptions,
  readLabelOnGrid,
  toLabelData,
} from "./cases.ts";
import type { LabelVolume, Volume } from "./volume.ts";

export type Role = "exemplar" | "labelled" | "unlabelled" | "validation" | "test";

export interface ExemplarConfig {
  readonly case: string;
  /** z index of the annotated slice, or how to pick it (`pickExemplarSlice`). */
  readonly slice: number | SlicePolicy;
}

export interface RolesConfig {
  readonly exemplar?: ExemplarConfig;
  /** First K cases of the training pool (list order), or explicit IDs. */
  readonly labelled?: number | readonly string[];
  /** Explicit IDs, or `count` cases drawn from the pool with a seeded Rng. */
  readonly validation?: readonly string[] | { readonly count: number; readonly seed: number };
  readonly test?: readonly string[];
}

export interface RoleAssignment {
  readonly exemplar?: ExemplarConfig;
  readonly labelled: readonly string[];
  readonly unlabelled: readonly string[];
  readonly validation: readonly string[];
  readonly test: readonly string[];
}

/** A roles config that contradicts the dataset (exit 64, bad config): every problem found. */
export class RolesConfigError extends Error {
  override readonly name = "RolesConfigError";
  constructor(readonly problems: readonly string[]) {
    super(problems.join("; "));
  }
}

/** Role lists per case ID; every contradiction with the dataset is listed in one error. */
export function assignRoles(caseIds: readonly string[], config: RolesConfig): RoleAssignment {
  const problems: string[] = [];
  const known = new Set(caseIds);
  if (known.size !== caseIds.length) throw new RolesConfigError(["case IDs are not unique"]);
  const check = (role: string, ids: readonly string[]) => {
    for (const id of ids) {
      if (!known.has(id)) problems.push(`roles.${role}: unknown case ID "${id}"`);
    }
  };
  const test = [...(config.test ?? [])];
  check("test", test);
  let validation: string[] = [];
  const v = config.validation;
  if (Array.isArray(v)) validation = [...(v as readonly string[])];
  else if (v !== undefined) {
    const { count, seed } = v as { count: number; seed: number };
    const candidates = caseIds.filter((id) => !test.includes(id) && id !== config.exemplar?.case);
    if (!(Number.isInteger(count) && count >= 0 && count <= candidates.length)) {
      problems.push(`roles.validation.count ${count} not in 0..${candidates.length}`);
    } else {
      const rng = new Rng(seed);
      const pick = new Set<string>();
      while (pick.size < count) pick.add(candidates[rng.int(0, candidates.length)]);
      validation = candidates.filter((id) => pick.has(id));
    }
  }
  check("validation", validation);
  const taken = new Map<string, string>();
  const claim = (role: string, ids: readonly string[]) => {
    for (const id of ids) {
      const prev = taken.get(id);
      if (prev) problems.push(`case "${id}" is in both roles.${prev} and roles.${role}`);
      else taken.set(id, role);
    }
  };
  claim("test", test);
  claim("validation", validation);
  let pool = caseIds.filter((id) => !taken.has(id));
  const exemplar = config.exemplar;
  if (exemplar) {
    check("exemplar.case", [exemplar.case]);
    claim("exemplar", [exemplar.case]);
    const s = exemplar.slice;
    if (typeof s === "string" ? !SLICE_POLICIES.includes(s) : !(Number.isInteger(s) && s >= 0)) {
      problems.push(`roles.exemplar.slice must be a slice index, "largest" or "central"`);
    }
    pool = pool.filter((id) => id !== exemplar.case);
  }
  let labelled: string[] = [];
  const l = config.labelled;
  if (typeof l === "number") {
    if (!(Number.isInteger(l) && l >= 0 && l <= pool.length)) {
      problems.push(`roles.labelled ${l} not in 0..${pool.length} (training pool size)`);
    } else labelled = pool.slice(0, l);
  } else if (l !== undefined) {
    labelled = [...l];
    check("labelled", labelled);
  }
  claim("labelled", labelled);
  if (problems.length) throw new RolesConfigError(problems);
  const unlabelled = pool.filter((id) => !taken.has(id));
  return {
    ...(exemplar ? { exemplar: { case: exemplar.case, slice: exemplar.slice } } : {}),
    labelled,
    unlabelled,
    validation,
    test,
  };
}

/**
 * Masks an earlier model wrote (`predict --out DIR`: `<ID>.nii.gz`, or `<ID>.png` for PNG
 * inputs) as the labels of the unlabelled training-pool cases that have one there: those cases
 * become labelled, on that mask, and their own label file is never opened. So a model (a 3D
 * one, say) learns from another's predictions. Exemplar, labelled, validation and test cases
 * keep their own labels. A folder with no mask for any unlabelled case is a DataError naming it.
 */
export function withPseudoLabels(
  specs: readonly CaseSpec[],
  roles: RoleAssignment,
  dir: string,
): { specs: CaseSpec[]; roles: RoleAssignment } {
  const masks = new Map<string, string>();
  for (const id of roles.unlabelled) {
    const path = [`${dir}/${id}.nii.gz`, `${dir}/${id}.png`].find(isFile);
    if (path) masks.set(id, path);
  }
  if (!masks.size) {
    const example = roles.unlabelled.length ? `, e.g. ${roles.unlabelled[0]}.nii.gz` : "";
    throw new DataError(
      dir,
      `no mask for any of the ${roles.unlabelled.length} unlabelled cases (looked for ` +
        `<ID>.nii.gz and <ID>.png${example})`,
      `write them with \`predict --model model.onnx --input ... --out ${dir}\`, or fix ` +
        "data.pseudoLabels",
    );
  }
  return {
    specs: specs.map((s) => (masks.has(s.id) ? { ...s, labelPath: masks.get(s.id)! } : s)),
    roles: {
      ...roles,
      labelled: [...roles.labelled, ...roles.unlabelled.filter((id) => masks.has(id))],
      unlabelled: roles.unlabelled.filter((id) => !masks.has(id)),
    },
  };
}

/** A case with its role. Unlabelled cases carry no label path at all. */
export type RoledCase =
  | { readonly role: "exemplar"; readonly spec: CaseSpec; readonly slice: number | SlicePolicy }
  | { readonly role: "labelled" | "validation" | "test"; readonly spec: CaseSpec }
  | { readonly role: "unlabelled"; readonly spec: Omit<CaseSpec, "labelPath"> };

/**
 * Specs by role. Every role but unlabelled needs a label (test cases too: evaluate scores
 * them, so a test case without one is refused here, before any training, not after it); all
 * cases without theirs are named in one DataError.
 */
export function bindRoles(specs: readonly CaseSpec[], roles: RoleAssignment): RoledCase[] {
  const byId = new Map(specs.map((s) => [s.id, s]));
  const get = (id: string) => {
    const s = byId.get(id);
    if (!s) throw new RolesConfigError([`unknown case ID "${id}"`]);
    return s;
  };
  const unlabelled: { spec: CaseSpec; role: Role }[] = [];
  const needLabel = (s: CaseSpec, role: Role) => {
    if (!s.labelPath) unlabelled.push({ spec: s, role });
    return s;
  };
  const out: RoledCase[] = [];
  if (roles.exemplar) {
    out.push({
      role: "exemplar",
      spec: needLabel(get(roles.exemplar.case), "exemplar"),
      slice: roles.exemplar.slice,
    });
  }
  for (const id of roles.labelled) {
    out.push({ role: "labelled", spec: needLabel(get(id), "labelled") });
  }
  for (const id of roles.unlabelled) {
    const { labelPath: _dropped, ...imageOnly } = get(id);
    out.push({ role: "unlabelled", spec: imageOnly });
  }
  for (const id of roles.validation) {
    out.push({ role: "validation", spec: needLabel(get(id), "validation") });
  }
  for (const id of roles.test) out.push({ role: "test", spec: needLabel(get(id), "test") });
  if (unlabelled.length) {
    const [first, ...more] = unlabelled;
    throw new DataError(
      first.spec.imagePath,
      `case "${first.spec.id}" has role ${first.role} but no label` +
        more.map((u) => `; so has "${u.spec.id}" (${u.role}, ${u.spec.imagePath})`).join(""),
      "add the label files or change the roles (only unlabelled cases may have none)",
    );
  }
  return out;
}

/** What training and evaluation get: unlabelled items have no label field. */
export type LoadedItem =
  | {
    readonly role: "exemplar";
    readonly id: string;
    readonly image: Volume;
    /** The one annotated slice (z index in the image) and its 2D label (nz = 1). */
    readonly slice: number;
    readonly sliceLabel: LabelVolume;
  }
  | {
    readonly role: "labelled" | "validation";
    readonly id: string;
    readonly image: Volume;
    readonly label: LabelVolume;
  }
  | {
    readonly role: "test";
    readonly id: string;
    readonly image: Volume;
    readonly label?: LabelVolume;
  }
  | { readonly role: "unlabelled"; readonly id: string; readonly image: Volume };

/** Reads a roled case. Unlabelled: image only (the label is never opened). */
export async function loadRoledCase(c: RoledCase, options: ReadCaseOptions): Promise<LoadedItem> {
  if (c.role === "unlabelled") {
    return { role: "unlabelled", id: c.spec.id, image: await readCaseImage(c.spec, options) };
  }
  if (c.role === "exemplar") {
    const image = await readCaseImage(c.spec, options);
    const [nx, ny, nz] = image.shape;
    let slice: number, data: Uint8Array;
    if (typeof c.slice === "string") {
      const label = await readCaseLabel(c.spec, image, options);
      slice = pickExemplarSlice(label, c.slice);
      data = label.data.slice(slice * nx * ny, (slice + 1) * nx * ny);
    } else {
      // Only the chosen slice's values are read: the rest of the map may be unannotated.
      slice = c.slice;
      if (!(slice >= 0 && slice < nz)) {
        throw exemplarSliceError(c.spec, slice, nz);
      }
      const { raw, where } = await readLabelOnGrid(c.spec, image, options);
      const values = raw.data.subarray(slice * nx * ny, (slice + 1) * nx * ny);
      data = toLabelData(
        `${where} (exemplar slice ${slice})`,
        values,
        classValues(options.classes),
      );
    }
    const sliceLabel: LabelVolume = {
      data,
      shape: [nx, ny, 1],
      spacing: image.spacing,
      affine: sliceAffine(image.affine, slice),
    };
    return { role: "exemplar", id: c.spec.id, image, slice, sliceLabel };
  }
  const { image, label } = await readCase(c.spec, options);
  if (c.role === "test") return { role: "test", id: c.spec.id, image, ...(label ? { label } : {}) };
  return { role: c.role, id: c.spec.id, image, label: label! };
}

/** A fixed exemplar slice past the image's depth: the config contradicts the data (exit 64). */
const exemplarSliceError = (spec: CaseSpec, slice: number, nz: number) =>
  new RolesConfigError([
    `roles.exemplar.slice: ${slice} is outside 0..${nz - 1} (${spec.id}, ${spec.imagePath})`,
  ]);

/** How the exemplar slice is picked from a fully labelled case. */
export type SlicePolicy = "largest" | "central";
export const SLICE_POLICIES: readonly SlicePolicy[] = ["largest", "central"];

/**
 * "largest": the slice with the most foreground; "central": the middle one of the slices that
 * show every class of the case (of those with any foreground, when none shows all). A central
 * slice is the typical one (mid-ventricular, mid-atrial); the largest is often at one end.
 */
export function pickExemplarSlice(label: LabelVolume, policy: SlicePolicy): number {
  if (policy === "largest") return largestForegroundSlice(label);
  const [nx, ny, nz] = label.shape;
  const plane = nx * ny;
  const present = Array.from({ length: nz }, (_, z) => {
    const seen = new Set<number>();
    for (let i = z * plane; i < (z + 1) * plane; i++) if (label.data[i]) seen.add(label.data[i]);
    return seen;
  });
  const classes = new Set(present.flatMap((s) => [...s])).size;
  const full = present.map((s, z) => (s.size === classes && classes > 0 ? z : -1))
    .filter((z) => z >= 0);
  const any = present.map((s, z) => (s.size > 0 ? z : -1)).filter((z) => z >= 0);
  const pool = full.length ? full : any;
  return pool.length ? pool[(pool.length - 1) >> 1] : largestForegroundSlice(label);
}

/** The z index with the most non-zero label voxels (the first such on ties). */
export function largestForegroundSlice(label: LabelVolume): number {
  const [nx, ny, nz] = label.shape;
  let best = 0, bestCount = -1;
  for (let z = 0; z < nz; z++) {
    let c = 0;
    const off = z * nx * ny;
    for (let i = 0; i < nx * ny; i++) if (label.data[off + i] !== 0) c++;
    if (c > bestCount) [best, bestCount] = [z, c];
  }
  return best;
}

/** Affine of slice z as its own 1-slice volume (origin moved to that slice). */
export function sliceAffine(affine: readonly number[], z: number): number[] {
  const a = [...affine];
  for (let r = 0; r < 3; r++) a[r * 4 + 3] += affine[r * 4 + 2] * z;
  return a;
}
