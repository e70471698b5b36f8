/** Gradient rules for layout ops. */
import type { GradRule } from "../autodiff.ts";
import type { Tensor } from "../graph.ts";
import { getInt, getInts, getStr } from "../ops/attrs.ts";
import { concat, pad, slice, split, transpose, unsqueeze } from "../ops/shape.ts";
import { reshapeTo, unbroadcast, zerosLike } from "./math.ts";

const X = (c: { x: readonly (Tensor | null)[] }, i: number) => c.x[i]!;

export const shapeRules: Record<string, GradRule> = {
  Gather: (c) => {
    // Rows gathered (axis 0, possibly repeated) scatter-add their gradient back.
    const x = X(c, 0);
    if (getInt(c.node.attrs, "axis", 0) !== 0) throw new Error("Gather gradient: axis 0 only");
    const dx = x.graph.addNode("ScatterND", [zerosLike(x), unsqueeze(X(c, 1), [1]), c.dy[0]!], [{
      shape: x.shape,
      dtype: x.dtype,
    }], { reduction: { kind: "string", value: "add" } })[0];
    return [dx, null];
  },
  Reshape: (c) => [reshapeTo(c.dy[0]!, X(c, 0).shape), null],
  Squeeze: (c) => [reshapeTo(c.dy[0]!, X(c, 0).shape), null],
  Unsqueeze: (c) => [reshapeTo(c.dy[0]!, X(c, 0).shape), null],
  Flatten: (c) => [reshapeTo(c.dy[0]!, X(c, 0).shape)],
  Expand: (c) => [unbroadcast(c.dy[0]!, X(c, 0).shape), null],
  Transpose: (c) => {
    const perm = getInts(c.node.attrs, "perm");
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(c.dy[0]!, inv)];
  },
  Concat: (c) => {
    const axis = getInt(c.node.attrs, "axis", 0);
    const sizes = c.x.map((t) => t!.shape[axis] as number);
    const parts = split(c.dy[0]!, sizes, axis);
    return parts.map((p, i) => (c.needs[i] ? p : null));
  },
  Split: (c) => {
    const x = X(c, 0);
    const axis = getInt(c.node.attrs, "axis", 0);
    const parts = c.y.map((y, i) =>
      c.dy[i] ?? x.graph.constant(new Float32Array(y.size), y.staticShape, y.dtype)
    );
    return [concat(parts, axis), null];
  },
  Slice: (c) => {
    const x = X(c, 0);
    const g = x.graph;
    const starts = g.constValues(X(c, 1));
    const axes = c.x[3] ? g.constValues(c.x[3]) : starts.map((_, i) => i);
    const steps = c.x[4] ? g.constValues(c.x[4]) : starts.map(() => 1);
    if (steps.some((s) => s !== 1)) throw new Error("Slice gradient: only step 1 is supported");
    const pads = new Array(2 * x.rank).fill(0);
    axes.forEach((a0, i) => {
      const a = a0 < 0 ? a0 + x.rank : a0;
      const d = x.shape[a] as number;
      const s = Math.min(Math.max(starts[i] < 0 ? starts[i] + d : starts[i], 0), d);
      pads[a] = s;
      pads[a + x.rank] = d - s - (c.y[0].shape[a] as number);
    });
    return [pad(c.dy[0]!, pads)];
  },
  Pad: (c) => {
    const x = X(c, 0);
    if (getStr(c.node.attrs, "mode", "constant") !== "constant") {
      throw new Error("Pad gradient: only constant padding is differentiable here");
    }
    const pads = x.graph.constValues(X(c, 1));
    const starts = x.shape.map((_, i) => pads[i]);
    const ends = x.shape.map((d, i) => pads[i] + (d as number));
    if (pads.some((p) => p < 0)) throw new Error("Pad gradient: negative pads not supported");
    return [slice(c.dy[0]!, starts, ends, x.shape.map((_, i) => i)), null, null];
  },
};
