/**
 * Random test masks (seeded) and a runner for tests/reference/medpy_reference.py.
 */
import { Rng } from "../../random/rng.ts";

export const PYTHON = "/usr/bin/python3";
export const REFERENCE_SCRIPT = new URL("../reference/medpy_reference.py", import.meta.url)
  .pathname;

export type Shape3 = [number, number, number];

/** Label map of random ellipsoids (3D) / ellipses (nz = 1) with values in 1..classes. */
export function randomBlobs(
  rng: Rng,
  shape: Shape3,
  options: { count: number; classes: number; maxRadius: number },
): Uint8Array {
  const [nx, ny, nz] = shape;
  const out = new Uint8Array(nx * ny * nz);
  for (let b = 0; b < options.count; b++) {
    const c = 1 + rng.int(0, options.classes);
    const cx = rng.uniform(-2, nx + 1), cy = rng.uniform(-2, ny + 1), cz = rng.uniform(-2, nz + 1);
    const rx = rng.uniform(0.6, options.maxRadius);
    const ry = rng.uniform(0.6, options.maxRadius);
    const rz = nz === 1 ? 1 : rng.uniform(0.6, options.maxRadius);
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          const dx = (x - cx) / rx, dy = (y - cy) / ry, dz = nz === 1 ? 0 : (z - cz) / rz;
          if (dx * dx + dy * dy + dz * dz <= 1) out[x + nx * (y + ny * z)] = c;
        }
      }
    }
  }
  return out;
}

/** Adds thin structures: random one-voxel-wide axis-aligned and diagonal lines, and single dots. */
export function addThinStructures(
  rng: Rng,
  map: Uint8Array,
  shape: Shape3,
  options: { lines: number; dots: number; classes: number },
): void {
  const [nx, ny, nz] = shape;
  for (let l = 0; l < options.lines; l++) {
    const c = 1 + rng.int(0, options.classes);
    let x = rng.int(0, nx), y = rng.int(0, ny), z = rng.int(0, nz);
    const dx = rng.int(-1, 2), dy = rng.int(-1, 2), dz = nz === 1 ? 0 : rng.int(-1, 2);
    const len = rng.int(2, Math.max(nx, ny, nz));
    for (let s = 0; s < len; s++) {
      if (x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz) break;
      map[x + nx * (y + ny * z)] = c;
      x += dx;
      y += dy;
      z += dz;
    }
  }
  for (let d = 0; d < options.dots; d++) {
    map[rng.int(0, nx * ny * nz)] = 1 + rng.int(0, options.classes);
  }
}

/** A "prediction" from a label: a shifted copy with random voxels relabelled near blobs. */
export function perturb(rng: Rng, label: Uint8Array, shape: Shape3, flips: number): Uint8Array {
  const [nx, ny, nz] = shape;
  const sx = rng.int(-2, 3), sy = rng.int(-2, 3), sz = nz === 1 ? 0 : rng.int(-1, 2);
  const out = new Uint8Array(label.length);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const X = x - sx, Y = y - sy, Z = z - sz;
        if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) continue;
        out[x + nx * (y + ny * z)] = label[X + nx * (Y + ny * Z)];
      }
    }
  }
  let maxClass = 0;
  for (const v of label) if (v > maxClass) maxClass = v;
  for (let f = 0; f < flips; f++) {
    const i = rng.int(0, out.length);
    out[i] = rng.bool(0.5) ? 0 : rng.int(0, maxClass + 1);
  }
  return out;
}

export interface ReferenceJob {
  metrics?: {
    pred: Uint8Array;
    label: Uint8Array;
    shape: number[];
    spacing: number[] | null;
    classes: number[];
  }[];
  label?: { mask: Uint8Array; shape: number[]; connectivity: number }[];
  largestCc?: { mask: Uint8Array; shape: number[]; classes: number[]; connectivity: number }[];
}

export interface ReferenceResult {
  metrics: Record<string, Record<string, number>>[];
  label: { count: number; labels: Int32Array }[];
  largestCc: Uint8Array[];
}

/** Writes the job's arrays to a temp dir, runs the scipy reference once, reads its answers. */
export async function runReference(job: ReferenceJob): Promise<ReferenceResult> {
  const dir = await Deno.makeTempDir({ prefix: "duet-medpy-ref-" });
  try {
    let n = 0;
    const put = async (data: Uint8Array) => {
      const path = `${dir}/a${n++}.raw`;
      await Deno.writeFile(path, data);
      return path;
    };
    const spec: Record<string, unknown[]> = { metrics: [], label: [], largest_cc: [] };
    for (const m of job.metrics ?? []) {
      spec.metrics.push({
        pred: await put(m.pred),
        label: await put(m.label),
        shape: m.shape,
        spacing: m.spacing,
        classes: m.classes,
      });
    }
    const labelOuts: string[] = [];
    for (const l of job.label ?? []) {
      const out = `${dir}/out${n++}.raw`;
      labelOuts.push(out);
      spec.label.push({
        mask: await put(l.mask),
        shape: l.shape,
        connectivity: l.connectivity,
        out,
      });
    }
    const lccOuts: string[] = [];
    for (const l of job.largestCc ?? []) {
      const out = `${dir}/out${n++}.raw`;
      lccOuts.push(out);
      spec.largest_cc.push({
        mask: await put(l.mask),
        shape: l.shape,
        classes: l.classes,
        connectivity: l.connectivity,
        out,
      });
    }
    await Deno.writeTextFile(`${dir}/job.json`, JSON.stringify(spec));
    const result = await new Deno.Command(PYTHON, {
      args: [REFERENCE_SCRIPT, `${dir}/job.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      throw new Error(`reference failed: ${new TextDecoder().decode(result.stderr)}`);
    }
    const parsed = JSON.parse(new TextDecoder().decode(result.stdout));
    const labels = await Promise.all(labelOuts.map(async (p, k) => {
      const bytes = await Deno.readFile(p);
      return {
        count: parsed.label[k].count as number,
        labels: new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
      };
    }));
    const lcc = await Promise.all(lccOuts.map((p) => Deno.readFile(p)));
    return { metrics: parsed.metrics, label: labels, largestCc: lcc };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
