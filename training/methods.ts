/**
 * The training methods as loss graphs over one batch layout (research/PAPERS.md; 3D patches add
 * a depth axis D after the channel axis):
 *   xl [Bl,1,H,W], yl [Bl,H,W]  labelled slices (weak view)
 *   xw, xs [Bu,1,H,W]           weak and strong views of unlabelled slices
 *   mix_perm [Bu,Bu], mix_box [Bu,1,H,W]  the CutMix of the strong view: strong i holds
 *                               weak perm(i) inside its box, so targets are mixed the same way.
 * Each method names the models it trains ("a", "b"; frozen EMA teachers), the scalar weights it
 * is fed each step, and its loss. Supervised parts are 0.5·(CE + Dice) as in SSL4MIS.
 */
import type { ModelEntry, StepBuilder } from "../engine/train.ts";
import type { Module } from "../engine/models/context.ts";
import type { Rng } from "../random/rng.ts";
import type { Tensor } from "../engine/graph.ts";
import * as op from "../engine/ops.ts";
import * as L from "../engine/losses.ts";
import { featureDropout } from "../engine/perturb.ts";
import type { Method, TrainConfig } from "../schemas/config.ts";
import { sigmoidRampup } from "./ramps.ts";
import { camlForwardB, camlModules, omniCorrelation } from "./caml.ts";

export interface Shapes {
  readonly bl: number;
  readonly bu: number;
  /** Depth of a 3D patch; absent for 2D slices. */
  readonly d?: number;
  readonly h: number;
  readonly w: number;
  readonly classes: number;
  /** Channels of one input: 1, or a 2.5D slice with its neighbours (absent: 1). */
  readonly inChannels?: number;
}

/** The network input's spatial size: [H, W] or [D, H, W]. */
export const spatialOf = (s: Shapes): number[] => s.d ? [s.d, s.h, s.w] : [s.h, s.w];

/** Voxels (pixels) of one input. */
export const voxelsOf = (s: Shapes): number => (s.d ?? 1) * s.h * s.w;

export interface MethodSpec {
  /** What its models are stamped with (train.method's name, or refine's second round's). */
  readonly name: string;
  /** Takes weak/strong views of unlabelled slices. */
  readonly unlabelled: boolean;
  /** Labelled batches mix in the synthesize stage's samples (exemplar + synthetic). */
  readonly synthetic: boolean;
  /** Model b uses the other up-sampling (CAML's vanilla/auxiliary pair). */
  readonly otherUp: boolean;
  /** Model b is an EMA teacher of a instead of a second trained model. */
  readonly teacher: boolean;
  /** Labelled targets also come as class probabilities `ql` [Bl, K, H, W] (soft pseudo-labels;
   * one-hot for real labels). */
  readonly softTargets?: boolean;
  /** Extra modules of the training step (attention layers, heads, memory banks), by name. */
  readonly modules?: (
    config: typeof TrainConfig.Type,
    s: Shapes,
    channels: readonly number[],
    rng: Rng,
  ) => Record<string, Module | ModelEntry>;
  readonly scalars: readonly string[];
  readonly weights: (step: number, config: typeof TrainConfig.Type) => Record<string, number>;
  readonly loss: (
    g: StepBuilder,
    s: Shapes,
    config: typeof TrainConfig.Type,
  ) => { loss: Tensor; logs: Record<string, Tensor> };
}

const rampWeight = (step: number, c: typeof TrainConfig.Type, scale: number) =>
  scale * sigmoidRampup(Math.floor(step / c.rampupEpoch), c.rampup);

const batchSlice = (x: Tensor, from: number, to: number) => op.slice(x, [from], [to], [0]);

const foreground = (classes: number) => Array.from({ length: classes - 1 }, (_, i) => i + 1);

/** The labelled batch's one-hot targets, and 1 where its label is known (255: left out). */
export interface Targets {
  readonly t: Tensor;
  readonly known: Tensor;
}

/**
 * Targets of the labelled batch. An unknown pixel (a synthetic sample's unlabelled background,
 * a pseudo-label refine left out) has an all-zero one-hot row, so it adds nothing to the CE, and
 * `known` takes it out of the Dice; where every label is known both losses are unchanged.
 */
export function labelTargets(y: Tensor, classes: number): Targets {
  return {
    t: L.oneHot(y, classes),
    known: op.cast(op.less(op.cast(y, "float32"), 254.5), "float32"),
  };
}

/** SSL4MIS's supervised loss: 0.5 (CE + squared Dice over all classes), unknown pixels left out. */
export function supervised(logits: Tensor, { t, known }: Targets): Tensor {
  const dice = L.diceLoss(op.softmax(logits, 1), t, { weight: known });
  return op.mul(op.add(L.crossEntropy(logits, t), dice), 0.5);
}

/** Both models' supervised loss on the labelled head (first `bl`) of their batch logits. */
const pairSupervised = (za: Tensor, zb: Tensor, target: Targets, bl: number) =>
  op.add(supervised(batchSlice(za, 0, bl), target), supervised(batchSlice(zb, 0, bl), target));

/** Applies the strong view's CutMix to a per-sample tensor [Bu, ...] (targets, masks). */
function mixLikeStrong(g: StepBuilder, x: Tensor, bu: number): Tensor {
  const shape = x.staticShape;
  const flat = op.reshape(x, [bu, shape.slice(1).reduce((a, b) => a * b, 1)]);
  const moved = op.reshape(op.matmul(g.input("mix_perm"), flat), shape);
  let box = g.input("mix_box");
  // Label-shaped targets have no channel axis: drop the box's.
  if (shape.length === box.staticShape.length - 1) box = op.reshape(box, shape);
  return op.add(op.mul(x, op.sub(1, box)), op.mul(moved, box));
}

/**
 * A student's loss on confident pseudo-labels (mask 1 where the teacher is confident): CE, or
 * the Dice of the confident pixels (UniMatch's ACDC loss: it weighs small structures like large
 * ones, where CE lets the background's pixel count pull uncertain structures to background), or
 * their mean.
 */
export function pseudoLoss(
  logits: Tensor,
  target: Tensor,
  mask: Tensor,
  kind: typeof TrainConfig.Type["pseudoLoss"],
): Tensor {
  const ce = () => L.crossEntropy(logits, target, { weight: mask });
  const dice = () => L.diceLoss(op.softmax(logits, 1), target, { weight: mask });
  return kind === "ce" ? ce() : kind === "dice" ? dice() : op.mul(op.add(ce(), dice()), 0.5);
}

/** Confident pseudo-labels of a model's prediction on the weak view (no gradient; eval mode
 * unless `mode` says otherwise). */
function pseudoLabels(
  g: StepBuilder,
  model: string,
  classes: number,
  tau: number,
  mode: "train" | "eval" = "eval",
) {
  const p = op.stopGradient(op.softmax(g.forward(model, g.input("xw"), { mode }).logits));
  const { conf, label } = L.confidence(p);
  return { target: L.oneHot(label, classes), mask: op.cast(op.greaterEqual(conf, tau), "float32") };
}

const supervisedOnly: MethodSpec = {
  name: "supervised",
  unlabelled: false,
  synthetic: false,
  otherUp: false,
  teacher: false,
  scalars: [],
  weights: () => ({}),
  loss: (g, s) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const sa = supervised(g.forward("a", g.input("xl")).logits, labels);
    const sb = supervised(g.forward("b", g.input("xl")).logits, labels);
    return { loss: op.add(sa, sb), logs: { sup_a: sa, sup_b: sb } };
  },
};

/** Cross pseudo supervision (SSL4MIS train_cross_pseudo_supervision_2D). */
const cps: MethodSpec = {
  name: "cps",
  unlabelled: true,
  synthetic: false,
  otherUp: false,
  teacher: false,
  scalars: ["w_cps"],
  weights: (step, c) => ({ w_cps: rampWeight(step, c, c.consistency) }),
  loss: (g, s) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const x = op.concat([g.input("xl"), g.input("xw")], 0);
    const za = g.forward("a", x).logits, zb = g.forward("b", x).logits;
    const n = s.bl + s.bu;
    const ua = batchSlice(za, s.bl, n), ub = batchSlice(zb, s.bl, n);
    const hard = (z: Tensor) => L.oneHot(op.argMax(op.stopGradient(z), 1), s.classes);
    const sup = pairSupervised(za, zb, labels, s.bl);
    const cross = op.add(L.crossEntropy(ua, hard(ub)), L.crossEntropy(ub, hard(ua)));
    return { loss: op.add(sup, op.mul(cross, g.scalar("w_cps"))), logs: { sup, cross } };
  },
};

/**
 * CMEMS (reconstruction, PAPERS.md §1): each model's confident weak-view pseudo-labels supervise
 * the OTHER model on the strong view (image level) and on decodings of its channel-dropped
 * encoder features at every level (feature level); labelled batches hold the exemplar and
 * synthetic samples.
 */
const cmems: MethodSpec = {
  name: "cmems",
  unlabelled: true,
  synthetic: true,
  otherUp: false,
  teacher: false,
  scalars: ["w_img", "w_feat"],
  weights: (step, c) => ({
    w_img: rampWeight(step, c, c.consistency),
    w_feat: rampWeight(step, c, c.featureConsistency),
  }),
  loss: (g, s, c) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const x = op.concat([g.input("xl"), g.input("xs")], 0);
    const n = s.bl + s.bu;
    const parts = (["a", "b"] as const).map((m) => {
      const z = g.forward(m, x).logits;
      const feats = featureDropout(g.context(m), g.encode(m, g.input("xw")));
      return {
        sup: supervised(batchSlice(z, 0, s.bl), labels),
        strong: batchSlice(z, s.bl, n),
        perturbed: g.decode(m, feats).logits,
        pseudo: pseudoLabels(g, m, s.classes, c.confidence),
      };
    });
    const [a, b] = parts;
    const onStrong = (student: typeof a, teacher: typeof a) =>
      pseudoLoss(
        student.strong,
        mixLikeStrong(g, teacher.pseudo.target, s.bu),
        mixLikeStrong(g, teacher.pseudo.mask, s.bu),
        c.pseudoLoss,
      );
    const onFeatures = (student: typeof a, teacher: typeof a) =>
      pseudoLoss(student.perturbed, teacher.pseudo.target, teacher.pseudo.mask, c.pseudoLoss);
    const sup = op.add(a.sup, b.sup);
    const img = op.add(onStrong(b, a), onStrong(a, b));
    const feat = op.add(onFeatures(b, a), onFeatures(a, b));
    const loss = op.add(
      sup,
      op.add(op.mul(img, g.scalar("w_img")), op.mul(feat, g.scalar("w_feat"))),
    );
    return { loss, logs: { sup, img, feat } };
  },
};

/**
 * UG-MCL in 2D (PAPERS.md §5): student a, EMA teacher b. The logits' tanh is the signed-distance
 * head; sigmoid(-1500·tanh) maps it back to a mask (cross-task consistency). The teacher's
 * uncertainty comes from noisy eval-mode passes; the student follows its mean where the entropy
 * is under the ramped threshold.
 */
const ugmcl: MethodSpec = {
  name: "ugmcl",
  unlabelled: true,
  synthetic: false,
  otherUp: false,
  teacher: true,
  scalars: ["w_cons", "u_threshold"],
  weights: (step, c) => ({
    w_cons: rampWeight(step, c, c.consistency),
    u_threshold: (0.75 + 0.25 * sigmoidRampup(step, c.steps)) * Math.log(2),
  }),
  loss: (g, s, c) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const x = op.concat([g.input("xl"), g.input("xw")], 0);
    const z = g.forward("a", x).logits;
    const p = op.softmax(z, 1);
    const toMask = op.sigmoid(op.mul(op.tanh(z), -1500));
    const fg = foreground(s.classes);
    const zl = batchSlice(z, 0, s.bl);
    const sup = op.mul(
      op.add(
        op.add(
          L.crossEntropy(zl, labels.t),
          L.diceLoss(batchSlice(p, 0, s.bl), labels.t, { classes: fg, weight: labels.known }),
        ),
        L.diceLoss(batchSlice(toMask, 0, s.bl), labels.t, { classes: fg, weight: labels.known }),
      ),
      0.5,
    );
    const teacher = g.context("b");
    let mean: Tensor | undefined;
    for (let k = 0; k < c.uncertaintyPasses; k++) {
      const noisy = op.add(x, teacher.uniformNoise(x.staticShape, -0.2, 0.2));
      const pk = op.softmax(g.forward("b", noisy, { mode: "eval" }).logits, 1);
      mean = mean ? op.add(mean, pk) : pk;
    }
    const pt = op.stopGradient(op.div(mean!, c.uncertaintyPasses));
    const entropy = op.neg(op.sum(op.mul(pt, op.log(op.add(pt, 1e-6))), [1]));
    const certain = op.cast(op.less(entropy, g.scalar("u_threshold")), "float32");
    const intra = L.mse(p, pt, { weight: certain, reduction: "weighted" });
    const crossTask = L.mse(toMask, p);
    const loss = op.add(sup, op.mul(op.add(intra, crossTask), g.scalar("w_cons")));
    return { loss, logs: { sup, intra, cross_task: crossTask } };
  },
};

/**
 * CAML's mutual consistency in 2D (PAPERS.md §2): a (transposed-conv up) and b (bilinear up)
 * fit the labelled slices with the linear Dice and each follows the other's sharpened
 * prediction (MSE, targets not detached as in the released code). `train.caml` adds CAML's
 * cross-sample attention in b and the omni-correlation consistency (training/caml.ts).
 */
const caml: MethodSpec = {
  name: "caml",
  unlabelled: true,
  synthetic: false,
  otherUp: true,
  teacher: false,
  modules: camlModules,
  scalars: ["w_cons", "w_occ"],
  weights: (step, c) => ({
    w_cons: rampWeight(step, c, c.consistency),
    w_occ: rampWeight(step, c, c.caml.occ.weight),
  }),
  loss: (g, s, c) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const x = op.concat([g.input("xl"), g.input("xw")], 0);
    const pa = op.softmax(g.forward("a", x).logits, 1);
    const pb = op.softmax(g.forward("b", x, camlForwardB(g, c)).logits, 1);
    const dice = (p: Tensor) =>
      L.diceLoss(batchSlice(p, 0, s.bl), labels.t, {
        variant: "linear",
        classes: foreground(s.classes),
        weight: labels.known,
      });
    const sup = op.mul(op.add(dice(pa), dice(pb)), 0.5);
    const T = c.sharpenTemperature;
    const cons = op.add(L.mse(pa, L.sharpen(pb, T)), L.mse(pb, L.sharpen(pa, T)));
    const loss = op.add(sup, op.mul(cons, g.scalar("w_cons")));
    const occ = omniCorrelation(g, s, c);
    if (!occ) return { loss, logs: { sup, cons } };
    const logs: Record<string, Tensor> = { sup, cons, occ };
    return { loss: op.add(loss, op.mul(occ, g.scalar("w_occ"))), logs };
  },
};

/**
 * Semi-CML's area-similarity contrastive loss (PAPERS.md §3), single-modality: model a sees the
 * weak view and b the strong view of the same slices (the two "modalities"); a slice's two
 * foreground maps are positives, every other slice a negative (soft-Dice similarity, no
 * temperature); plus the ramped MSE consistency.
 */
const semicml: MethodSpec = {
  name: "semicml",
  unlabelled: true,
  synthetic: false,
  otherUp: false,
  teacher: false,
  scalars: ["w_cons"],
  weights: (step, c) => ({ w_cons: rampWeight(step, c, c.consistency) }),
  loss: (g, s, c) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const n = s.bl + s.bu;
    const za = g.forward("a", op.concat([g.input("xl"), g.input("xw")], 0)).logits;
    const zb = g.forward("b", op.concat([g.input("xl"), g.input("xs")], 0)).logits;
    const sup = pairSupervised(za, zb, labels, s.bl);
    const ua = op.softmax(batchSlice(za, s.bl, n), 1);
    const ub = mixLikeStrong(g, op.softmax(batchSlice(zb, s.bl, n), 1), s.bu);
    const asc = areaContrast(g, ua, ub, s);
    const cons = L.mse(ua, ub);
    const loss = op.add(
      sup,
      op.add(op.mul(asc, c.contrastiveWeight), op.mul(cons, g.scalar("w_cons"))),
    );
    return { loss, logs: { sup, asc, cons } };
  },
};

/** NT-Xent over 2·Bu foreground maps with soft-Dice similarity (Semi-CML ASC_loss). */
function areaContrast(g: StepBuilder, pa: Tensor, pb: Tensor, s: Shapes): Tensor {
  const fg = (p: Tensor) =>
    op.reshape(op.slice(p, [1], [s.classes], [1]), [s.bu, (s.classes - 1) * voxelsOf(s)]);
  const z = op.concat([fg(pa), fg(pb)], 0); // [2Bu, D]
  const m = 2 * s.bu;
  const dot = op.matmul(z, op.transpose(z, [1, 0]));
  const sq = op.sum(op.mul(z, z), [1], true); // [2Bu, 1]
  const sim = op.div(
    op.add(op.mul(dot, 2), 1e-6),
    op.add(op.add(sq, op.transpose(sq, [1, 0])), 1e-6),
  );
  const self = new Float32Array(m * m), positive = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    self[i * m + i] = -1e9;
    positive[i * m + ((i + s.bu) % m)] = 1;
  }
  const logits = op.add(sim, g.graph.constant(self, [m, m], "float32"));
  const logp = op.logSoftmax(logits, 1);
  return op.div(op.neg(op.sum(op.mul(logp, g.graph.constant(positive, [m, m], "float32")))), m);
}

/**
 * refine's second round (ELSNet stage 2 / Semi-CML PReL): both models fine-tune on labelled and
 * pseudo-labelled slices; 255 marks pixels the refinement left out (no CE, no Dice).
 */
export const relearn: MethodSpec = {
  ...supervisedOnly,
  name: "relearn",
  loss: (g, s) => {
    const { t, known } = labelTargets(g.input("yl"), s.classes);
    const fit = (m: string) => {
      const z = g.forward(m, g.input("xl")).logits;
      // CE as a mean over the kept pixels: refine may leave most of a slice out.
      const ce = L.crossEntropy(z, t, { weight: known, reduction: "weighted" });
      return op.mul(op.add(ce, L.diceLoss(op.softmax(z, 1), t, { weight: known })), 0.5);
    };
    const sa = fit("a"), sb = fit("b");
    return { loss: op.add(sa, sb), logs: { sup_a: sa, sup_b: sb } };
  },
};

/**
 * Mean teacher (SSL4MIS train_mean_teacher_2D): student a on labelled + weak-view slices, b its
 * EMA teacher on the weak view plus clamp(N(0, 0.1²), ±0.2) noise, in train mode as SSL4MIS's
 * ema_model (never switched to eval); MSE between the two softmaxes, ramped.
 */
const meanteacher: MethodSpec = {
  name: "meanteacher",
  unlabelled: true,
  synthetic: false,
  otherUp: false,
  teacher: true,
  scalars: ["w_cons"],
  weights: (step, c) => ({ w_cons: rampWeight(step, c, c.consistency) }),
  loss: (g, s) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const z = g.forward("a", op.concat([g.input("xl"), g.input("xw")], 0)).logits;
    const sup = supervised(batchSlice(z, 0, s.bl), labels);
    const xw = g.input("xw");
    const noisy = op.add(xw, g.context("b").normalNoise(xw.staticShape, 0.1, 0.2));
    const teacher = op.stopGradient(op.softmax(g.forward("b", noisy).logits, 1));
    const cons = L.mse(op.softmax(batchSlice(z, s.bl, s.bl + s.bu), 1), teacher);
    return { loss: op.add(sup, op.mul(cons, g.scalar("w_cons"))), logs: { sup, cons } };
  },
};

/**
 * FixMatch (SSL4MIS train_fixmatch_cta): the EMA teacher b's weak-view pseudo-labels (train
 * mode, as there), kept where its confidence reaches `train.confidence` (FixMatch's τ), supervise
 * the student a on the strong view (CutMix-consistent) with 0.5·(CE + Dice), ramped.
 */
const fixmatch: MethodSpec = {
  name: "fixmatch",
  unlabelled: true,
  synthetic: false,
  otherUp: false,
  teacher: true,
  scalars: ["w_unsup"],
  weights: (step, c) => ({ w_unsup: rampWeight(step, c, c.consistency) }),
  loss: (g, s, c) => {
    const labels = labelTargets(g.input("yl"), s.classes);
    const z = g.forward("a", op.concat([g.input("xl"), g.input("xs")], 0)).logits;
    const sup = supervised(batchSlice(z, 0, s.bl), labels);
    const pseudo = pseudoLabels(g, "b", s.classes, c.confidence, "train");
    const target = mixLikeStrong(g, pseudo.target, s.bu);
    const mask = mixLikeStrong(g, pseudo.mask, s.bu);
    const zs = batchSlice(z, s.bl, s.bl + s.bu);
    const ce = L.crossEntropy(zs, target, { weight: mask });
    const unsup = op.mul(op.add(ce, L.diceLoss(op.softmax(zs, 1), target, { weight: mask })), 0.5);
    return { loss: op.add(sup, op.mul(unsup, g.scalar("w_unsup"))), logs: { sup, unsup } };
  },
};

/**
 * refine's soft second round (Semi-CML's PReL): both models re-learn the pair's fused
 * probabilities, sharpened with temperature T (p^(1/T) renormalised) and weighted per pixel by
 * their confidence (max probability); real labels enter as one-hot with weight 1.
 */
export const relearnSoft = (temperature: number): MethodSpec => ({
  ...supervisedOnly,
  name: "relearn-soft",
  softTargets: true,
  loss: (g) => {
    const fit = (m: string) =>
      L.softTargetLoss(g.forward(m, g.input("xl")).logits, g.input("ql"), temperature);
    const sa = fit("a"), sb = fit("b");
    return { loss: op.add(sa, sb), logs: { sup_a: sa, sup_b: sb } };
  },
});

/** The spec `train.method` names, with `train.synthetic` applied. */
export function methodOf(config: { method: Method; synthetic: "method" | "always" | "never" }) {
  const spec = methods[config.method];
  return config.synthetic === "method"
    ? spec
    : { ...spec, synthetic: config.synthetic === "always" };
}

export const methods: Record<Method, MethodSpec> = {
  supervised: supervisedOnly,
  cps,
  cmems,
  ugmcl,
  caml,
  semicml,
  meanteacher,
  fixmatch,
};
