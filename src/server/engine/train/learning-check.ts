/**
 * The small-data guard: did the model learn anything the validation split can see? A model whose
 * validation accuracy is not clearly above always answering the most frequent class has learned
 * nothing useful, however the run ended; the run then says so, with what to try instead of a
 * silent useless model.
 *
 * "Clearly above" is the baseline plus the larger of 2 points and the half-width of the 95% interval
 * of a binomial share at the baseline on this many validation examples (1.96·√(p(1−p)/n)): on 50
 * balanced examples a model must beat 50% by 14 points, on 300 by 6.
 */
import type { LearningAdvice, LearningCheck, TrainStatus } from './events';
import type { ClassificationMetrics } from './metrics';

export interface LearningCheckInput {
  labels: string[];
  /** The validation split's label ids. */
  validationLabels: number[];
  /** The kept model's validation metrics; no check without them. */
  best: ClassificationMetrics | undefined;
  numTrain: number;
  /** The passes over the training data the run was planned for (a fraction when --max-steps cut it short). */
  epochs: number;
  /** Set when the run's length was given in steps (--max-steps) rather than epochs. */
  maxSteps?: number;
  modelRef: string;
  status: TrainStatus;
}

/** A compact pre-trained BERT (Turc et al., 11M parameters) that learns from little data. */
export const SUGGESTED_PRETRAINED_MODEL = 'google/bert_uncased_L-4_H-256_A-4';
/** The pre-trained model that ships with the extension (models/review-bert). */
export const BUILTIN_PRETRAINED_MODEL = 'builtin:review-bert';
const SUGGESTED_ADAPT_STEPS = 1000;

/** How far above the baseline share `p` an accuracy on `n` examples must be to count as learning. */
export function learningMargin(p: number, n: number): number {
  return Math.max(0.02, 1.96 * Math.sqrt((p * (1 - p)) / Math.max(n, 1)));
}

/** The guard's finding, or undefined when the model learned (or there is nothing to compare). */
export function checkLearning(input: LearningCheckInput): LearningCheck | undefined {
  const { labels, validationLabels, best, numTrain } = input;
  const n = validationLabels.length;
  if (!best || n === 0) return undefined;
  const counts = labels.map(() => 0);
  for (const label of validationLabels) counts[label] += 1;
  // A validation split of one class has no baseline to beat.
  if (counts.filter((c) => c > 0).length < 2) return undefined;
  const majority = counts.indexOf(Math.max(...counts));
  const baseline = counts[majority] / n;
  const margin = learningMargin(baseline, n);
  if (best.accuracy > baseline + margin) return undefined;

  const predicted = labels.map((_, c) => best.confusion.reduce((sum, row) => sum + (row[c] ?? 0), 0));
  const answered = predicted.flatMap((count, c) => (count > 0 ? [c] : []));
  const singleClass = answered.length === 1 ? labels[answered[0]] : undefined;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const always = `always answering '${labels[majority]}' (${pct(baseline)})`;
  const message =
    (best.accuracy <= baseline
      ? `Validation accuracy ${pct(best.accuracy)} is no better than ${always}: the model did not learn from ${numTrain} training examples.`
      : `Validation accuracy ${pct(best.accuracy)} is not clearly better than ${always}, within ±${pct(margin)} on ${n} validation examples: ` +
        `the model hardly learned from ${numTrain} training examples.`) +
    (singleClass !== undefined ? ` It answers '${singleClass}' for every validation text.` : '');
  return {
    kind: 'no-learning',
    best: best.accuracy,
    baseline,
    baselineLabel: labels[majority],
    margin,
    numTrain,
    numValidation: n,
    ...(singleClass !== undefined ? { singleClass } : {}),
    message,
    advice: adviceFor(input),
  };
}

function adviceFor({ numTrain, epochs, maxSteps, modelRef, status, labels }: LearningCheckInput): LearningAdvice[] {
  const moreEpochs = Math.max(10, Math.ceil(3 * epochs));
  const thisRun = `${maxSteps !== undefined ? `${maxSteps} steps, ` : ''}${Number(epochs.toFixed(2))} epoch${epochs === 1 ? '' : 's'}`;
  const randomWeights = modelRef === 'builtin:tiny-bert' ? ' (builtin:tiny-bert has random weights)' : '';
  const perClass = Math.round(numTrain / labels.length);
  return [
    {
      kind: 'train-longer',
      epochs: moreEpochs,
      message: `Train longer: --epochs ${moreEpochs}${maxSteps !== undefined ? ' without --max-steps' : ''} (this run: ${thisRun})` +
        `${status === 'early-stopped' ? '; early stopping ended this run, so raise --patience or set it to 0' : ''}.`,
    },
    {
      kind: 'pretrained-model',
      model: modelRef === BUILTIN_PRETRAINED_MODEL ? SUGGESTED_PRETRAINED_MODEL : BUILTIN_PRETRAINED_MODEL,
      message: modelRef === BUILTIN_PRETRAINED_MODEL
        ? `Start from a bigger pre-trained model: --model ${SUGGESTED_PRETRAINED_MODEL} (a compact BERT from the Hugging Face Hub) or bert-base-uncased.`
        : `Start from a pre-trained model${randomWeights}: --model ${BUILTIN_PRETRAINED_MODEL} (built in, no download), ${SUGGESTED_PRETRAINED_MODEL} (a compact BERT from the Hugging Face Hub) or bert-base-uncased.`,
    },
    {
      kind: 'adapt',
      adaptSteps: SUGGESTED_ADAPT_STEPS,
      message: `Adapt the model to the dataset's text first: --adapt-steps ${SUGGESTED_ADAPT_STEPS} continues masked-LM pre-training on the texts (no labels needed) before fine-tuning.`,
    },
    {
      kind: 'more-data',
      message: `Label more examples: ${numTrain} training examples (about ${perClass} per class) are very few; a few hundred per class is a usual start.`,
    },
  ];
}

/** The finding as a paragraph for a terminal or a log: the message, then the advice, one per line. */
export function formatLearningCheck(check: LearningCheck): string {
  return [`warning: ${check.message}`, 'What may help:', ...check.advice.map((a) => `  - ${a.message}`)].join('\n');
}
