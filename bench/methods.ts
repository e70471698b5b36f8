/**
 * Per-step cost of the methods and their optional modules: the training step trainPair builds
 * (training/pair_step.ts) for the benchmark U-Net (16-32-64-128, transposed-conv up, 2
 * classes) on 2 labelled + 2 unlabelled 128x128 slices, fed random data. Each variant is timed
 * beside its base method, so the difference is what the addition costs.
 */
import { buildPairStep } from "../training/pair_step.ts";
import { methods } from "../training/methods.ts";
import { defaults } from "../schemas/defaults.ts";
import type { Method, TrainConfig } from "../schemas/config.ts";
import { Rng } from "../random/rng.ts";
import type { FeedValue } from "../engine/train.ts";
import { BENCH, type Workload } from "./steps.ts";

type Config = typeof TrainConfig.Type;

export interface MethodVariant {
  /** Label in the output, e.g. "caml+occ". */
  readonly name: string;
  /** The variant it adds to ("" for a base method). */
  readonly base: string;
  readonly method: Method;
  readonly set?: (c: Config) => Config;
}

const occ = (c: Config): Config => ({
  ...c,
  caml: { ...c.caml, occ: { ...c.caml.occ, weight: 0.05 } },
});
const cma = (c: Config): Config => ({ ...c, caml: { ...c.caml, cma: true } });
const ppc = (c: Config): Config => ({ ...c, prototypeContrast: { weight: 0.1, temperature: 0.1 } });
const context1 = (c: Config): Config => ({ ...c, model: { ...c.model, context: 1 } });

export const VARIANTS: readonly MethodVariant[] = [
  { name: "supervised", base: "", method: "supervised" },
  { name: "supervised+ppc", base: "supervised", method: "supervised", set: ppc },
  { name: "cmems", base: "", method: "cmems" },
  { name: "cmems+ppc", base: "cmems", method: "cmems", set: ppc },
  { name: "meanteacher", base: "supervised", method: "meanteacher" },
  { name: "fixmatch", base: "supervised", method: "fixmatch" },
  { name: "fixmatch+2.5d", base: "fixmatch", method: "fixmatch", set: context1 },
  { name: "caml", base: "", method: "caml" },
  { name: "caml+cma", base: "caml", method: "caml", set: cma },
  { name: "caml+occ", base: "caml", method: "caml", set: occ },
  { name: "caml+cma+occ", base: "caml", method: "caml", set: (c) => cma(occ(c)) },
];

export async function methodStep(v: MethodVariant, threads: number): Promise<Workload> {
  const { size: S, classes: K, channels } = BENCH;
  const bl = BENCH.batch / 2, bu = BENCH.batch / 2;
  const base: Config = {
    ...defaults.train,
    method: v.method,
    model: { ...defaults.train.model, channels, dropout: [0.05, 0.1, 0.2, 0.3] },
    batch: { labelled: bl, unlabelled: bu },
  };
  const config = v.set ? v.set(base) : base;
  const method = methods[v.method], c = 2 * config.model.context + 1;
  const { step } = await buildPairStep({
    config,
    classes: K,
    shapes: { bl, bu, h: S, w: S, classes: K, inChannels: c },
    method,
    seed: 1,
    device: "cpu",
    threads,
  });
  const rng = new Rng(6);
  const img = (n: number) => Float32Array.from({ length: n * c * S * S }, () => rng.normal());
  const xl = img(bl);
  const feeds: Record<string, FeedValue> = {
    xl,
    yl: Int32Array.from(xl.subarray(0, bl * S * S), (x) => (x > 0.5 ? 1 : 0)),
    lr: 1e-3,
    // Weights at the end of the ramp (the graph costs the same at any weight).
    ...method.weights(config.rampup * config.rampupEpoch, config),
  };
  if (method.unlabelled) {
    const perm = new Float32Array(bu * bu);
    for (let i = 0; i < bu; i++) perm[i * bu + ((i + 1) % bu)] = 1;
    const box = new Float32Array(bu * S * S);
    for (let i = 0; i < box.length; i++) box[i] = (i % S) < S / 2 ? 1 : 0;
    Object.assign(feeds, { xw: img(bu), xs: img(bu), mix_perm: perm, mix_box: box });
  }
  return {
    run: () => step.run(feeds),
    release: () => step.release(),
    step,
    describe: `${v.name}: ${step.graph.nodes.length} graph nodes`,
  };
}
