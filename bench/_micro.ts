import { Graph, type Tensor } from "../engine/graph.ts";
import * as op from "../engine/ops.ts";
import { ort, Session } from "../engine/session.ts";

async function time(
  name: string,
  build: (g: Graph) => Tensor,
  inputs: Record<string, number[]>,
  opt: "all" | "extended" | "basic" = "all",
) {
  const g = new Graph();
  const xs: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(inputs)) xs[k] = g.input(k, s);
  g.output("y", build(g));
  const s = await Session.create(g.toOnnx(), { optimization: opt, threads: 2 });
  const feeds = Object.fromEntries(
    Object.entries(inputs).map((
      [k, sh],
    ) => [
      k,
      new ort.Tensor(
        "float32",
        new Float32Array(sh.reduce((a, b) => a * b, 1)).map(() => Math.random()),
        sh,
      ),
    ]),
  );
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const t: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(name.padEnd(50), t[5].toFixed(2), "ms");
}
const N = 4, C = 16, O = 16, H = 128;
const X = [N, C, H, H], W = [O, C, 3, 3], DY = [N, O, H, H];
const gIn = (g: Graph, n: string) => g.findInput(n)!;
await time("fwd conv 3x3", (g) => op.conv(gIn(g, "x"), gIn(g, "w"), null, { pads: 1 }), {
  x: X,
  w: W,
});
await time(
  "dX convTranspose",
  (g) => op.convTranspose(gIn(g, "dy"), gIn(g, "w"), null, { pads: 1 }),
  { dy: DY, w: W },
);
await time("dX conv flipped", (g) => {
  const w = gIn(g, "w");
  const idx = g.constant(BigInt64Array.from([2n, 1n, 0n]), [3], "int64");
  let wf = g.addNode("Gather", [w, idx], [{ shape: w.shape, dtype: "float32" }], {
    axis: { kind: "int", value: 2 },
  })[0];
  wf = g.addNode("Gather", [wf, idx], [{ shape: w.shape, dtype: "float32" }], {
    axis: { kind: "int", value: 3 },
  })[0];
  return op.conv(gIn(g, "dy"), op.transpose(wf, [1, 0, 2, 3]), null, { pads: 1 });
}, { dy: DY, w: W });
await time("dW conv over batch", (g) => {
  const x = gIn(g, "x"), dy = gIn(g, "dy");
  return op.transpose(
    op.conv(op.transpose(x, [1, 0, 2, 3]), op.transpose(dy, [1, 0, 2, 3]), null, { pads: 1 }),
    [1, 0, 2, 3],
  );
}, { x: X, dy: DY });
const im2col = (g: Graph, kOuter: boolean) => {
  const x = gIn(g, "x"), dy = gIn(g, "dy");
  const xp = op.pad(x, [0, 0, 1, 1, 0, 0, 1, 1]);
  const cols: Tensor[] = [];
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      cols.push(op.reshape(op.slice(xp, [a, b], [a + H, b + H], [2, 3]), [N, C, H * H]));
    }
  }
  const col = op.concat(cols, 1); // [N, 9C, HW]
  const d2 = op.reshape(dy, [N, O, H * H]);
  if (kOuter) {
    const r = op.sum(op.matmul(d2, op.transpose(col, [0, 2, 1])), [0]); // [O, 9C]
    return op.reshape(op.transpose(op.reshape(r, [O, 9, C]), [0, 2, 1]), [O, C, 3, 3]);
  }
  const r = op.sum(op.matmul(col, op.transpose(d2, [0, 2, 1])), [0]); // [9C, O]
  return op.reshape(op.transpose(op.reshape(r, [9, C, O]), [2, 1, 0]), [O, C, 3, 3]);
};
await time("dW im2col matmul dY@colT", (g) => im2col(g, true), { x: X, dy: DY });
await time("dW im2col matmul col@dYT", (g) => im2col(g, false), { x: X, dy: DY });
await time(
  "dW im2col matmul dY@colT (extended)",
  (g) => im2col(g, true),
  { x: X, dy: DY },
  "extended",
);
await time("dW im2col matmul dY@colT (basic)", (g) => im2col(g, true), { x: X, dy: DY }, "basic");
await time("fwd conv 3x3 (again)", (g) => op.conv(gIn(g, "x"), gIn(g, "w"), null, { pads: 1 }), {
  x: X,
  w: W,
});
await time("dW 9 slices + batched matmul", (g) => {
  const x = gIn(g, "x"), dy = gIn(g, "dy");
  const xp = op.pad(x, [0, 0, 1, 1, 0, 0, 1, 1]);
  const d2 = op.reshape(dy, [N, O, H * H]);
  const parts: Tensor[] = [];
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      const xs = op.reshape(op.slice(xp, [a, b], [a + H, b + H], [2, 3]), [N, C, H * H]);
      parts.push(op.reshape(op.sum(op.matmul(d2, op.transpose(xs, [0, 2, 1])), [0]), [O, C, 1]));
    }
  }
  return op.reshape(op.concat(parts, 2), [O, C, 3, 3]);
}, { x: X, dy: DY });
await time("dW 9 slices, one gemm over N*HW", (g) => {
  const x = gIn(g, "x"), dy = gIn(g, "dy");
  const xp = op.pad(op.transpose(x, [1, 0, 2, 3]), [0, 0, 1, 1, 0, 0, 1, 1]); // [C,N,H+2,W+2]
  const d2 = op.reshape(op.transpose(dy, [1, 0, 2, 3]), [O, N * H * H]);
  const parts: Tensor[] = [];
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      const xs = op.reshape(op.slice(xp, [a, b], [a + H, b + H], [2, 3]), [C, N * H * H]);
      parts.push(op.reshape(op.gemm(d2, xs, null, { transB: true }), [O, C, 1]));
    }
  }
  return op.reshape(op.concat(parts, 2), [O, C, 3, 3]);
}, { x: X, dy: DY });
