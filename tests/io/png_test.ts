import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../assert.ts";
import { decodePngVolume, encodePngVolume, readPng } from "../../io/png.ts";
import { DataError } from "../../io/errors.ts";

const FIX = new URL("../../fixtures/data/png/", import.meta.url).pathname;
// Golden files written by Pillow 9.4 (see fixtures/data/png/README.md), with their pixel values.
const expected = JSON.parse(Deno.readTextFileSync(`${FIX}expected.json`)) as Record<
  string,
  number[][]
>;

Deno.test("golden PNGs written by Pillow read with the right values (8/16/1-bit, palette)", () => {
  for (const name of ["grey8", "grey16", "bilevel1", "palette"]) {
    const v = readPng(`${FIX}${name}.png`);
    assertEquals(v.shape, [7, 5, 1], name);
    assertEquals(Array.from(v.data), expected[name].flat(), name);
  }
  // Grey stored as RGB is accepted.
  assertEquals(Array.from(readPng(`${FIX}rgb_grey.png`).data), expected.grey8.flat());
  // pHYs of 254 dpi = 10 px/mm -> 0.1 mm pixels.
  const dpi = readPng(`${FIX}grey8_dpi.png`);
  assertAlmostEquals(dpi.spacing[0], 0.1, 1e-3);
  assertAlmostEquals(dpi.affine[5], 0.1, 1e-3);
});

Deno.test("PNG write/read round trip, 8 and 16 bit", () => {
  const w = 13, h = 9;
  const img = new Float32Array(w * h).map((_, i) => (i * 977) % 65536);
  const back = decodePngVolume(
    encodePngVolume({ data: img, shape: [w, h, 1], spacing: [1, 1, 1], affine: [] }),
    "x.png",
  );
  assertEquals(back.shape, [w, h, 1]);
  assertEquals(Array.from(back.data), Array.from(img));
  const mask = new Uint8Array(w * h).map((_, i) => i % 5);
  const m = decodePngVolume(
    encodePngVolume({ data: mask, shape: [w, h, 1], spacing: [1, 1, 1], affine: [] }),
    "m.png",
  );
  assertEquals(Array.from(m.data), Array.from(mask));
});

Deno.test("bad PNG input gives one-line DataErrors", () => {
  const good = Deno.readFileSync(`${FIX}grey16.png`);
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, good.length - 30), /unreadable PNG|truncated/],
    [new TextEncoder().encode("GIF89a not a png"), /not a PNG file/],
    [Deno.readFileSync(`${FIX}rgb_colour.png`), /colour PNG .*greyscale/],
  ];
  for (const [bytes, pattern] of cases) {
    const e = assertThrows(() => decodePngVolume(bytes, "slice_004.png"), DataError);
    assert(pattern.test(e.message), e.message);
    assert(e.message.startsWith("slice_004.png: ") && !e.message.includes("\n"), e.message);
  }
  assert(/file not found/.test(assertThrows(() => readPng(`${FIX}nope.png`), DataError).message));
});
