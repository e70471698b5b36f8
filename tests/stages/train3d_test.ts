/**
 * 3D models through the pipeline on the tiny phantoms: a V-Net (or 3D U-Net) pair trains on patches, is
 * validated and evaluated through sliding windows, exports an ONNX model whose windows match the
 * engine, and its masks come from the same windows; configs 3D cannot take are exit 64.
 */
import { Effect, Exit } from "effect";
import { loadConfig } from "../../pipeline/config.ts";
import { assert, assertEquals } from "../assert.ts";
import { failureOf } from "../../pipeline/runner.ts";
import { exitCodeOf } from "../../pipeline/errors.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { sha256 } from "../../pipeline/digest.ts";
import { decodeModel } from "../../deploy/weights.ts";
import { parseDuetModel } from "../../deploy/onnx_model.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { defaults } from "../../schemas/defaults.ts";
import { Rng } from "../../random/rng.ts";
import { methods } from "../../training/methods.ts";
import { patchData } from "../../training/patches.ts";
import type { VolumePool } from "../../training/volume_pool.ts";
import { sampleWeak3 } from "../../transforms/views3d.ts";
import { runTiny, stageFiles, stagesThrough, TINY, TINY_VNET } from "./tiny_run.ts";

const VNET = [
  ...TINY_VNET,
  "train.steps=4",
  "train.validateEvery=2",
  "evaluate.baseline=false",
];

Deno.test("vnet3d cps: patches train, windows validate, evaluate mirrored and export (parity < 1e-5)", async () => {
  const store = makeMemoryStore();
  const { exit } = await runTiny([...VNET, "train.method=cps", "evaluate.mirror=true"], { store });
  assert(Exit.isSuccess(exit), String(exit));
  const train = await stageFiles(store, "train");
  for (const name of ["model-a.safetensors", "model-b.safetensors", "best-a.safetensors"]) {
    const { model, inference } = decodeModel(train[name]);
    assertEquals(model.kind, "vnet3d");
    assertEquals(inference, { kind: "windows", patch: [16, 16, 16], overlap: 0.5 });
  }
  const curves = JSON.parse(new TextDecoder().decode(train["curves.json"]));
  assertEquals(curves.filter((c: { dice?: number[] }) => c.dice).length, 2);
  // The report's preview shows 3D views of patches.
  assert((await stageFiles(store, "augment"))["views.png"]);
  const evaluate = JSON.parse(
    new TextDecoder().decode((await stageFiles(store, "evaluate"))["metrics.json"]),
  );
  assertEquals(evaluate.cases.a.length, 2);
  const exported = await stageFiles(store, "export");
  const model = parseDuetModel("model.onnx", exported["model.onnx"]);
  assertEquals(model.network.kind, "vnet3d");
  // Evaluate mirrored each window, so the exported model records it and predict does the same.
  assertEquals(model.inference, {
    kind: "windows",
    patch: [16, 16, 16],
    overlap: 0.5,
    mirror: true,
  });
  assert(
    Object.keys(exported).filter((n) => n.endsWith(".nii.gz")).length === 2,
    Object.keys(exported).join(),
  );
});

Deno.test("unet3d (the U-Net with 3D convolutions) trains caml's pair and evaluates through windows", async () => {
  const store = makeMemoryStore();
  const sets = VNET.map((s) =>
    s.startsWith("train.model.arch")
      ? "train.model.arch=unet3d"
      : s.startsWith("train.model.channels")
      ? "train.model.channels=[2,4,8]"
      : s.startsWith("train.model.dropout")
      ? "train.model.dropout=[0,0,0.1]"
      : s
  );
  const { exit } = await runTiny([...sets, "train.method=caml"], {
    stages: stagesThrough("evaluate"),
    store,
  });
  assert(Exit.isSuccess(exit), String(exit));
  const train = await stageFiles(store, "train");
  const [a, b] = ["model-a.safetensors", "model-b.safetensors"].map((n) =>
    decodeModel(train[n]).model
  );
  assertEquals([a.kind, b.kind], ["unet3d", "unet3d"]);
  // caml's pair: b up-samples by interpolation (trilinear), a by transposed convolution.
  assertEquals([a.config().up, b.config().up], ["transpose", "bilinear"]);
  const evaluate = JSON.parse(
    new TextDecoder().decode((await stageFiles(store, "evaluate"))["metrics.json"]),
  );
  assertEquals(evaluate.cases.pair.length, 2);
});

/** The train stage's files of a tiny V-Net run with `sets`. */
async function trainVnet(sets: string[]) {
  const store = makeMemoryStore();
  const { exit } = await runTiny([...VNET, ...sets], { stages: stagesThrough("train"), store });
  assert(Exit.isSuccess(exit), String(exit));
  return await stageFiles(store, "train");
}

Deno.test("vnet3d caml + CMA + OCC + prototype contrast: voxels fill the bank, terms logged, models stay plain V-Nets", async () => {
  const files = await trainVnet([
    "train.method=caml",
    "train.caml.cma=true",
    "train.caml.occ.weight=0.05",
    "train.caml.occ.enqueue=16",
    "train.caml.occ.filtered=64",
    "train.prototypeContrast.weight=0.1",
  ]);
  const curves: { logs: Record<string, number> }[] = JSON.parse(
    new TextDecoder().decode(files["curves.json"]),
  );
  assert(curves.every((c) => Number.isFinite(c.logs.occ) && Number.isFinite(c.logs.ppc)));
  // A filled bank makes the correlation loss non-trivial from the first step on.
  assert(curves.some((c) => c.logs.occ > 0.1), JSON.stringify(curves.map((c) => c.logs)));
  const plain = await trainVnet(["train.method=caml"]);
  for (const name of ["model-a.safetensors", "model-b.safetensors"]) {
    const [on, off] = [files, plain].map((f) => decodeModel(f[name]).model);
    assertEquals(on.kind, "vnet3d");
    assertEquals(on.store.params.data.length, off.store.params.data.length, name);
    assert(on.store.params.data.some((v, i) => v !== off.store.params.data[i]), name);
  }
});

Deno.test("vnet3d refine: pseudo-labels through windows, a second round on pseudo-labelled patches, evaluate on it", async () => {
  const store = makeMemoryStore();
  const { exit } = await runTiny([
    ...VNET,
    "train.method=supervised",
    "refine.enabled=true",
    "refine.confidence=0.5",
    "refine.secondRoundSteps=3",
    "refine.onlyIfBetter=false",
  ], { store });
  assert(Exit.isSuccess(exit), String(exit));
  const refine = await stageFiles(store, "refine");
  const pseudo = Object.keys(refine).filter((n) => n.startsWith("pseudo-"));
  assert(pseudo.length > 0, Object.keys(refine).join());
  for (const name of pseudo) {
    const { arrays } = decodeArrays(refine[name]);
    assertEquals(arrays.label.shape, [16, 32, 32]);
    assert((arrays.label.data as Uint8Array).every((v) => v <= 2 || v === 255), name);
  }
  const trained = (await stageFiles(store, "train"))["model-a.safetensors"];
  const refined = decodeModel(refine["model-a.safetensors"]);
  assert(sha256(trained) !== sha256(refine["model-a.safetensors"]), "second round changed nothing");
  assertEquals(refined.meta.method, "relearn");
  assertEquals(refined.inference, { kind: "windows", patch: [16, 16, 16], overlap: 0.5 });
  const evaluate = JSON.parse(
    new TextDecoder().decode((await stageFiles(store, "evaluate"))["metrics.json"]),
  );
  assertEquals(evaluate.cases.a.length, 2);
});

Deno.test("vnet3d is deterministic by seed", async () => {
  const digest = async (sets: string[]) =>
    sha256((await trainVnet(["train.method=fixmatch", ...sets]))["model-a.safetensors"]);
  const [one, two, other] = [await digest([]), await digest([]), await digest(["seed=2"])];
  assertEquals(one, two);
  assert(one !== other);
});

Deno.test("configs a V-Net cannot take are exit 64 with every problem named", async () => {
  const sets = [
    "train.model.arch=vnet3d",
    "train.model.channels=[4,8,16,32]",
    "train.model.patch=[24,16,16]",
    "refine.enabled=true",
    "refine.soft=true",
    "refine.synthetic=true",
    "train.model.context=1",
  ];
  const exit = await Effect.runPromiseExit(loadConfig(TINY, sets));
  assert(Exit.isFailure(exit));
  const failure = failureOf(exit.cause) as { problems: string[] };
  assertEquals(exitCodeOf(failure), 64);
  const text = failure.problems.join("\n");
  for (
    const path of [
      "train.model.channels",
      "train.model.patch",
      "data.roles.exemplar",
      "refine.soft",
      "refine.synthetic",
      "train.model.context",
    ]
  ) {
    assert(text.includes(path), text);
  }
  assert(text.includes("[32, 16, 16]"), text);
});

Deno.test("augment.labelledIntensity: a labelled patch's intensities change, never its label; off draws nothing", async () => {
  // One labelled 16^3 volume, the patch its whole size, no weak moves: the patch is the volume.
  const dims = 16, size = dims ** 3;
  const image = Float32Array.from({ length: size }, (_, i) => (i % 37) / 37);
  const label = Uint8Array.from({ length: size }, (_, i) => (i % dims) < 8 ? 1 : 0);
  const foreground = Int32Array.from([...label.keys()].filter((i) => label[i]));
  const pool: VolumePool = {
    width: dims,
    height: dims,
    labelled: [{ id: "v", slices: dims, image, label, foreground }],
    unlabelled: [],
    validation: [],
    unlabelledVolume: () => Effect.die("no unlabelled volumes"),
  };
  const data = patchData(pool, { kind: "windows", patch: [dims, dims, dims], overlap: 0.5 }, 0);
  const shapes = { bl: 1, bu: 0, d: dims, h: dims, w: dims, classes: 2 };
  const still = {
    ...defaults.augment.weak,
    rot90Probability: 0,
    flipXProbability: 0,
    zoomProbability: 0,
  };
  const draw = async (labelledIntensity: number) => {
    const augment = {
      ...defaults.augment,
      weak: still,
      labelledIntensity,
    };
    const rng = new Rng(7);
    const feeds = await Effect.runPromise(
      data.batches(shapes, methods.supervised, augment).next(rng),
    );
    return { feeds, next: rng.nextUint32() };
  };
  const off = await draw(0), on = await draw(1);
  assertEquals(off.feeds.xl, image);
  assertEquals(Array.from(off.feeds.yl), Array.from(label));
  assertEquals(Array.from(on.feeds.yl), Array.from(label));
  assert(on.feeds.xl.some((v, i) => Math.abs(v - image[i]) > 1e-3), "intensities unchanged");
  // Off, the sampler draws exactly the patch origin and the weak view, as before the option.
  const bare = new Rng(7);
  bare.int(0, 1); // the volume
  bare.bool(0); // centred on foreground?
  for (let axis = 0; axis < 3; axis++) bare.int(0, 1); // the origin
  sampleWeak3(bare, [dims, dims, dims], still);
  assertEquals(off.next, bare.nextUint32());
  assert(on.next !== off.next);
});

Deno.test("augment.labelledIntensity on a 2D model is exit 64 naming it (synthesis changes 2D intensities)", async () => {
  const exit = await Effect.runPromiseExit(loadConfig(TINY, ["augment.labelledIntensity=0.5"]));
  assert(Exit.isFailure(exit));
  const failure = failureOf(exit.cause) as { problems: string[] };
  assertEquals(exitCodeOf(failure), 64);
  assert(
    failure.problems.some((p) => p.startsWith("augment.labelledIntensity")),
    failure.problems.join(),
  );
});
