/** Validation during training: 3D Dice of each validation volume's prediction, per model. */
import type { Predictor } from "../engine/predict.ts";
import { predictVolume } from "../deploy/predict_volume.ts";
import type { TrainingData } from "./data.ts";

/** Mean over volumes and foreground classes of the 3D Dice (an empty pair counts as 1). */
export function meanDice(
  cases: readonly { labels: Uint8Array; pred: Uint8Array }[],
  classes: number,
): number {
  let total = 0, n = 0;
  for (const { labels, pred } of cases) {
    for (let c = 1; c < classes; c++) {
      let inter = 0, a = 0, b = 0;
      for (let i = 0; i < labels.length; i++) {
        const l = labels[i] === c, p = pred[i] === c;
        if (l) a++;
        if (p) b++;
        if (l && p) inter++;
      }
      total += a + b === 0 ? 1 : 2 * inter / (a + b);
      n++;
    }
  }
  return n ? total / n : 0;
}

export async function validationDice(predictor: Predictor, data: TrainingData): Promise<number> {
  const cases = [];
  for (const v of data.validation) {
    cases.push({
      labels: v.labels,
      pred: await predictVolume(
        predictor,
        data.inference,
        v.image,
        v.slices,
        data.width,
        data.height,
      ),
    });
  }
  return meanDice(cases, predictor.model.numClasses);
}
