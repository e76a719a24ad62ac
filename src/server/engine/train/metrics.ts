/** Classification metrics over predicted and true class ids. */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** How many examples truly have this class. */
  support: number;
}

export interface ClassificationMetrics {
  n: number;
  accuracy: number;
  macroF1: number;
  /** By class name, in id order. */
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Mean cross-entropy, when the logits were at hand. */
  loss?: number;
}

export function classificationMetrics(predicted: number[], actual: number[], labels: string[], loss?: number): ClassificationMetrics {
  const k = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  predicted.forEach((p, i) => confusion[actual[i]][p]++);
  const correct = confusion.reduce((sum, row, c) => sum + row[c], 0);
  const perClass: Record<string, ClassMetrics> = {};
  labels.forEach((name, c) => {
    const truePositives = confusion[c][c];
    const predictedAs = confusion.reduce((sum, row) => sum + row[c], 0);
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const precision = predictedAs ? truePositives / predictedAs : 0;
    const recall = support ? truePositives / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[name] = { precision, recall, f1, support };
  });
  const macroF1 = Object.values(perClass).reduce((sum, m) => sum + m.f1, 0) / k;
  return { n: predicted.length, accuracy: predicted.length ? correct / predicted.length : 0, macroF1, perClass, confusion, ...(loss === undefined ? {} : { loss }) };
}

/** The accuracy of always answering the most frequent class. */
export function majorityBaseline(labels: number[], numClasses: number): number {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of labels) counts[l]++;
  return labels.length ? Math.max(...counts) / labels.length : 0;
}
