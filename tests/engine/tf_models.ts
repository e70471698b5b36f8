/**
 * tfjs replicas of the engine's U-Net and V-Net (channels-last internally), fed the engine's
 * own weights and dropout masks, as an independent oracle for whole-model gradients.
 */
import * as tf from "@tensorflow/tfjs";
import type { ParamStore } from "../../engine/params.ts";

export type Weights = Map<string, tf.Tensor>;

export function weightsOf(store: ParamStore): { names: string[]; tensors: tf.Tensor[] } {
  const names: string[] = [];
  const tensors: tf.Tensor[] = [];
  for (const p of store.params.list()) {
    names.push(p.name);
    tensors.push(tf.tensor(store.params.view(p.name).slice(), [...p.shape]));
  }
  return { names, tensors };
}

const CH_LAST = { 4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1] } as Record<number, number[]>;
const CH_FIRST = { 4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3] } as Record<number, number[]>;
export const toLast = (t: tf.Tensor) => tf.transpose(t, CH_LAST[t.rank]);
export const toFirst = (t: tf.Tensor) => tf.transpose(t, CH_FIRST[t.rank]);

function conv(w: Weights, name: string, x: tf.Tensor, stride = 1, pad: "same" | "valid" = "same") {
  const W = w.get(`${name}.weight`)!;
  const b = w.get(`${name}.bias`);
  let y: tf.Tensor;
  if (W.rank === 4) {
    y = tf.conv2d(x as tf.Tensor4D, tf.transpose(W, [2, 3, 1, 0]) as tf.Tensor4D, stride, pad);
  } else {
    y = tf.conv3d(x as tf.Tensor5D, tf.transpose(W, [2, 3, 4, 1, 0]) as tf.Tensor5D, stride, pad);
  }
  return b ? tf.add(y, b) : y;
}

/** ConvTranspose k2 s2 as a matrix product plus interleave (tfjs lacks conv3dTranspose grads). */
function convT2(w: Weights, name: string, x: tf.Tensor) {
  const W = w.get(`${name}.weight`)!; // [Ci, Co, 2, 2(, 2)]
  const [ci, co] = W.shape;
  const sp = x.shape.slice(1, -1);
  const k = sp.length;
  const rows = tf.reshape(x, [-1, ci]);
  const y = tf.reshape(tf.matMul(rows, tf.reshape(W, [ci, -1])), [
    x.shape[0],
    ...sp,
    co,
    ...new Array(k).fill(2),
  ]);
  // [N, s0, s1, (s2), Co, a0, a1, (a2)] -> [N, s0, a0, s1, a1, ..., Co]
  const perm = [0, ...sp.flatMap((_, i) => [1 + i, 2 + k + i]), 1 + k];
  const out = tf.reshape(tf.transpose(y, perm), [x.shape[0], ...sp.map((d) => 2 * d), co]);
  return tf.add(out, w.get(`${name}.bias`)!);
}

function bn(w: Weights, name: string, x: tf.Tensor) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const xhat = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(xhat, w.get(`${name}.weight`)!), w.get(`${name}.bias`)!);
}

export interface TfUNetOptions {
  levels: number;
  bilinear: boolean;
  /** Encoder levels with dropout (default: all); the masks are consumed in level order. */
  dropout?: number[];
}

/** SSL4MIS U-Net forward in train mode; masks are NCHW arrays in creation order. */
export function unetForward(w: Weights, x: tf.Tensor, masks: tf.Tensor[], o: TfUNetOptions) {
  let mi = 0;
  const block = (name: string, h: tf.Tensor, drop: boolean) => {
    let y = tf.leakyRelu(bn(w, `${name}.conv_conv.1`, conv(w, `${name}.conv_conv.0`, h)), 0.01);
    if (drop) y = tf.mul(y, toLast(masks[mi++]));
    return tf.leakyRelu(bn(w, `${name}.conv_conv.5`, conv(w, `${name}.conv_conv.4`, y)), 0.01);
  };
  const feats: tf.Tensor[] = [];
  let h = toLast(x);
  for (let i = 0; i < o.levels; i++) {
    if (i > 0) h = tf.maxPool(h as tf.Tensor4D, 2, 2, "valid");
    h = block(
      i === 0 ? "encoder.in_conv" : `encoder.down${i}.maxpool_conv.1`,
      h,
      (o.dropout?.[i] ?? 1) > 0,
    );
    feats.push(h);
  }
  for (let j = 1; j < o.levels; j++) {
    const skip = feats[o.levels - 1 - j];
    let u: tf.Tensor;
    if (o.bilinear) {
      const c = conv(w, `decoder.up${j}.conv1x1`, h);
      u = tf.image.resizeBilinear(c as tf.Tensor4D, [skip.shape[1]!, skip.shape[2]!], true);
    } else {
      u = convT2(w, `decoder.up${j}.up`, h);
    }
    h = block(`decoder.up${j}.conv`, tf.concat([skip, u], 3), false);
  }
  return toFirst(conv(w, "decoder.out_conv", h));
}

/** UA-MT V-Net forward in train mode (transposed-conv up); masks are Dropout3d masks. */
export function vnetForward(w: Weights, x: tf.Tensor, masks: tf.Tensor[]) {
  const stage = (name: string, n: number, h: tf.Tensor) => {
    for (let i = 0; i < n; i++) {
      h = tf.relu(bn(w, `${name}.conv.${3 * i + 1}`, conv(w, `${name}.conv.${3 * i}`, h)));
    }
    return h;
  };
  const names = ["one", "two", "three", "four", "five"];
  const enc = [1, 2, 3, 3, 3];
  const feats: tf.Tensor[] = [];
  let h = toLast(x);
  for (let i = 0; i < 5; i++) {
    h = stage(`block_${names[i]}`, enc[i], h);
    if (i === 4 && masks.length) h = tf.mul(h, toLast(masks[0]));
    feats.push(h);
    if (i < 4) {
      h = tf.relu(
        bn(w, `block_${names[i]}_dw.conv.1`, conv(w, `block_${names[i]}_dw.conv.0`, h, 2, "valid")),
      );
    }
  }
  const up = ["five", "six", "seven", "eight"];
  const dec = ["six", "seven", "eight", "nine"];
  const decN = [3, 3, 2, 1];
  for (let j = 0; j < 4; j++) {
    const u = tf.relu(bn(w, `block_${up[j]}_up.conv.1`, convT2(w, `block_${up[j]}_up.conv.0`, h)));
    h = stage(`block_${dec[j]}`, decN[j], tf.add(u, feats[3 - j]));
    if (j === 3 && masks.length) h = tf.mul(h, toLast(masks[1]));
  }
  return toFirst(conv(w, "out_conv", h));
}

/** CE + squared Dice (UG-MCL) over softmax of NC... logits against a one-hot target. */
export function ceDiceLoss(logits: tf.Tensor, onehot: tf.Tensor) {
  const lsm = tf.logSoftmax(toLast(logits));
  const t = toLast(onehot);
  const ce = tf.neg(tf.mean(tf.sum(tf.mul(t, lsm), -1)));
  const p = tf.exp(lsm);
  const axes = p.shape.slice(0, -1).map((_, i) => i);
  const inter = tf.sum(tf.mul(p, t), axes);
  const den = tf.add(tf.sum(tf.square(p), axes), tf.sum(tf.square(t), axes));
  const dice = tf.mean(tf.sub(1, tf.div(tf.add(tf.mul(inter, 2), 1e-5), tf.add(den, 1e-5))));
  return tf.add(ce, dice) as tf.Scalar;
}

/**
 * PyTorch's nn.TransformerEncoderLayer (post-norm, ReLU) on x [L, N, E], written head by head
 * and sample by sample from PyTorch's definition (head j of sample n uses columns j·dh..(j+1)·dh
 * of q, k, v), independently of the engine's batched layout. `masks`: dropout masks in the
 * engine's creation order (attention weights [N, H, L, L], after attention, inside the
 * feed-forward block, after it); none in eval mode.
 */
export function transformerLayerForward(
  w: Weights,
  name: string,
  x: tf.Tensor,
  heads: number,
  masks?: tf.Tensor[],
): tf.Tensor {
  const [l, n, e] = x.shape;
  const dh = e / heads;
  const p = (k: string) => w.get(`${name}.${k}`)!;
  const drop = (t: tf.Tensor, i: number) => (masks ? tf.mul(t, masks[i]) : t);
  const linear = (t: tf.Tensor, k: string) =>
    tf.add(tf.matMul(t, p(`${k}.weight`), false, true), p(`${k}.bias`));
  const norm = (t: tf.Tensor, k: string) => {
    const { mean, variance } = tf.moments(t, -1, true);
    const xhat = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(xhat, p(`${k}.weight`)), p(`${k}.bias`));
  };
  const win = p("self_attn.in_proj_weight"), bin = p("self_attn.in_proj_bias");
  const proj = (t: tf.Tensor, i: number) =>
    tf.add(tf.matMul(t, tf.slice(win, [i * e, 0], [e, e]), false, true), tf.slice(bin, i * e, e));
  const samples: tf.Tensor[] = [];
  for (let s = 0; s < n; s++) {
    const xs = tf.reshape(tf.slice(x, [0, s, 0], [l, 1, e]), [l, e]);
    const [q, k, v] = [0, 1, 2].map((i) => proj(xs, i));
    const perHead: tf.Tensor[] = [];
    for (let j = 0; j < heads; j++) {
      const cols = (t: tf.Tensor) => tf.slice(t, [0, j * dh], [l, dh]);
      const a = tf.softmax(tf.div(tf.matMul(cols(q), cols(k), false, true), Math.sqrt(dh)));
      const am = masks
        ? tf.mul(a, tf.reshape(tf.slice(masks[0], [s, j, 0, 0], [1, 1, l, l]), [l, l]))
        : a;
      perHead.push(tf.matMul(am, cols(v)));
    }
    samples.push(tf.concat(perHead, 1)); // [L, E]
  }
  const rows = tf.reshape(x, [l * n, e]);
  const mixed = tf.reshape(tf.stack(samples, 1), [l * n, e]);
  const h1 = norm(tf.add(rows, drop(linear(mixed, "self_attn.out_proj"), 1)), "norm1");
  const ff = linear(drop(tf.relu(linear(h1, "linear1")), 2), "linear2");
  return tf.reshape(norm(tf.add(h1, drop(ff, 3)), "norm2"), [l, n, e]);
}
