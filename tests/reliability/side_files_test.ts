/**
 * A run and a predict write nothing outside the store and the output folder: in particular
 * onnxruntime's telemetry (a device ID and an event queue under
 * ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, /tmp/mat-debug-<pid>.log) stays off.
 */
import { assertEquals } from "../assert.ts";
import { cli } from "../cli.ts";
import { predictOne } from "./fixtures.ts";

/** Every path under dir, relative, sorted. */
function tree(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${dir}/${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    out.push(path);
    if (e.isDirectory) out.push(...tree(dir, path));
  }
  return out.sort();
}

Deno.test("run and predict write nothing outside --store and --out (onnxruntime telemetry off)", async () => {
  const dir = await Deno.makeTempDir();
  const [home, tmp] = [`${dir}/home`, `${dir}/tmp`];
  await Deno.mkdir(home);
  await Deno.mkdir(tmp);
  // Deno's own module cache stays where it is (it is the toolchain's, not the run's).
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).outputSync();
  const denoDir: string = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const env = { HOME: home, TMPDIR: tmp, XDG_CACHE_HOME: `${home}/.cache`, DENO_DIR: denoDir };
  const run = await cli([
    "run",
    "--store",
    `${dir}/store`,
    "--config",
    "tests/pipeline/tiny.json",
    "--set",
    "train.steps=2",
  ], { env });
  assertEquals(run.code, 0, run.stderr);
  const predict = await predictOne(dir, `${dir}/out`, env);
  assertEquals(predict.code, 0, predict.stderr);
  assertEquals(tree(home), [], "files under HOME");
  assertEquals(tree(tmp), [], "files under TMPDIR");
  assertEquals(tree(`${dir}/out`), ["c0.nii.gz"]);
});
