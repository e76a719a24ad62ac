/**
 * The held-out rows of a fine-tuned model, predicted: its data read again the way training read it
 * (the same cleaning, class order and split: shares and seed from the model's preprocessing.json),
 * and every validation and test row given the model's probabilities (with its temperature). What
 * `eval --errors` and the training panel's review of a run (confusion-matrix rows, possible label
 * errors, the threshold curve) are computed from.
 */
import { resolve } from 'node:path';
import type { Classifier, Preprocessing } from '../classifier';
import { loadDataset, type DatasetOptions, type SplitName } from '../data';
import type { RowToReview } from './misclassified';

/**
 * The data the model was fine-tuned on is split as it was then (same shares and seed), so that its
 * validation and test rows are the ones training held out; other data without splits is evaluated whole.
 */
export function sameSplitAsTraining(preprocessing: Preprocessing | undefined, data: string): DatasetOptions {
  const split = preprocessing?.split;
  if (!split || resolve(split.data) !== resolve(data)) return { validationSplit: 0, testSplit: 0 };
  return { validationSplit: split.validationSplit, testSplit: split.testSplit, ...(split.seed !== undefined ? { seed: split.seed } : {}) };
}

export interface HeldOutRow extends RowToReview {
  logits: number[];
}

/**
 * Reads `data` as the model's training did and predicts the rows of `splits` (default validation
 * and test), in dataset order. `probs` are in the model's class order.
 */
export async function predictHeldOut(
  classifier: Classifier,
  data: string,
  options: Pick<DatasetOptions, 'textColumn' | 'labelColumn'> & { maxLength?: number; splits?: SplitName[] } = {},
): Promise<HeldOutRow[]> {
  const { preprocessing } = classifier.loaded;
  const labels = classifier.info.labels;
  const dataset = await loadDataset(data, {
    textColumn: options.textColumn,
    labelColumn: options.labelColumn,
    ...(preprocessing ? { clean: preprocessing.clean } : {}),
    labels,
    ...sameSplitAsTraining(preprocessing, data),
  });
  const examples = (options.splits ?? ['validation', 'test']).flatMap((split) => dataset.splits[split].map((e) => ({ ...e, split })));
  const predictions = await classifier.predict(examples.map((e) => e.text), { maxLength: options.maxLength });
  return examples.map((e, i) => ({
    text: e.text,
    label: e.label,
    split: e.split,
    file: e.file,
    line: e.line,
    probs: labels.map((l) => predictions[i].probs[l]),
    logits: predictions[i].logits,
  }));
}
