/**
 * The shipped run configs (fixtures/configs/*.json) load and validate, and the two exemplar
 * configs are one recipe: LA and ACDC differ in their data (roles, layout) only.
 */
import { Effect } from "effect";
import { assert, assertEquals } from "../assert.ts";
import { loadConfig } from "../../pipeline/config.ts";
import { root } from "../cli.ts";

const dir = `${root}/fixtures/configs`;
const load = (name: string) => Effect.runPromise(loadConfig(`${dir}/${name}`, []));

Deno.test("every shipped config loads and validates", async () => {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json"));
  assert(names.length >= 4, names.join(", "));
  for (const name of names) assertEquals((await load(name)).name, name.replace(/\.json$/, ""));
});

Deno.test("the LA and ACDC exemplar configs share every setting but the data's", async () => {
  const [la, acdc] = [await load("la2018-exemplar.json"), await load("acdc-exemplar.json")];
  for (const key of ["synthesize", "augment", "train", "refine", "evaluate", "export"] as const) {
    assertEquals(acdc[key], la[key], key);
  }
});
