/**
 * CAML's two modules for the caml method (PAPERS.md §2, Herschel555/CAML), each behind
 * `train.caml`: cross-sample mutual attention in model b (CAML's auxiliary model) after its 4th
 * encoder block, and omni-correlation consistency (OCC): projection and prediction heads on the
 * last decoder features, a per-class memory bank of labelled features both models predict
 * correctly, and the correlation of the most confident agreeing unlabelled pixels with the bank
 * kept consistent between the models (pixels or voxels alike). The bank is a FIFO queue of
 * `enqueue` randomly chosen correct pixels per class and step (CAML keeps each labelled volume's
 * latest voxels and samples 256 per class from them; it also skips a class with fewer than 256
 * stored).
 */
import type { StepBuilder } from "../engine/train.ts";
import type { ModelEntry } from "../engine/train.ts";
import type { Tensor } from "../engine/graph.ts";
import type { ForwardOptions, Module } from "../engine/models/context.ts";
import { CrossSampleAttention } from "../engine/models/cma.ts";
import { Heads } from "../engine/models/heads.ts";
import { MemoryBank } from "../engine/models/memory_bank.ts";
import * as op from "../engine/ops.ts";
import * as L from "../engine/losses.ts";
import type { Rng } from "../random/rng.ts";
import type { TrainConfig } from "../schemas/config.ts";
import { HEAD_DIM, labelledForward } from "./auxiliary.ts";
import { type Shapes, voxelsOf } from "./methods.ts";

type Config = typeof TrainConfig.Type;

/** CAML inserts its attention after the 4th encoder block; shallower U-Nets use the deepest. */
export const cmaLevel = (levels: number) => Math.min(3, levels - 1);

/** The modules the enabled parts need: attention for b, the OCC heads and memory bank. */
export function camlModules(
  c: Config,
  s: Shapes,
  channels: readonly number[],
  rng: Rng,
): Record<string, Module | ModelEntry> {
  const modules: Record<string, Module | ModelEntry> = {};
  if (c.caml.cma) {
    const level = cmaLevel(channels.length);
    modules.cma = new CrossSampleAttention({ channels: channels[level], level }, rng.fork("cma"));
  }
  if (c.caml.occ.weight > 0) {
    const head = (inF: number) => ({ in: inF, hidden: HEAD_DIM, out: HEAD_DIM });
    modules.occ_heads = new Heads({
      proj_a: head(channels[0]),
      pred_a: head(HEAD_DIM),
      proj_b: head(channels[0]),
      pred_b: head(HEAD_DIM),
    }, rng.fork("occ"));
    const bank = new MemoryBank({ classes: s.classes, size: c.caml.occ.memory, dim: HEAD_DIM });
    modules.occ_bank = { model: bank, trainable: false };
  }
  return modules;
}

/** Model b's forward options: the attention after its 4th encoder block when enabled. */
export function camlForwardB(g: StepBuilder, c: Config): ForwardOptions {
  if (!c.caml.cma) return {};
  return { encoderHook: (g.module("cma") as CrossSampleAttention).hook(g.context("cma"), "train") };
}

/** Pixels of [B, C, ...] as rows [B·P, C]. */
function pixelRows(t: Tensor): Tensor {
  const [b, c, ...spatial] = t.staticShape;
  const perm = [0, ...spatial.map((_, i) => i + 2), 1];
  return op.reshape(op.transpose(t, perm), [b * spatial.reduce((x, y) => x * y, 1), c]);
}

/** One-hot [K, B·P] (class-major) of integer labels [B, ...] (2D or 3D). */
function classRows(labels: Tensor, k: number): Tensor {
  const hot = L.oneHot(labels, k);
  const perm = [1, 0, ...hot.staticShape.slice(2).map((_, i) => i + 2)];
  return op.reshape(op.transpose(hot, perm), [k, -1]);
}

/**
 * The OCC loss (undefined when `train.caml.occ.weight` is 0) from the recorded train-mode
 * forwards of a and b on [labelled; unlabelled]; pushes this step's labelled features into the
 * bank first, as CAML updates its memory before sampling it.
 */
export function omniCorrelation(g: StepBuilder, s: Shapes, c: Config): Tensor | undefined {
  const o = c.caml.occ;
  if (o.weight === 0) return undefined;
  const heads = g.module("occ_heads") as Heads, hctx = g.context("occ_heads");
  const bank = g.module("occ_bank") as MemoryBank, bctx = g.context("occ_bank");
  const [fa, fb] = (["a", "b"] as const).map((m) => labelledForward(g, m));
  const k = s.classes, n = s.bl + s.bu, plane = voxelsOf(s);
  const rows = (t: Tensor, from: number, to: number) => op.slice(t, [from], [to], [0]);
  const embedding = (f: typeof fa) => f.decoder[f.decoder.length - 1];
  const pa = op.stopGradient(op.softmax(fa.logits, 1));
  const pb = op.stopGradient(op.softmax(fb.logits, 1));

  // Labelled pixels both models get right, `enqueue` per class at random (noise as the key).
  const y = op.cast(g.input("yl"), "int64");
  const right = (p: Tensor) => op.equal(op.argMax(rows(p, 0, s.bl), 1), y);
  const correct = op.cast(op.and(right(pa), right(pb)), "float32");
  const pixels = s.bl * plane, fresh = Math.min(o.enqueue, o.memory, pixels);
  const key = op.mul(
    op.mul(classRows(g.input("yl"), k), op.reshape(correct, [1, pixels])),
    bctx.uniformNoise([k, pixels], 1, 2),
  );
  const picked = op.topK(key, fresh, 1);
  const at = op.reshape(picked.indices, [k * fresh]);
  // Eval-mode heads (running statistics), before this step's train-mode calls update them.
  const project = (f: typeof fa, head: string) =>
    heads.apply(hctx, head, op.gatherRows(pixelRows(rows(embedding(f), 0, s.bl)), at), "eval");
  const stored = op.div(op.add(project(fa, "proj_a"), project(fb, "proj_b")), 2);
  const memory = bank.push(
    bctx,
    op.reshape(stored, [k, fresh, HEAD_DIM]),
    op.cast(op.greater(picked.values, 0), "float32"),
  );

  // Unlabelled pixels where both argmaxes agree: the `filtered` most confident of a per class.
  const { conf, label } = L.confidence(rows(pa, s.bl, n));
  const agree = op.cast(op.equal(label, op.argMax(rows(pb, s.bl, n), 1)), "float32");
  const upixels = s.bu * plane, top = Math.min(o.filtered, upixels);
  const score = op.mul(classRows(label, k), op.reshape(op.mul(agree, conf), [1, upixels]));
  const chosen = op.topK(score, top, 1);
  const uat = op.reshape(chosen.indices, [k * top]);
  const query = (f: typeof fa, m: "a" | "b") => {
    const projected = heads.apply(hctx, `proj_${m}`, rows(embedding(f), s.bl, n), "train");
    const predicted = heads.apply(hctx, `pred_${m}`, projected, "train");
    return op.gatherRows(pixelRows(predicted), uat);
  };
  return L.correlationConsistency(
    query(fa, "a"),
    query(fb, "b"),
    op.reshape(op.cast(op.greater(chosen.values, 0), "float32"), [k * top]),
    op.reshape(memory.features, [k * o.memory, HEAD_DIM]),
    op.reshape(memory.valid, [k * o.memory]),
    o.temperature,
  );
}
