import { assertEquals } from "../assert.ts";
import { sliceInputs, sliceStack } from "../../deploy/slices.ts";

// Four 2x1 planes whose values say their slice: plane z holds [10z, 10z + 1].
const volume = Float32Array.from({ length: 8 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));

Deno.test("sliceStack: a slice between its neighbours, the end slices repeated past the ends", () => {
  const out = new Float32Array(6);
  sliceStack(volume, 4, 2, 2, 1, out);
  assertEquals([...out], [10, 11, 20, 21, 30, 31]);
  sliceStack(volume, 4, 2, 0, 1, out);
  assertEquals([...out], [0, 1, 0, 1, 10, 11]);
  const wide = new Float32Array(10);
  sliceStack(volume, 4, 2, 3, 2, wide);
  assertEquals([...wide], [10, 11, 20, 21, 30, 31, 30, 31, 30, 31]);
});

Deno.test("sliceInputs: without context the volume's own planes, with it one stack per slice", () => {
  const view = sliceInputs(volume, 4, 2, 1, 2, 0);
  assertEquals([...view], [10, 11, 20, 21]);
  assertEquals(view.buffer, volume.buffer);
  assertEquals([...sliceInputs(volume, 4, 2, 2, 2, 1)], [
    ...[10, 11, 20, 21, 30, 31],
    ...[20, 21, 30, 31, 30, 31],
  ]);
});
