/**
 * The augment stage's preview on the tiny phantom run: one row per labelled training slice (the
 * exemplar, then synthetic samples), as is · weak · strong, label contours in every panel, the
 * views different from the slice, and the same picture for the same seed.
 */
import { Exit } from "effect";
import { decode } from "fast-png";
import { assert, assertEquals } from "../assert.ts";
import { failureOf } from "../../pipeline/runner.ts";
import { OVERLAY_COLORS } from "../../report/overlay.ts";
import { runTiny, stageFiles, stagesThrough } from "./tiny_run.ts";

async function preview(seed: number) {
  const { env, exit } = await runTiny([`seed=${seed}`], { stages: stagesThrough("augment") });
  if (Exit.isFailure(exit)) throw failureOf(exit.cause);
  return (await stageFiles(env.store, "augment"))["views.png"];
}

Deno.test("augment: views.png shows 4 labelled slices as is, weak and strong, with contours", async () => {
  const bytes = await preview(1);
  const png = decode(bytes);
  // Tiny slices are 32 x 32, drawn 5x (160 px) in cells with 4 px gaps.
  assertEquals([png.width, png.height], [3 * 160 + 2 * 4, 4 * 160 + 3 * 4]);
  const panel = (r: number, c: number) => {
    const out = new Uint8Array(160 * 160 * 3);
    for (let y = 0; y < 160; y++) {
      const at = 3 * ((r * 164 + y) * png.width + c * 164);
      out.set(png.data.subarray(at, at + 3 * 160), 3 * 160 * y);
    }
    return out;
  };
  const [lr, lg, lb] = OVERLAY_COLORS.label;
  for (let r = 0; r < 4; r++) {
    const panels = [0, 1, 2].map((c) => panel(r, c));
    for (const [c, p] of panels.entries()) {
      let contour = 0;
      for (let i = 0; i < p.length; i += 3) {
        if (p[i] === lr && p[i + 1] === lg && p[i + 2] === lb) contour++;
      }
      assert(contour > 20, `row ${r} panel ${c}: ${contour} contour pixels`);
    }
    assert(panels[1].some((v, i) => v !== panels[0][i]), `row ${r}: weak view = slice`);
    assert(panels[2].some((v, i) => v !== panels[1][i]), `row ${r}: strong view = weak view`);
  }
  assertEquals(await preview(1), bytes, "same seed, same picture");
  assert((await preview(2)).some((v, i) => v !== bytes[i]), "another seed, other views");
});
