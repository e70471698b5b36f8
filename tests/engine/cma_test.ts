/**
 * The Transformer encoder layer and CAML's cross-sample mutual attention against tfjs replicas
 * written head by head from PyTorch's definition (tf_models.ts): the layer's input gradient
 * (grad_util.ts harness: tfjs + finite differences), and the attention module's parameter
 * gradients in train mode (dropout masks fed to both) against tfjs and central differences of
 * the step's loss with the masks held fixed; identity in eval mode.
 */
import { assert, assertEquals } from "../assert.ts";
import { checkCase, directionalError, randn, relErr, size, tf } from "./grad_util.ts";
import { transformerLayerForward, type Weights, weightsOf } from "./tf_models.ts";
import { Graph } from "../../engine/graph.ts";
import { CrossSampleAttention } from "../../engine/models/cma.ts";
import { ModelContext } from "../../engine/models/context.ts";
import { TransformerEncoderLayer } from "../../engine/models/transformer.ts";
import { ParamStore } from "../../engine/params.ts";
import * as op from "../../engine/ops.ts";
import { sgd } from "../../engine/optim.ts";
import { TrainStep } from "../../engine/train.ts";
import { Rng } from "../../random/rng.ts";

const asWeights = (store: ParamStore): Weights => {
  const { names, tensors } = weightsOf(store);
  return new Map(names.map((n, i) => [n, tensors[i]]));
};

Deno.test("gradient: Transformer encoder layer (eval, no dropout) w.r.t. its input", async () => {
  const store = new ParamStore();
  const layer = new TransformerEncoderLayer(store, "t", {
    dModel: 8,
    heads: 2,
    feedForward: 12,
    dropout: 0.5,
  });
  store.init(new Rng(1));
  const w = asWeights(store);
  const r = await checkCase({
    name: "transformer layer",
    shapes: { x: [3, 2, 8] },
    build: ({ x }) =>
      layer.apply(new ModelContext(x.graph, store, { paramSource: "constant" }), x, "eval"),
    tf: ({ x }) => transformerLayerForward(w, "t", x, 2),
  });
  assert(r.tfErr.x < 1e-4, `vs tfjs: rel err ${r.tfErr.x.toExponential(2)}`);
  assert(r.fdErr < 2e-3, `finite differences (${r.fdDtype}): ${r.fdErr.toExponential(2)}`);
});

Deno.test("cross-sample attention (train mode): parameter gradients match tfjs and finite differences", async () => {
  const [b, c, h, w] = [3, 8, 2, 2];
  const cma = new CrossSampleAttention({ channels: c, heads: 2 }, new Rng(2));
  const rng = new Rng(3);
  const f = randn(rng, b * c * h * w), r = randn(rng, b * c * h * w);
  const step = await TrainStep.build({
    models: { cma },
    inputs: { f: [b, c, h, w], r: [b, c, h, w] },
    optimizer: sgd(),
    outputGradients: true,
    seed: 5,
    session: { threads: 1 },
    loss: (g) => ({
      loss: op.sum(op.mul(cma.apply(g.context("cma"), g.input("f"), "train"), g.input("r"))),
    }),
  });
  const rngState = step.rng.state();
  const { names, tensors } = weightsOf(cma.store);
  const res = await step.run({ f, r, lr: 0 });
  const masks = [...step.dropoutMasks().values()].map((m) => m.slice());
  assertEquals(masks.length, 8, "4 dropout masks per layer");
  assert(masks[0].some((v) => v === 0) && masks[0].some((v) => v === 2), "p = 0.5 masks");

  // tfjs: tokens [B, P, C]; intra: sequence = positions; inter: sequence = samples.
  const shapes = (l: number, n: number) => [[n, 2, l, l], [l * n, c], [l * n, 4 * c], [l * n, c]];
  const intraMasks = masks.slice(0, 4).map((m, i) => tf.tensor(m, shapes(h * w, b)[i]));
  const interMasks = masks.slice(4).map((m, i) => tf.tensor(m, shapes(b, h * w)[i]));
  const tokens = tf.reshape(tf.transpose(tf.tensor(f, [b, c, h, w]), [0, 2, 3, 1]), [b, h * w, c]);
  const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) => {
    const wm = new Map(names.map((n, i) => [n, ws[i]]));
    const intra = tf.transpose(
      transformerLayerForward(
        wm,
        "intra_attention.encoder_layers",
        tf.transpose(tokens, [1, 0, 2]),
        2,
        intraMasks,
      ),
      [1, 0, 2],
    );
    const inter = transformerLayerForward(
      wm,
      "inter_attention.encoder_layers",
      intra,
      2,
      interMasks,
    );
    const out = tf.transpose(tf.reshape(inter, [b, h, w, c]), [0, 3, 1, 2]);
    return tf.sum(tf.mul(out, tf.tensor(r, [b, c, h, w]))) as tf.Scalar;
  })(tensors);
  const want = new Float32Array(cma.store.numParams);
  let off = 0;
  for (const g of grads) want.set(g.dataSync(), (off += g.size) - g.size);
  const grad = res.gradients!.get("cma")!;
  assert(Math.abs(res.loss - value.dataSync()[0]) < 1e-4 * Math.abs(res.loss), "loss vs tfjs");
  const err = relErr(grad, want);
  assert(err < 1e-4, `parameter gradient vs tfjs: rel err ${err.toExponential(2)}`);

  // Central differences with the same masks (the step's generator rewound before each run).
  const fd = await directionalError(cma.store.params.data, grad, async () => {
    step.rng = new Rng(rngState);
    return (await step.run({ f, r, lr: 0 })).loss;
  });
  assert(fd < 2e-3, `finite differences rel err ${fd.toExponential(2)}`);
  await step.release();
});

Deno.test("cross-sample attention is the identity in eval mode (no parameters, no nodes)", () => {
  const cma = new CrossSampleAttention({ channels: 8 }, new Rng(1));
  const g = new Graph();
  const x = g.input("x", [2, 8, 3, 3]);
  const ctx = new ModelContext(g, cma.store);
  assert(cma.apply(ctx, x, "eval") === x, "eval returns its input");
  assertEquals(g.nodes.length, 0);
  assertEquals(ctx.usedParams().size, 0);
  assert(size([cma.store.numParams]) > 0, "train mode has parameters");
});
