/**
 * Calibration: does a predicted probability of 0.9 come true 90% of the time?
 *
 * - the reliability diagram and the expected calibration error (ECE: the bins' |accuracy −
 *   confidence| weighted by their share of examples; Guo et al. 2017, 10 equal-width bins of the top
 *   probability);
 * - temperature scaling (Guo et al. 2017): one T > 0 fitted on validation logits by minimising the
 *   negative log-likelihood of softmax(logits / T). The NLL is convex in 1/T, so a golden-section
 *   search over 1/T finds it; T changes confidences, never the predicted class;
 * - for two classes, precision and recall of the second class at a decision threshold.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import { parseJsonFile } from '../model-config';
import { json, writeFileAtomic } from './save';

export interface ReliabilityBin {
  /** Top-probability range [lower, upper). */
  lower: number;
  upper: number;
  count: number;
  /** Share right, and mean top probability, of the examples in the bin (0 when empty). */
  accuracy: number;
  confidence: number;
}

export interface Reliability {
  ece: number;
  /** Mean negative log-likelihood of the true class. */
  nll: number;
  bins: ReliabilityBin[];
}

/** What a model folder's calibration.json holds. */
export interface Calibration {
  /** Divide the logits by this before the softmax. */
  temperature: number;
  /** Validation examples it was fitted on. */
  fittedOn: number;
  before: Reliability;
  after: Reliability;
  /** Two classes only: predict the second class when its probability is at least this (default 0.5). */
  threshold?: number;
}

export const CALIBRATION_FILE = 'calibration.json';
const BINS = 10;

export function softmaxWithTemperature(logits: number[], temperature = 1): number[] {
  const scaled = logits.map((z) => z / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

export function reliability(logits: number[][], labels: number[], temperature = 1): Reliability {
  const bins: ReliabilityBin[] = Array.from({ length: BINS }, (_, b) => ({ lower: b / BINS, upper: (b + 1) / BINS, count: 0, accuracy: 0, confidence: 0 }));
  let nll = 0;
  logits.forEach((row, i) => {
    const probs = softmaxWithTemperature(row, temperature);
    const top = Math.max(...probs);
    const bin = bins[Math.min(BINS - 1, Math.floor(top * BINS))];
    bin.count += 1;
    bin.accuracy += probs.indexOf(top) === labels[i] ? 1 : 0;
    bin.confidence += top;
    nll -= Math.log(Math.max(probs[labels[i]], 1e-12));
  });
  const n = Math.max(logits.length, 1);
  let ece = 0;
  for (const bin of bins) {
    if (bin.count === 0) continue;
    ece += (bin.count / n) * Math.abs(bin.accuracy / bin.count - bin.confidence / bin.count);
    bin.accuracy /= bin.count;
    bin.confidence /= bin.count;
  }
  return { ece, nll: nll / n, bins };
}

/** The temperature that minimises the validation NLL, searched over 1/T in [0.01, 100]. */
export function fitTemperature(logits: number[][], labels: number[]): number {
  if (logits.length === 0) return 1;
  const nll = (inverse: number) => reliability(logits, labels, 1 / inverse).nll;
  const ratio = (Math.sqrt(5) - 1) / 2;
  // golden-section search on log(1/T): the NLL is convex in 1/T, hence unimodal in its log
  let [a, b] = [Math.log(0.01), Math.log(100)];
  let c = b - ratio * (b - a);
  let d = a + ratio * (b - a);
  let [fc, fd] = [nll(Math.exp(c)), nll(Math.exp(d))];
  while (b - a > 1e-4) {
    if (fc < fd) {
      [b, d, fd] = [d, c, fc];
      c = b - ratio * (b - a);
      fc = nll(Math.exp(c));
    } else {
      [a, c, fc] = [c, d, fd];
      d = a + ratio * (b - a);
      fd = nll(Math.exp(d));
    }
  }
  return 1 / Math.exp((a + b) / 2);
}

/** Fits the temperature on validation logits and reports ECE and NLL before and after. */
export function calibrate(logits: number[][], labels: number[]): Calibration {
  const temperature = fitTemperature(logits, labels);
  return { temperature, fittedOn: logits.length, before: reliability(logits, labels), after: reliability(logits, labels, temperature) };
}

export interface ThresholdMetrics {
  threshold: number;
  /** Of the second class (the "positive" one): precision, recall, F1; and overall accuracy. */
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
}

/** Two classes: predicting the second class when its probability is ≥ threshold. */
export function thresholdMetrics(positiveProbs: number[], labels: number[], threshold: number): ThresholdMetrics {
  let [tp, fp, fn, right] = [0, 0, 0, 0];
  positiveProbs.forEach((p, i) => {
    const predicted = p >= threshold ? 1 : 0;
    if (predicted === 1 && labels[i] === 1) tp++;
    if (predicted === 1 && labels[i] === 0) fp++;
    if (predicted === 0 && labels[i] === 1) fn++;
    if (predicted === labels[i]) right++;
  });
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { threshold, precision, recall, f1, accuracy: positiveProbs.length === 0 ? 0 : right / positiveProbs.length };
}

/** Precision and recall at thresholds 0.05, 0.10, …, 0.95: the curve a threshold picker shows. */
export function thresholdCurve(positiveProbs: number[], labels: number[]): ThresholdMetrics[] {
  return Array.from({ length: 19 }, (_, i) => thresholdMetrics(positiveProbs, labels, +(0.05 * (i + 1)).toFixed(2)));
}

/**
 * Saves a two-class decision threshold with a model (in its calibration.json, written atomically);
 * `undefined` goes back to the most probable class.
 */
export function saveThreshold(modelDir: string, threshold: number | undefined): Calibration {
  const file = join(modelDir, CALIBRATION_FILE);
  if (!existsSync(file)) {
    throw new UserError({ kind: 'missing-file', message: `${modelDir} has no ${CALIBRATION_FILE}.`, file: modelDir, fix: 'Fine-tune the model with this version, which calibrates it on the validation split.' });
  }
  if (threshold !== undefined && !(threshold > 0 && threshold < 1)) {
    throw new UserError({ kind: 'bad-argument', message: `A threshold must be between 0 and 1, not ${threshold}.`, fix: 'Give a probability such as 0.6.' });
  }
  const { threshold: _old, ...calibration } = parseJsonFile(file) as unknown as Calibration;
  void _old;
  const updated: Calibration = { ...calibration, ...(threshold !== undefined ? { threshold } : {}) };
  writeFileAtomic(file, json(updated));
  return updated;
}
