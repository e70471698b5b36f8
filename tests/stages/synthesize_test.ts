import { assert, assertEquals } from "../assert.ts";
import { makeMemoryStore } from "../../pipeline/store.ts";
import { decodeArrays } from "../../io/array_container.ts";
import { runTiny, stageFiles, stagesThrough } from "./tiny_run.ts";

/** The synthesize stage's samples of the tiny run with `sets` applied. */
async function samples(sets: string[]) {
  const store = makeMemoryStore();
  await runTiny(sets, { store, stages: stagesThrough("synthesize") });
  const files = await stageFiles(store, "synthesize");
  return Object.keys(files).filter((k) => k.startsWith("synthetic-")).sort().map((k) =>
    decodeArrays(files[k]).arrays
  );
}

Deno.test("synthesize.gain scales the pasted regions' contrast; labels unchanged", async () => {
  const [one, half] = [
    await samples(["synthesize.gain=[1,1]"]),
    await samples(["synthesize.gain=[0.5,0.5]"]),
  ];
  assertEquals(one.length, 8);
  // Inside minus outside mean intensity: the regions' contrast to their background.
  const contrast = (s: (typeof one)[number]) => {
    let inside = 0, outside = 0, n = 0;
    for (let i = 0; i < s.label.data.length; i++) {
      if (s.label.data[i] > 0) (inside += s.image.data[i]), n++;
      else outside += s.image.data[i];
    }
    return inside / n - outside / (s.label.data.length - n);
  };
  let dimmed = 0;
  for (const [k, a] of one.entries()) {
    assertEquals(a.label.data, half[k].label.data, `sample ${k}: labels`);
    const [c1, c5] = [contrast(a), contrast(half[k])];
    assert(c5 <= c1 + 1e-6, `sample ${k}: contrast ${c1} -> ${c5}`);
    if (c5 < 0.75 * c1) dimmed++;
  }
  // Not every sample pastes every region (pasteProbability), most do.
  assert(dimmed >= 4, `${dimmed} of 8 samples dimmed`);
});

Deno.test("synthesize.intensity.noise roughens every sample; labels unchanged", async () => {
  const base = ["synthesize.intensity.probability=1", "synthesize.intensity.gamma=[1,1]"];
  const [clean, noisy] = [
    await samples([...base, "synthesize.intensity.noise=[0,0]"]),
    await samples([...base, "synthesize.intensity.noise=[0.1,0.1]"]),
  ];
  // Mean squared difference of horizontal neighbours: white noise of std s adds 2 s^2.
  const roughness = (s: (typeof clean)[number]) => {
    const d = s.image.data, w = s.image.shape[2];
    let sum = 0, n = 0;
    for (let i = 0; i + 1 < d.length; i++) {
      if ((i + 1) % w) (sum += (d[i + 1] - d[i]) ** 2), n++;
    }
    return sum / n;
  };
  assertEquals(clean.length, 8);
  for (const [k, a] of clean.entries()) {
    assertEquals(a.label.data, noisy[k].label.data, `sample ${k}: labels`);
    const [r0, r1] = [roughness(a), roughness(noisy[k])];
    assert(r1 > 1.5 * r0, `sample ${k}: roughness ${r0} -> ${r1}`);
  }
});
