import { assert, assertEquals, assertRejects } from "../assert.ts";
import { relErr } from "./grad_util.ts";
import { Graph } from "../../engine/graph.ts";
import { ModelContext } from "../../engine/models/context.ts";
import { BatchNorm, Conv, convBn, ConvTranspose } from "../../engine/models/layers.ts";
import { ParamStore } from "../../engine/params.ts";
import { UNet } from "../../engine/models/unet.ts";
import { VNet } from "../../engine/models/vnet.ts";
import { exportOnnx, Predictor } from "../../engine/predict.ts";
import { ort, Session } from "../../engine/session.ts";
import { Rng } from "../../random/rng.ts";

Deno.test("exported U-Net: dynamic batch, same output as the live-weight Predictor", async () => {
  const model = new UNet({ numClasses: 3, channels: [4, 8, 16] }, new Rng(2));
  // Non-trivial running statistics, so eval-mode BatchNorm matters.
  model.store.buffers.data.forEach((_, i, a) => (a[i] = 0.5 + (i % 7) * 0.1));
  const bytes = exportOnnx(model, {
    spatial: [16, 16],
    outputs: ["logits", "probs"],
    metadata: { spacing: "1,1" },
  });
  const sess = await Session.create(bytes, { threads: 1 });
  const pred = await Predictor.create(model, {
    spatial: [16, 16],
    outputs: ["logits", "probs"],
    session: { threads: 1 },
  });
  for (const n of [1, 3]) {
    const x = new Float32Array(n * 256).map((_, i) => Math.sin(i));
    const a = await sess.run({ image: new ort.Tensor("float32", x, [n, 1, 16, 16]) });
    const b = await pred.run(x, n);
    assertEquals(a.probs.dims, [n, 3, 16, 16]);
    assert(relErr(a.logits.data as Float32Array, b.logits) < 1e-6, "export and Predictor differ");
    const p = a.probs.data as Float32Array;
    const sum = p[0] + p[256] + p[512];
    assert(Math.abs(sum - 1) < 1e-5, `softmax over classes sums to ${sum}`);
  }
  // Predictor reads live weights: changing them changes its output.
  const x = new Float32Array(256).map((_, i) => Math.cos(i));
  const before = (await pred.run(x, 1)).logits.slice();
  model.store.params.data.forEach((v, i, a) => (a[i] = 1.5 * v + 0.01));
  const after = (await pred.run(x, 1)).logits;
  assert(relErr(after, before) > 1e-4, "Predictor did not see the weight change");
  await sess.release();
  await pred.release();
});

Deno.test("exported V-Net: dynamic batch through its up-sampling, same as the Predictor", async () => {
  // The transposed convolutions fold depth into the batch axis: a batch of windows must give
  // each window's own output, exported and live.
  const model = new VNet({ nFilters: 2, numClasses: 2 }, new Rng(3));
  model.store.buffers.data.forEach((_, i, a) => (a[i] = 0.5 + (i % 5) * 0.1));
  const spatial = [16, 16, 16], per = 16 ** 3;
  const sess = await Session.create(exportOnnx(model, { spatial }), { threads: 1 });
  const pred = await Predictor.create(model, { spatial, session: { threads: 1 } });
  const x = new Float32Array(3 * per).map((_, i) => Math.sin(i * 0.37));
  const all = await sess.run({ image: new ort.Tensor("float32", x, [3, 1, ...spatial]) });
  assertEquals(all.probs.dims, [3, 2, ...spatial]);
  const exported = all.probs.data as Float32Array;
  assert(relErr(exported, (await pred.run(x, 3)).probs) < 1e-5, "export and Predictor differ");
  for (let i = 0; i < 3; i++) {
    const one = (await pred.run(x.slice(i * per, (i + 1) * per), 1)).probs;
    const inBatch = exported.slice(i * 2 * per, (i + 1) * 2 * per);
    assert(relErr(inBatch, one) < 1e-5, `window ${i} differs inside a batch`);
  }
  await sess.release();
  await pred.release();
});

Deno.test("exported models pass onnx.checker full_check (python3-onnx) and keep metadata", async () => {
  const dir = await Deno.makeTempDir();
  const unet = exportOnnx(
    new UNet({ numClasses: 2, channels: [4, 8], up: "bilinear" }, new Rng(1)),
    {
      spatial: [8, 8],
      metadata: { "duet.preprocess": "zscore" },
    },
  );
  const vnet = exportOnnx(new VNet({ nFilters: 2 }, new Rng(1)), { spatial: [16, 16, 16] });
  await Deno.writeFile(`${dir}/unet.onnx`, unet);
  await Deno.writeFile(`${dir}/vnet.onnx`, vnet);
  const script = `
import onnx, sys
for f in sys.argv[1:]:
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    print(f.split('/')[-1], m.opset_import[0].version, {p.key: p.value[:20] for p in m.metadata_props})
`;
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, `${dir}/unet.onnx`, `${dir}/vnet.onnx`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, `onnx checker failed: ${text}`);
  assert(text.includes("unet.onnx 17") && text.includes("duet.preprocess"), text);
  assert(text.includes("vnet.onnx 17"), text);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("unavailable execution providers fail with a clear message", async () => {
  const model = new UNet({ numClasses: 2, channels: [4, 8] }, new Rng(1));
  const bytes = exportOnnx(model, { spatial: [8, 8] });
  await assertRejects(
    () => Session.create(bytes, { device: "cuda" }),
    /CUDA execution provider not available in this onnxruntime build/,
  );
});

Deno.test("eval mode folds BatchNorm into the convolution without changing the result", async () => {
  const store = new ParamStore();
  const conv = new Conv(store, "c", { inC: 3, outC: 5, kernel: 3, pad: 1, dims: 2 });
  const deconv = new ConvTranspose(store, "d", { inC: 5, outC: 4, kernel: 2, dims: 2 });
  const bn1 = new BatchNorm(store, "b1", 5), bn2 = new BatchNorm(store, "b2", 4);
  store.init(new Rng(4));
  const rng = new Rng(5);
  store.params.data.forEach((v, i, a) => (a[i] = v + 0.3 * rng.normal()));
  store.buffers.data.forEach((_, i, a) => (a[i] = 0.5 + rng.next())); // means and variances
  const g = new Graph();
  const ctx = new ModelContext(g, store, { paramSource: "constant" });
  const x = g.input("x", [2, 3, 6, 6]);
  const folded = convBn(ctx, deconv, bn2, convBn(ctx, conv, bn1, x, "eval"), "eval");
  const plain = bn2.apply(
    ctx,
    deconv.apply(ctx, bn1.apply(ctx, conv.apply(ctx, x), "eval")),
    "eval",
  );
  g.output("folded", folded);
  g.output("plain", plain);
  const s = await Session.create(g.toOnnx(), { threads: 1 });
  const out = await s.run({
    x: new ort.Tensor("float32", new Float32Array(216).map(() => rng.normal()), [2, 3, 6, 6]),
  });
  const err = relErr(out.folded.data as Float32Array, out.plain.data as Float32Array);
  assert(err < 1e-5, `folded BN differs: ${err}`);
  assert(
    g.nodes.filter((n) => n.op === "BatchNormalization").length === 2,
    "only the unfolded path has BN nodes",
  );
  await s.release();
});

Deno.test("a pair: one graph whose probabilities are the mean of its members', live and exported", async () => {
  const [a, b] = [3, 4].map((seed) => {
    const m = new UNet({ numClasses: 3, channels: [4, 8], up: "transpose" }, new Rng(seed));
    m.store.buffers.data.forEach((_, i, d) => (d[i] = 0.4 + ((i * seed) % 5) * 0.1));
    return m;
  });
  b.store.params.data.forEach((v, i, d) => (d[i] = v * 1.7 + 0.01 * (i % 3)));
  const opts = { spatial: [16, 16], session: { threads: 1 } };
  const [pa, pb, pair] = await Promise.all([a, b, [a, b]].map((m) => Predictor.create(m, opts)));
  const x = new Float32Array(2 * 256).map((_, i) => Math.sin(i / 3));
  const [ya, yb, yp] = await Promise.all(
    [pa, pb, pair].map(async (p) => (await p.run(x, 2)).probs),
  );
  const mean = ya.map((v, i) => (v + yb[i]) / 2);
  assert(relErr(yp, mean) < 1e-6, "pair != mean of members");
  assert(relErr(ya, yb) > 1e-2, "the members should differ");
  const sess = await Session.create(exportOnnx([a, b], { spatial: [16, 16] }), { threads: 1 });
  const out = await sess.run({ image: new ort.Tensor("float32", x, [2, 1, 16, 16]) });
  assert(relErr(out.probs.data as Float32Array, mean) < 1e-6, "exported pair != mean of members");
  // Live weights: changing member b changes the pair.
  b.store.params.data.fill(0);
  assert(relErr((await pair.run(x, 2)).probs, mean) > 1e-3, "pair ignores b's live weights");
  for (const p of [pa, pb, pair]) await p.release();
  await sess.release();
});
