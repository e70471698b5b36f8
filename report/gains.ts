/**
 * What evaluation results say, as the report and the run summary print it: model names as people
 * read them, and each model's gain over its supervised baseline.
 */
import type { EvaluateOutput } from "../schemas/outputs.ts";

export const isBaseline = (model: string) => model.startsWith("baseline");

/**
 * evaluate's model keys as people read them: "a" → "model a", "pair" → "pair a+b" (the two
 * models' probabilities averaged), "baseline a" → "baseline a (supervised)".
 */
export const displayName = (key: string) =>
  isBaseline(key) ? `${key} (supervised)` : key === "pair" ? "pair a+b" : `model ${key}`;

/**
 * Mean foreground Dice of each model of the pair minus its supervised baseline's ("a" minus
 * "baseline a"), from evaluate's per-model class means; empty without a baseline.
 */
export function baselineGains(models: EvaluateOutput["models"]): { model: string; gain: number }[] {
  const mean = (key: string) => {
    const d = Object.values(models[key].dice);
    return d.reduce((a, s) => a + s.mean, 0) / d.length;
  };
  return ["a", "b", "pair"].filter((k) => models[k] && models[`baseline ${k}`]).map((model) => ({
    model,
    gain: mean(model) - mean(`baseline ${model}`),
  }));
}
