/** Optimizer updates vs PyTorch's formulas, and losses vs direct float64 computations. */
import { assert, assertEquals } from "../assert.ts";
import { randn, relErr } from "./grad_util.ts";
import { Graph, type Tensor } from "../../engine/graph.ts";
import * as L from "../../engine/losses.ts";
import * as op from "../../engine/ops.ts";
import {
  adam,
  adamw,
  declareScalars,
  type OptimizerSpec,
  scalarFeeds,
  sgd,
  stateNames,
  update,
} from "../../engine/optim.ts";
import { ort, Session } from "../../engine/session.ts";
import { Rng } from "../../random/rng.ts";

/** torch.optim semantics in float64 (SGD momentum/wd; Adam L2; AdamW decoupled). */
function reference(spec: OptimizerSpec, p: number[], grads: number[][], lr: number): number[] {
  const n = p.length;
  const s1 = new Array(n).fill(0), s2 = new Array(n).fill(0);
  p = [...p];
  grads.forEach((g, t) => {
    const wd = spec.weightDecay ?? 0;
    for (let i = 0; i < n; i++) {
      if (spec.kind === "sgd") {
        const d = g[i] + wd * p[i];
        s1[i] = (spec.momentum ?? 0) > 0 ? (spec.momentum ?? 0) * s1[i] + d : d;
        p[i] -= lr * s1[i];
      } else {
        const [b1, b2] = spec.betas ?? [0.9, 0.999];
        const eps = spec.eps ?? 1e-8;
        let gi = g[i];
        if (spec.kind === "adamw") p[i] *= 1 - lr * wd;
        else gi += wd * p[i];
        s1[i] = b1 * s1[i] + (1 - b1) * gi;
        s2[i] = b2 * s2[i] + (1 - b2) * gi * gi;
        const bc1 = 1 - b1 ** (t + 1), bc2 = 1 - b2 ** (t + 1);
        p[i] -= (lr / bc1) * s1[i] / (Math.sqrt(s2[i]) / Math.sqrt(bc2) + eps);
      }
    }
  });
  return p;
}

for (
  const spec of [
    sgd({ momentum: 0.9, weightDecay: 1e-2 }),
    sgd(),
    adam({ weightDecay: 1e-2 }),
    adamw(),
  ]
) {
  Deno.test(`optimizer ${spec.kind} ${JSON.stringify(spec)} matches torch formulas`, async () => {
    const n = 50;
    const g = new Graph("opt");
    const p = g.input("p", [n]), grad = g.input("g", [n]);
    const names = stateNames(spec);
    const st = names.map((k) => g.input(k, [n]));
    const res = update(spec, p, grad, st, declareScalars(g, spec));
    g.output("p_new", res.param);
    res.state.forEach((t, i) => g.output(`${names[i]}_new`, t));
    const sess = await Session.create(g.toOnnx(), { threads: 1 });
    const rng = new Rng(3);
    const p0 = randn(rng, n);
    const grads = [0, 1, 2].map(() => randn(rng, n));
    let cur: Float32Array = p0.slice();
    let state: Float32Array[] = names.map(() => new Float32Array(n));
    for (let t = 0; t < 3; t++) {
      const feeds: Record<string, ort.Tensor> = {
        p: new ort.Tensor("float32", cur, [n]),
        g: new ort.Tensor("float32", grads[t], [n]),
        lr: new ort.Tensor("float32", new Float32Array([0.05]), []),
      };
      names.forEach((k, i) => (feeds[k] = new ort.Tensor("float32", state[i], [n])));
      for (const [k, v] of Object.entries(scalarFeeds(spec, t))) {
        feeds[k] = new ort.Tensor("float32", new Float32Array([v]), []);
      }
      const out = await sess.run(feeds);
      cur = out.p_new.data as Float32Array;
      state = names.map((k) => out[`${k}_new`].data as Float32Array);
    }
    const want = reference(spec, Array.from(p0), grads.map((x) => Array.from(x)), 0.05);
    const moved = want.map((w, i) => w - p0[i]);
    const got = Array.from(cur).map((c, i) => c - p0[i]);
    assert(relErr(got, moved) < 1e-4, `update rel err ${relErr(got, moved)}`);
  });
}

async function evalScalar(build: (g: Graph) => Tensor): Promise<number> {
  const g = new Graph("loss");
  g.output("y", build(g));
  const s = await Session.create(g.toOnnx(), { threads: 1 });
  const out = await s.run({});
  return Number(out.y.data[0]);
}

const N = 2, C = 3, P = 4; // batch, classes, pixels
const rng = new Rng(9);
const logits = randn(rng, N * C * P);
const target = new Float32Array(N * C * P); // one-hot of random labels
const labels = new Int32Array(N * P).map(() => rng.int(0, C));
labels.forEach((l, i) => (target[Math.floor(i / P) * C * P + l * P + (i % P)] = 1));
const weight = new Float32Array(N * P).map((_, i) => (i % 3 === 0 ? 0 : 1));
const at = (a: Float32Array, n: number, c: number, p: number) => a[n * C * P + c * P + p];
const softmax = (n: number, p: number) => {
  const e = [0, 1, 2].map((c) => Math.exp(at(logits, n, c, p)));
  const s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};
const c = (g: Graph, a: Float32Array, shape: number[]) => g.constant(a, shape, "float32");

Deno.test("cross-entropy (plain, masked mean, masked weighted) and one-hot", async () => {
  let plain = 0, masked = 0, wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      const ce = -Math.log(softmax(n, p)[labels[n * P + p]]);
      plain += ce;
      masked += ce * weight[n * P + p];
      wsum += weight[n * P + p];
    }
  }
  const mk = (o: L.PixelLossOptions | ((g: Graph) => L.PixelLossOptions)) => (g: Graph) =>
    L.crossEntropy(
      c(g, logits, [N, C, P]),
      L.oneHot(g.constant(labels, [N, P], "int32"), C),
      typeof o === "function" ? o(g) : o,
    );
  assert(Math.abs((await evalScalar(mk({}))) - plain / (N * P)) < 1e-6, "plain CE");
  const w = (r: L.Reduction) => (g: Graph) => ({ weight: c(g, weight, [N, P]), reduction: r });
  assert(
    Math.abs((await evalScalar(mk(w("mean")))) - masked / (N * P)) < 1e-6,
    "masked CE / all pixels",
  );
  assert(
    Math.abs((await evalScalar(mk(w("weighted")))) - masked / wsum) < 1e-6,
    "masked CE / selected pixels",
  );
});

Deno.test("Dice variants follow PAPERS.md §0 definitions", async () => {
  const sums = (c0: number) => {
    let pt = 0, p1 = 0, t1 = 0, p2 = 0, t2 = 0;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        const pr = softmax(n, p)[c0], t = at(target, n, c0, p);
        pt += pr * t, p1 += pr, t1 += t, p2 += pr * pr, t2 += t * t;
      }
    }
    return { pt, p1, t1, p2, t2 };
  };
  const expect = {
    linear: (s: ReturnType<typeof sums>) => 1 - (2 * s.pt + 1e-8) / (s.p1 + s.t1 + 1e-8),
    squared: (s: ReturnType<typeof sums>) => 1 - (2 * s.pt + 1e-5) / (s.p2 + s.t2 + 1e-5),
    ssl4mis: (s: ReturnType<typeof sums>) => 1 - s.pt / (s.p2 + s.t2 + 1e-10),
  };
  for (const variant of ["linear", "squared", "ssl4mis"] as const) {
    const want = [0, 1, 2].map((k) => expect[variant](sums(k))).reduce((a, b) => a + b) / 3;
    const got = await evalScalar((g) =>
      L.diceLoss(op.softmax(c(g, logits, [N, C, P]), 1), c(g, target, [N, C, P]), { variant })
    );
    assert(Math.abs(got - want) < 1e-6, `${variant}: ${got} vs ${want}`);
    const fg = await evalScalar((g) =>
      L.diceLoss(op.softmax(c(g, logits, [N, C, P]), 1), c(g, target, [N, C, P]), {
        variant,
        classes: [1],
      })
    );
    assert(Math.abs(fg - expect[variant](sums(1))) < 1e-6, `${variant} class 1`);
  }
});

Deno.test("MSE and KL, plain and masked", async () => {
  const b = randn(new Rng(4), N * C * P);
  let se = 0, wse = 0, kl = 0, wkl = 0, wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      const w = weight[n * P + p];
      wsum += w;
      let klp = 0;
      const ps = softmax(n, p);
      const qe = [0, 1, 2].map((k) => Math.exp(at(b, n, k, p)));
      const qs = qe.map((v) => v / qe.reduce((x, y) => x + y));
      for (let k = 0; k < C; k++) {
        const d = at(logits, n, k, p) - at(b, n, k, p);
        se += d * d, wse += w * d * d;
        klp += ps[k] * (Math.log(ps[k]) - Math.log(qs[k]));
      }
      kl += klp, wkl += w * klp;
    }
  }
  const A = (g: Graph) => c(g, logits, [N, C, P]), B = (g: Graph) => c(g, b, [N, C, P]);
  const W = (g: Graph) => c(g, weight, [N, P]);
  assert(Math.abs((await evalScalar((g) => L.mse(A(g), B(g)))) - se / (N * C * P)) < 1e-6, "mse");
  assert(
    Math.abs(
      (await evalScalar((g) => L.mse(A(g), B(g), { weight: W(g), reduction: "weighted" }))) -
        wse / (wsum * C),
    ) < 1e-6,
    "masked mse",
  );
  const ls = (t: Tensor) => op.logSoftmax(t, 1);
  assert(
    Math.abs((await evalScalar((g) => L.klDivergence(ls(A(g)), ls(B(g))))) - kl / (N * P)) < 1e-6,
    "kl",
  );
  assert(
    Math.abs(
      (await evalScalar((g) =>
        L.klDivergence(ls(A(g)), ls(B(g)), { weight: W(g), reduction: "weighted" })
      )) - wkl / wsum,
    ) < 1e-6,
    "masked kl",
  );
});

Deno.test("graph builder: shape mismatches name the op and both shapes", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3]), b = g.input("b", [4, 3]);
  let msg = "";
  try {
    op.add(a, b);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("Add") && msg.includes("[2,3]") && msg.includes("[4,3]"), msg);
  try {
    op.conv(g.input("x", [1, 2, 8, 8]), g.input("w", [4, 3, 3, 3]));
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("Conv") && msg.includes("[1,2,8,8]") && msg.includes("[4,3,3,3]"), msg);
  // A dynamic batch survives reshape with 0 and broadcasting.
  const x = g.input("xb", ["batch", 3, 4, 4]);
  const r = op.reshape(x, [0, 3, -1]);
  assertEquals(r.shape, ["batch", 3, 16]);
  assertEquals(op.mul(r, g.input("s", [1, 3, 1])).shape, ["batch", 3, 16]);
});
