import { assertEquals, assertThrows } from "../assert.ts";
import { Graph, ShapeError } from "../../engine/graph.ts";
import * as op from "../../engine/ops.ts";

Deno.test("Reshape folds a dynamic batch into the -1 and unfolds it again", () => {
  const g = new Graph();
  const x = g.input("x", ["batch", 4, 2, 3]);
  const folded = op.reshape(x, [-1, 2, 3]);
  assertEquals(folded.shape, ["batch*4", 2, 3]);
  assertEquals(op.reshape(folded, [-1, 2, 2, 3]).shape, ["batch*2", 2, 2, 3]);
  assertEquals(op.reshape(folded, [-1, 4, 6]).shape, ["batch", 4, 6]);
  assertEquals(op.reshape(x, [0, 24]).shape, ["batch", 24]);
  assertThrows(() => op.reshape(x, [0, 5, -1]), ShapeError); // 24 is not a multiple of 5
  assertThrows(() => op.reshape(x, [24]), ShapeError); // the batch needs a 0 or the -1
  const two = g.input("y", ["batch", "time", 3]);
  assertThrows(() => op.reshape(two, [-1]), ShapeError); // two dynamic dims in one -1
});
