import { assert, assertEquals, assertRejects, assertThrows } from "../io/assert.ts";
import { decodeShard, encodeShard, fileRangeReader, ShardReader } from "../../preprocess/shard.ts";
import type { Slice2D } from "../../preprocess/normalize.ts";
import { DataError } from "../../io/errors.ts";
import { tempDir } from "../io/python.ts";

const slices: Slice2D[] = [
  {
    caseId: "A",
    z: 0,
    width: 3,
    height: 2,
    image: new Float32Array([1, 2, 3, 4, 5, -6.5]),
    label: new Uint8Array([0, 1, 1, 0, 2, 0]),
  },
  { caseId: "A", z: 7, width: 5, height: 3, image: new Float32Array(15).map((_, i) => i / 3) },
  {
    caseId: "Bé",
    z: 2,
    width: 1,
    height: 1,
    image: new Float32Array([NaN]),
    label: new Uint8Array([3]),
  },
];

Deno.test("shard encode/decode keeps every slice, label and meta", async () => {
  const bytes = encodeShard(slices, { recipe: { size: [3, 2] }, shard: 0 });
  const { index, slices: back } = decodeShard(bytes);
  assertEquals(index.count, 3);
  assertEquals(index.meta, { recipe: { size: [3, 2] }, shard: 0 });
  assertEquals(back.map((s) => [s.caseId, s.z, s.width, s.height, !!s.label]), [
    ["A", 0, 3, 2, true],
    ["A", 7, 5, 3, false],
    ["Bé", 2, 1, 1, true],
  ]);
  assertEquals(Array.from(back[0].image), [1, 2, 3, 4, 5, -6.5]);
  assertEquals(Array.from(back[0].label!), [0, 1, 1, 0, 2, 0]);
  assertEquals(Array.from(back[1].image), Array.from(slices[1].image));
  assert(Number.isNaN(back[2].image[0]));
  assert(index.entries.every((e) => e.image % 4 === 0));
  // streamed through range reads: only the header and the asked-for slice are fetched
  const reads: [number, number][] = [];
  const reader = await ShardReader.open((o, l) => {
    reads.push([o, l]);
    return Promise.resolve(bytes.subarray(o, o + l));
  });
  const s1 = await reader.slice(1);
  assertEquals(Array.from(s1.image), Array.from(slices[1].image));
  assertEquals(reads.length, 3);
  assertEquals(reads[2], [index.entries[1].image, 60]);
  const all: Slice2D[] = [];
  for await (const s of reader) all.push(s);
  assertEquals(all.map((s) => s.z), [0, 7, 2]);
  // from a file
  const dir = tempDir("shard");
  Deno.writeFileSync(`${dir}/s.bin`, bytes);
  const fromFile = await ShardReader.open(fileRangeReader(`${dir}/s.bin`));
  assertEquals(Array.from((await fromFile.slice(2)).label!), [3]);
  Deno.removeSync(dir, { recursive: true });
  // an empty shard is valid
  assertEquals(decodeShard(encodeShard([])).slices, []);
});

Deno.test("corrupt shards are DataErrors", async () => {
  const bytes = encodeShard(slices);
  assertThrows(() => decodeShard(new TextEncoder().encode("NOTASHARD...")), DataError);
  assertThrows(() => decodeShard(bytes.subarray(0, bytes.length - 4)), DataError);
  const bad = bytes.slice();
  bad[14] = 0x7b;
  bad[13] = 0x7b;
  assertThrows(() => decodeShard(bad), DataError);
  const r = await ShardReader.fromBytes(bytes.subarray(0, bytes.length - 4));
  await assertRejects(() => r.slice(2), DataError);
});
