/**
 * Segmentation losses as graph ops (definitions in research/PAPERS.md §0). Tensors are NC...
 * (class axis 1). Targets are one-hot or soft probabilities of the same shape as the logits;
 * `weight` (per pixel, [N, ...spatial]) masks or weights pixels (confidence-thresholded
 * pseudo-labels, labelled/unlabelled splits).
 */
import type { Tensor } from "./graph.ts";
import * as op from "./ops.ts";

export type Reduction =
  /** Σ loss·w / number of pixels (FixMatch/UniMatch style: masked pixels count as zero). */
  | "mean"
  /** Σ loss·w / Σ w (average over the selected pixels only; 0 when none is selected). */
  | "weighted";

export interface PixelLossOptions {
  weight?: Tensor;
  reduction?: Reduction;
}

/** One-hot encoding of integer labels [N, ...] into float [N, C, ...]. */
export function oneHot(labels: Tensor, numClasses: number): Tensor {
  if (labels.dtype !== "int64" && labels.dtype !== "int32") {
    throw new Error(`oneHot: labels must be int32 or int64, got ${labels.dtype}`);
  }
  const g = labels.graph;
  const classes = labels.dtype === "int64"
    ? g.constant(
      BigInt64Array.from({ length: numClasses }, (_, i) => BigInt(i)),
      [numClasses],
      "int64",
    )
    : g.constant(Int32Array.from({ length: numClasses }, (_, i) => i), [numClasses], "int32");
  const shape = [1, numClasses, ...new Array(labels.rank - 1).fill(1)];
  const hit = op.equal(op.unsqueeze(labels, [1]), op.reshape(classes, shape));
  return op.cast(hit, "float32");
}

function reducePixels(perPixel: Tensor, o: PixelLossOptions): Tensor {
  if (!o.weight) return op.mean(perPixel);
  const w = o.weight;
  const total = op.sum(op.mul(perPixel, w));
  if ((o.reduction ?? "mean") === "mean") return op.div(total, perPixel.size);
  // max(Σw, tiny) keeps an empty mask from dividing by zero (the loss is then 0).
  return op.div(total, op.maximum(op.sum(w), 1e-8));
}

/** Cross-entropy between softmax(logits) and a (soft) target over axis 1. */
export function crossEntropy(logits: Tensor, target: Tensor, o: PixelLossOptions = {}): Tensor {
  const perPixel = op.neg(op.sum(op.mul(target, op.logSoftmax(logits, 1)), [1]));
  return reducePixels(perPixel, o);
}

/** Binary cross-entropy of probabilities p against targets t (clamped like torch's BCELoss). */
export function binaryCrossEntropy(p: Tensor, t: Tensor, o: PixelLossOptions = {}): Tensor {
  const logP = op.maximum(op.log(p), -100);
  const log1P = op.maximum(op.log(op.sub(1, p)), -100);
  const perPixel = op.neg(op.add(op.mul(t, logP), op.mul(op.sub(1, t), log1P)));
  return reducePixels(perPixel, o);
}

export type DiceVariant =
  /** CAML Binary_dice_loss: 1 - (2Σpt + 1e-8)/(Σp + Σt + 1e-8). */
  | "linear"
  /** UG-MCL / SSL4MIS dice_loss: 1 - (2Σpt + 1e-5)/(Σp² + Σt² + 1e-5). */
  | "squared"
  /** SSL4MIS DiceLoss class: 1 - Σpt/(Σp² + Σt² + 1e-10), no factor 2 (bug-compatible). */
  | "ssl4mis";

export interface DiceOptions {
  variant?: DiceVariant;
  /** Classes to include (default: all); the loss is their mean. */
  classes?: number[];
  /** Per-pixel weight [N, ...spatial] multiplied into p and t (masked Dice). */
  weight?: Tensor;
}

/** Dice loss of probabilities `p` against `t` ([N, C, ...]), sums over batch and space. */
export function diceLoss(p: Tensor, t: Tensor, o: DiceOptions = {}): Tensor {
  const variant = o.variant ?? "squared";
  const numClasses = p.shape[1] as number;
  const axes = [0, ...p.shape.slice(2).map((_, i) => i + 2)];
  let pp = p, tt = t;
  if (o.weight) {
    const w = op.unsqueeze(o.weight, [1]);
    pp = op.mul(p, w);
    tt = op.mul(t, w);
  }
  const inter = op.sum(op.mul(pp, tt), axes);
  let num: Tensor, den: Tensor;
  if (variant === "linear") {
    num = op.add(op.mul(inter, 2), 1e-8);
    den = op.add(op.add(op.sum(pp, axes), op.sum(tt, axes)), 1e-8);
  } else if (variant === "squared") {
    num = op.add(op.mul(inter, 2), 1e-5);
    den = op.add(op.add(op.sumSquare(pp, axes), op.sumSquare(tt, axes)), 1e-5);
  } else {
    num = inter;
    den = op.add(op.add(op.sumSquare(pp, axes), op.sumSquare(tt, axes)), 1e-10);
  }
  const perClass = op.sub(1, op.div(num, den)); // [C]
  const classes = o.classes ?? Array.from({ length: numClasses }, (_, i) => i);
  const sel = new Float32Array(numClasses);
  for (const c of classes) sel[c] = 1 / classes.length;
  return op.sum(op.mul(perClass, p.graph.constant(sel, [numClasses], p.dtype)));
}

/** Mean squared error, optionally weighted per pixel ([N, ...spatial] broadcast over classes). */
export function mse(a: Tensor, b: Tensor, o: PixelLossOptions = {}): Tensor {
  const sq = op.mul(op.sub(a, b), op.sub(a, b));
  if (!o.weight) return op.mean(sq);
  const w = o.weight.rank < sq.rank ? op.unsqueeze(o.weight, [1]) : o.weight;
  const total = op.sum(op.mul(sq, w));
  if ((o.reduction ?? "mean") === "mean") return op.div(total, sq.size);
  // Each weight covers sq.size / w.size elements (the class axis it is broadcast over).
  return op.div(total, op.maximum(op.mul(op.sum(w), sq.size / w.size), 1e-8));
}

/** KL(P‖Q) = Σ_c P (log P - log Q) over axis 1, from log-probabilities; mean over pixels. */
export function klDivergence(logP: Tensor, logQ: Tensor, o: PixelLossOptions = {}): Tensor {
  const perPixel = op.sum(op.mul(op.exp(logP), op.sub(logP, logQ)), [1]);
  return reducePixels(perPixel, o);
}

/** MC-Net / CAML sharpening p^(1/T) / (p^(1/T) + (1-p)^(1/T)). */
export function sharpen(p: Tensor, temperature: number): Tensor {
  const a = op.pow(p, 1 / temperature);
  return op.div(a, op.add(a, op.pow(op.sub(1, p), 1 / temperature)));
}

/** Per-pixel max probability and argmax class (confidence-thresholded pseudo-labels). */
export function confidence(probs: Tensor): { conf: Tensor; label: Tensor } {
  return { conf: op.max(probs, [1]), label: op.argMax(probs, 1) };
}

/** x / ‖x‖ along `axis` (the ε inside the root keeps zero vectors finite, with finite gradient). */
export function l2Normalize(x: Tensor, axis: number): Tensor {
  return op.div(x, op.sqrt(op.add(op.sum(op.mul(x, x), [axis], true), 1e-12)));
}

/**
 * ELSNet's pixel-prototype contrast (PAPERS.md §4): embeddings [N, D, ...] are L2-normalised
 * per pixel; class c's prototype is the normalised mean embedding of the pixels whose target
 * [N, K, ...] (one-hot; all-zero pixels are ignored) is c; a pixel's logits are its cosine
 * similarities to the prototypes / temperature (classes absent from the batch masked out), and
 * the loss is their cross-entropy against the target, averaged over the labelled pixels.
 */
export function prototypeContrast(embedding: Tensor, target: Tensor, temperature: number): Tensor {
  const [n, d] = embedding.staticShape, k = target.staticShape[1];
  const pixels = embedding.size / (n * d);
  const e = l2Normalize(op.reshape(embedding, [n, d, pixels]), 1); // [N, D, P]
  const t = op.reshape(target, [n, k, pixels]);
  const sums = op.sum(op.matmul(t, op.transpose(e, [0, 2, 1])), [0]); // [K, D]
  const prototypes = l2Normalize(sums, 1);
  const present = op.cast(op.greater(op.sum(t, [0, 2]), 0), embedding.dtype); // [K]
  const mask = op.reshape(op.mul(op.sub(present, 1), 1e4), [1, k, 1]);
  const logits = op.add(op.div(op.matmul(prototypes, e), temperature), mask); // [N, K, P]
  return crossEntropy(logits, t, { weight: op.sum(t, [1]), reduction: "weighted" });
}

/**
 * Soft re-learning (Semi-CML's PReL): 0.5·(CE + Dice) of `logits` against class probabilities
 * `q` [N, K, ...] sharpened with `temperature` (q^(1/T) renormalised over classes), each pixel
 * weighted by its confidence max_c q (all-zero pixels weigh nothing).
 */
export function softTargetLoss(logits: Tensor, q: Tensor, temperature: number): Tensor {
  const p = op.pow(q, 1 / temperature);
  const target = op.div(p, op.maximum(op.sum(p, [1], true), 1e-8));
  const weight = op.max(q, [1]);
  const ce = crossEntropy(logits, target, { weight, reduction: "weighted" });
  return op.mul(op.add(ce, diceLoss(op.softmax(logits, 1), target, { weight })), 0.5);
}

/**
 * CAML's omni-correlation consistency (PAPERS.md §2, code/utils/correlation.py): each model's
 * query features [R, D] correlate with the memory bank [M, D] as softmax(q·memᵀ / temperature)
 * over the bank's valid entries; the loss is the cross-entropy from model b's correlation rows
 * to model a's, -Σ C_b·log(C_a + 1e-8), averaged over the rows with `rowWeight` 1 (0 when the
 * bank is empty). Neither side is detached, as in the released code.
 */
export function correlationConsistency(
  qa: Tensor,
  qb: Tensor,
  rowWeight: Tensor,
  memory: Tensor,
  memoryValid: Tensor,
  temperature: number,
): Tensor {
  const mask = op.reshape(op.mul(op.sub(memoryValid, 1), 1e4), [1, -1]);
  const memT = op.transpose(memory, [1, 0]);
  const corr = (q: Tensor) => op.softmax(op.add(op.div(op.matmul(q, memT), temperature), mask), 1);
  const perRow = op.neg(op.sum(op.mul(corr(qb), op.log(op.add(corr(qa), 1e-8))), [1]));
  const any = op.cast(op.greater(op.sum(memoryValid), 0), qa.dtype);
  const mean = op.div(op.sum(op.mul(perRow, rowWeight)), op.maximum(op.sum(rowWeight), 1));
  return op.mul(mean, any);
}
