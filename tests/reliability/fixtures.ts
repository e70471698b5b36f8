/** Small real inputs for the failure tests: NIfTI datasets, a Duet model, unwritable paths. */
import { cli } from "../cli.ts";
import { UNet } from "../../engine/models/unet.ts";
import { encodeNifti } from "../../io/nifti.ts";
import type { LabelVolume, Volume } from "../../io/volume.ts";
import { Rng } from "../../random/rng.ts";
import { exportSegmentation } from "../../deploy/onnx_model.ts";

export const SHAPE: [number, number, number] = [16, 16, 4];
export const AFFINE = [0.8, 0, 0, -5, 0, 0.9, 0, 3, 0, 0, 2.5, 7, 0, 0, 0, 1];

/** Case i: a bright box (label 1) on a dim background; `shiftMm` moves the world origin in x. */
export function caseVolumes(i: number, shiftMm = 0): { image: Volume; label: LabelVolume } {
  const [nx, ny, nz] = SHAPE;
  const image = new Float32Array(nx * ny * nz), label = new Uint8Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const k = x + nx * (y + ny * z);
        const inside = x >= 4 && x < 9 + z + (i % 3) && y >= 3 && y < 9 + z;
        label[k] = inside ? 1 : 0;
        image[k] = (inside ? 100 : 20) + ((k * 7 + i) % 5);
      }
    }
  }
  const affine = [...AFFINE];
  affine[3] += shiftMm;
  const geo = { shape: SHAPE, spacing: [0.8, 0.9, 2.5] as const, affine };
  return { image: { data: image, ...geo }, label: { data: label, ...geo } };
}

/** Writes `<dir>/<id>.nii.gz` and, unless `label` is false, `<dir>/<id>_label.nii.gz`. */
export function writeCase(dir: string, id: string, i: number, o: { label?: boolean } = {}) {
  const { image, label } = caseVolumes(i);
  Deno.writeFileSync(`${dir}/${id}.nii.gz`, encodeNifti(image));
  if (o.label !== false) Deno.writeFileSync(`${dir}/${id}_label.nii.gz`, encodeNifti(label));
}

/** A config file for a NIfTI folder: tiny network and steps, the given roles (others empty). */
export function writeConfig(path: string, source: string, roles: Record<string, unknown>) {
  Deno.writeTextFileSync(
    path,
    JSON.stringify({
      name: "probe",
      data: {
        source,
        classes: ["background", "box"],
        // Every role given, so none of the phantom default's IDs remains.
        roles: { exemplar: null, labelled: 0, validation: [], test: [], ...roles },
      },
      normalize: { size: [16, 16] },
      synthesize: { count: 4 },
      train: {
        model: { channels: [4, 8], dropout: [0, 0.1] },
        steps: 4,
        batch: { labelled: 2, unlabelled: 2 },
        checkpointEvery: 2,
        validateEvery: 2,
        preciseBn: 1,
      },
    }),
  );
}

/** A Duet model file (untrained two-level U-Net) for 2-class 16x16 slices. */
export function duetModelBytes(): Uint8Array {
  const net = new UNet(
    { numClasses: 2, channels: [4, 8], dropout: [0, 0], up: "transpose" },
    new Rng(5),
  );
  return exportSegmentation(net, {
    classes: ["background", "box"],
    inputSize: [16, 16],
    normalize: { intensity: { kind: "zscore" }, size: [16, 16] },
    configDigest: "test",
  });
}

/** `predict` of a fresh `<dir>/c0.nii.gz` with a fresh `<dir>/model.onnx`, masks into `out`. */
export function predictOne(dir: string, out: string, env?: Record<string, string>) {
  Deno.writeFileSync(`${dir}/model.onnx`, duetModelBytes());
  writeCase(dir, "c0", 0, { label: false });
  const args = ["--model", `${dir}/model.onnx`, "--input", `${dir}/c0.nii.gz`, "--out", out];
  return cli(["predict", ...args], env ? { env } : {});
}

/**
 * A path under which this user cannot create anything: in a 0555 folder, or, for root (who
 * ignores modes), under sysfs, whose mkdir refuses everyone.
 */
export function unwritablePath(): string {
  if (Deno.uid() !== 0) {
    const dir = Deno.makeTempDirSync();
    Deno.chmodSync(dir, 0o555);
    return `${dir}/sub`;
  }
  return `/sys/duet-test-${crypto.randomUUID()}`;
}

/** No stack trace: no line that looks like `    at f (file:...)`. */
export const hasStackTrace = (text: string) => /\n\s+at .*[(:]/.test(text);

export const errorLines = (stderr: string) =>
  stderr.split("\n").filter((l) => l.startsWith("error:"));
