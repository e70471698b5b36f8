/**
 * The page's drawing and painting code (annotate/web/view.js, paint.js) run in Deno against
 * expectations written out by hand or by direct indexing; and the suggested slice.
 */
import { assert, assertEquals } from "../assert.ts";
import { floodFill, History, stampDisk, strokeLine } from "../../annotate/web/paint.js";
import {
  composeRgba,
  extractPlane,
  hexRgb,
  planeGeometry,
  windowLut,
} from "../../annotate/web/view.js";
import { suggestSlice } from "../../annotate/suggest.ts";

const grid = (buf: Uint8Array, w: number) =>
  Array.from({ length: buf.length / w }, (_, y) => [...buf.subarray(y * w, (y + 1) * w)].join(""));

Deno.test("brush disks by radius, clipped at the edges; strokes have no gaps", () => {
  const disk = (r: number) => {
    const b = new Uint8Array(49);
    stampDisk(b, 7, 7, 3, 3, r, 1);
    return grid(b, 7);
  };
  assertEquals(disk(0)[3], "0001000");
  assertEquals(disk(1).slice(2, 5), ["0011100", "0011100", "0011100"]);
  assertEquals(disk(2).slice(1, 6), ["0011100", "0111110", "0111110", "0111110", "0011100"]);
  const corner = new Uint8Array(16);
  stampDisk(corner, 4, 4, 0, 0, 1, 2);
  assertEquals(grid(corner, 4), ["2200", "2200", "0000", "0000"]);
  // a diagonal drag between two far-apart mouse events paints every voxel in between
  const s = new Uint8Array(36);
  strokeLine(s, 6, 6, 0, 0, 5, 5, 0, 1);
  assertEquals(grid(s, 6), ["100000", "010000", "001000", "000100", "000010", "000001"]);
  const flat = new Uint8Array(20);
  strokeLine(flat, 10, 2, 1, 0, 8, 1, 0, 3);
  assertEquals(flat.filter((v) => v === 3).length, 8); // one voxel per column 1..8
});

Deno.test("fill stays inside an outline; undo restores each step", () => {
  const w = 7, h = 6;
  const b = new Uint8Array(w * h);
  const history = new History(2);
  history.push(b);
  // a closed ring of class 2
  for (let i = 1; i <= 5; i++) [b[i + w], b[i + 4 * w]] = [2, 2];
  for (let j = 1; j <= 4; j++) [b[1 + j * w], b[5 + j * w]] = [2, 2];
  history.push(b);
  assertEquals(floodFill(b, w, h, 3, 2, 1), 6); // the 3x2 inside
  assertEquals(floodFill(b, w, h, 3, 2, 1), 0); // same value: nothing to do
  assertEquals(grid(b, w), [
    "0000000",
    "0222220",
    "0211120",
    "0211120",
    "0222220",
    "0000000",
  ]);
  history.push(b); // the oldest snapshot (all zero) falls out: limit 2
  assert(history.undo(b));
  assertEquals(grid(b, w)[2], "0211120");
  assert(history.undo(b));
  assertEquals(grid(b, w)[2], "0200020");
  assert(!history.undo(b));
  // fill of the outside reaches around the ring but not into it
  floodFill(b, w, h, 0, 0, 1);
  assertEquals(grid(b, w)[2], "1200021");
});

Deno.test("planes match direct indexing; window LUT; outlines only on borders", () => {
  const shape = [4, 3, 5] as const;
  const [nx, ny, nz] = shape;
  const vol = new Uint16Array(nx * ny * nz).map((_, i) => i);
  const at = (x: number, y: number, z: number) => x + nx * (y + ny * z);
  const axial = extractPlane(vol, shape, "axial", 2, new Uint16Array(nx * ny));
  assertEquals(axial[1 + nx * 2], at(1, 2, 2));
  const coronal = extractPlane(vol, shape, "coronal", 1, new Uint16Array(nx * nz));
  assertEquals(coronal[3 + nx * 0], at(3, 1, nz - 1)); // top row = last z
  assertEquals(coronal[0 + nx * 4], at(0, 1, 0));
  const sagittal = extractPlane(vol, shape, "sagittal", 3, new Uint16Array(ny * nz));
  assertEquals(sagittal[2 + ny * 1], at(3, 2, nz - 2));
  assertEquals(planeGeometry(shape, [0.5, 0.7, 3], "sagittal"), { w: 3, h: 5, du: 0.7, dv: 3 });

  const lut = windowLut([-100, 555.35], [0, 100]);
  const q = (v: number) => Math.round((v + 100) / (655.35 / 65535));
  assertEquals([lut[0], lut[q(0)], lut[q(50)], lut[q(100)], lut[65535]], [0, 0, 128, 255, 255]);

  const w = 5, h = 5;
  const labels = new Uint8Array(w * h);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) labels[x + w * y] = 1;
  const rgba = new Uint8ClampedArray(w * h * 4);
  const grey = new Uint16Array(w * h).fill(q(50));
  const colours = [null, hexRgb("#D55E00")] as const;
  composeRgba(rgba, grey, lut, w, h, [{ labels, colours, alpha: 1, outline: true }]);
  const px = (x: number, y: number) => [...rgba.subarray((x + w * y) * 4, (x + w * y) * 4 + 4)];
  assertEquals(px(1, 1), [213, 94, 0, 255]); // border of the square: class colour
  assertEquals(px(2, 2), [128, 128, 128, 255]); // its inside: grey
  composeRgba(rgba, grey, lut, w, h, [{ labels, colours, alpha: 0.5, outline: false }]);
  assertEquals(px(2, 2), [170, 111, 64, 255]); // half grey, half colour (170.5 rounds to even)
  assertEquals(px(0, 0), [128, 128, 128, 255]);
});

Deno.test("the suggested slice is the middle of the slices holding the scan, padding excluded", () => {
  const [nx, ny, nz] = [20, 20, 12];
  const data = new Float32Array(nx * ny * nz);
  // slices 0..3 are constant padding; 4..11 hold a disk of varying size, with one hot voxel
  for (let z = 4; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        data[x + nx * (y + ny * z)] = (x - 10) ** 2 + (y - 10) ** 2 < (z - 2) ** 2 ? 100 : 0;
      }
    }
  }
  data[5 + nx * ny * 11] = 1e6;
  const volume = { data, shape: [nx, ny, nz] as const, spacing: [1, 1, 1] as const, affine: [] };
  assertEquals(suggestSlice(volume), 7); // the middle of 4..11
  assertEquals(suggestSlice({ ...volume, data: new Float32Array(nx * ny * nz) }), 5);
});
