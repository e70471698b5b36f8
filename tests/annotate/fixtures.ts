/** Small generated NIfTI folders and an in-process annotate server for the annotate tests. */
import { makePhantom3D } from "../../datasets/phantom.ts";
import { writeNifti } from "../../io/nifti.ts";
import { discoverCases } from "../../io/dataset.ts";
import { Catalogue } from "../../annotate/catalogue.ts";
import { type AnnotateServer, startAnnotate } from "../../annotate/server.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { stages } from "../../stages/registry.ts";

export const CLASSES = ["background", "organ", "vessel"];
const AFFINE = [0.9, 0, 0, -20, 0, 0.8, 0, 10, 0, 0, 2, -5, 0, 0, 0, 1];

/** `count` phantoms `p0..` of `shape` as `<id>.nii.gz`; those in `labelled` get `<id>_label`. */
export function phantomFolder(
  dir: string,
  o: { count: number; shape: [number, number, number]; labelled?: readonly string[] },
): string {
  Deno.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < o.count; i++) {
    const id = `p${i}`;
    const p = makePhantom3D({ seed: 20 + i, shape: o.shape, classes: 2 });
    const geo = { spacing: [0.9, 0.8, 2] as const, affine: AFFINE };
    writeNifti(`${dir}/${id}.nii.gz`, { ...p.image, ...geo });
    if (o.labelled?.includes(id)) writeNifti(`${dir}/${id}_label.nii.gz`, { ...p.label, ...geo });
  }
  return dir;
}

/** annotate on `data` in this process (the CLI adds only flag parsing and Ctrl-C). */
export async function serve(
  data: string,
  o: { out: string; configPath: string; classes?: readonly string[] },
): Promise<AnnotateServer> {
  const specs = await discoverCases(data);
  Deno.mkdirSync(o.out, { recursive: true });
  return startAnnotate({
    catalogue: new Catalogue(specs, { classes: (o.classes ?? CLASSES).length }),
    classes: o.classes ?? CLASSES,
    out: o.out,
    configPath: o.configPath,
    discover: {},
    predictions: { store: makeMemoryStore("annotate-test"), configPath: o.configPath, stages },
    log: () => {},
  });
}
