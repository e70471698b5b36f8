/** The closing summary of `run`/`resume`: Dice per class of each model, where the outputs are. */
import { Effect } from "effect";
import { resolveStage, type RunEnv } from "./runner.ts";
import { baselineGains, displayName } from "../report/gains.ts";

export const printRunSummary = (env: RunEnv) =>
  Effect.gen(function* () {
    env.cache.clear();
    const train = yield* resolveStage(env, "train");
    const evaluation = yield* resolveStage(env, "evaluate");
    const exported = yield* resolveStage(env, "export");
    const lines = [`\nrun ${env.runId}: done`];
    if (train) {
      const t = train.summaries[0];
      lines.push(`method ${t.method}, ${t.steps} steps in ${t.seconds.toFixed(1)} s`);
    }
    if (evaluation) {
      const e = evaluation.summaries[0];
      const classes = env.config.data.classes;
      // Validation and test apart: settings are chosen on the first, the second is the check.
      for (const [split, { cases, models }] of Object.entries(e.splits)) {
        lines.push(`${split} (${cases} cases), Dice mean ± std over cases:`);
        for (const [model, metrics] of Object.entries(models)) {
          const dice = Object.entries(metrics.dice);
          const cells = dice.map(([c, s]) =>
            `${classes[Number(c)] ?? c} ${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`
          );
          const mean = dice.reduce((a, [, s]) => a + s.mean, 0) / dice.length;
          const all = dice.length > 1 ? ` (mean ${mean.toFixed(3)})` : "";
          lines.push(`  ${displayName(model)}: ${cells.join(", ")}${all}`);
        }
        for (const { model, gain } of baselineGains(models)) {
          lines.push(
            `  ${displayName(model)} is ${(100 * Math.abs(gain)).toFixed(1)} Dice points ${
              gain >= 0 ? "above" : "below"
            } its supervised baseline`,
          );
        }
      }
      lines.push(`report:  ${evaluation.uri(e.report)}`);
      lines.push(`metrics: ${evaluation.uri(e.csv)}`);
    }
    if (exported) {
      const x = exported.summaries[0];
      lines.push(`model:   ${exported.uri(x.model)} (${x.format}, ${displayName(x.exported)})`);
    }
    console.log(lines.join("\n"));
  });
