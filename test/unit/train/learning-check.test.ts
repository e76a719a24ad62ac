/**
 * The small-data guard's rule: a kept model whose validation accuracy is not clearly above always
 * answering the most frequent class did not learn, and the finding names the figures and says what
 * to try; a model clearly above it passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLearning, formatLearningCheck, learningMargin, type LearningCheckInput } from '../../../src/server/engine/train/learning-check';
import { classificationMetrics } from '../../../src/server/engine/train/metrics';

/** A validation split with `counts[c]` examples of class c, and a model that predicts `predict(i, label)`. */
function input(labels: string[], counts: number[], predict: (i: number, label: number) => number, extra: Partial<LearningCheckInput> = {}): LearningCheckInput {
  const validationLabels = counts.flatMap((n, c) => new Array<number>(n).fill(c));
  const predicted = validationLabels.map((label, i) => predict(i, label));
  return {
    labels,
    validationLabels,
    best: classificationMetrics(predicted, validationLabels, labels),
    numTrain: 40,
    epochs: 3,
    modelRef: 'builtin:tiny-bert',
    status: 'completed',
    ...extra,
  };
}

/** Right on the first `right` examples (in split order), else the next class. */
const rightOn = (right: number, k: number) => (i: number, label: number) => (i < right ? label : (label + 1) % k);

test('a model answering one class for everything is at the baseline, and the finding says so with the figures', () => {
  const check = checkLearning(input(['negative', 'positive'], [25, 25], () => 1));
  assert.ok(check);
  assert.equal(check.kind, 'no-learning');
  assert.equal(check.best, 0.5);
  assert.equal(check.baseline, 0.5);
  assert.equal(check.baselineLabel, 'negative', 'a tie goes to the first class');
  assert.equal(check.singleClass, 'positive');
  assert.equal(check.numValidation, 50);
  assert.equal(
    check.message,
    "Validation accuracy 50.0% is no better than always answering 'negative' (50.0%): the model did not learn from 40 training examples. " +
      "It answers 'positive' for every validation text.",
  );
  assert.deepEqual(check.advice.map((a) => a.kind), ['train-longer', 'pretrained-model', 'adapt', 'more-data']);
  assert.equal(check.advice[0].message, 'Train longer: --epochs 10 (this run: 3 epochs).');
  assert.equal(check.advice[0].epochs, 10);
  assert.match(check.advice[1].message, /builtin:tiny-bert has random weights\): --model builtin:review-bert \(built in, no download\), google\/bert_uncased_L-4_H-256_A-4/);
  assert.match(check.advice[2].message, /--adapt-steps 1000/);
  assert.match(check.advice[3].message, /40 training examples \(about 20 per class\)/);
  const paragraph = formatLearningCheck(check);
  assert.match(paragraph, /^warning: Validation accuracy 50\.0%/);
  assert.equal(paragraph.split('\n').filter((l) => l.startsWith('  - ')).length, 4);
});

test('an imbalanced split: the baseline is the majority share, and matching it is not learning', () => {
  const check = checkLearning(input(['neg', 'pos'], [80, 20], () => 0));
  assert.ok(check);
  assert.equal(check.baseline, 0.8);
  assert.equal(check.baselineLabel, 'neg');
  assert.match(check.message, /^Validation accuracy 80\.0% is no better than always answering 'neg' \(80\.0%\)/);
});

test('above the baseline but within chance on few examples is not clearly learning; the same lead on many examples is', () => {
  // 50 balanced examples: the margin is 1.96·√(.25/50) ≈ 13.9 points.
  assert.ok(Math.abs(learningMargin(0.5, 50) - 0.1386) < 1e-3);
  const few = checkLearning(input(['a', 'b'], [25, 25], rightOn(31, 2))); // 62%
  assert.ok(few);
  assert.equal(few.singleClass, undefined);
  assert.match(few.message, /^Validation accuracy 62\.0% is not clearly better than always answering 'a' \(50\.0%\), within ±13\.9% on 50 validation examples: the model hardly learned/);
  // 1,000 examples: the margin is ≈ 3.1 points, so 62% clearly beats 50%.
  assert.equal(checkLearning(input(['a', 'b'], [500, 500], rightOn(620, 2))), undefined);
});

test('the margin is at least 2 points, however many examples', () => {
  assert.equal(learningMargin(0.5, 1_000_000), 0.02);
  assert.ok(checkLearning(input(['a', 'b'], [5000, 5000], rightOn(5150, 2))), '51.5% on 10,000 is within 2 points of 50%');
  assert.equal(checkLearning(input(['a', 'b'], [5000, 5000], rightOn(5300, 2))), undefined, '53% is clearly above');
});

test('multi-class: the baseline is the largest class; a model clearly above it passes', () => {
  const labels = ['very negative', 'negative', 'neutral', 'positive', 'very positive'];
  const counts = [40, 60, 100, 60, 40]; // baseline 100/300 = 33.3%, margin ≈ 5.3 points
  const stuck = checkLearning(input(labels, counts, (_, label) => (label === 0 ? 1 : 2))); // right on neutral only
  assert.ok(stuck);
  assert.equal(stuck.baselineLabel, 'neutral');
  assert.ok(Math.abs(stuck.baseline - 1 / 3) < 1e-12);
  assert.equal(stuck.singleClass, undefined, 'it answers two classes');
  assert.match(stuck.advice[3].message, /about 8 per class/);
  assert.ok(checkLearning(input(labels, counts, rightOn(115, 5))), '38.3% is within the margin of 33.3%');
  assert.equal(checkLearning(input(labels, counts, rightOn(150, 5))), undefined, '50% is clearly above 33.3%');
});

test('nothing to check: no evaluation, or a validation split of one class', () => {
  assert.equal(checkLearning({ ...input(['a', 'b'], [10, 10], () => 0), best: undefined }), undefined);
  assert.equal(checkLearning(input(['a', 'b'], [20, 0], () => 0)), undefined);
});

test('the advice follows the run: its epochs, its model, early stopping', () => {
  const check = checkLearning(input(['a', 'b'], [25, 25], () => 0, { epochs: 5, modelRef: 'models/base', status: 'early-stopped' }));
  assert.ok(check);
  assert.equal(check.advice[0].message, 'Train longer: --epochs 15 (this run: 5 epochs); early stopping ended this run, so raise --patience or set it to 0.');
  assert.doesNotMatch(check.advice[1].message, /random weights/);
  const capped = checkLearning(input(['a', 'b'], [25, 25], () => 0, { epochs: 3 / 13, maxSteps: 3 }));
  assert.equal(capped!.advice[0].message, 'Train longer: --epochs 10 without --max-steps (this run: 3 steps, 0.23 epochs).');
});

test('from the built-in pre-trained model, the advice is a bigger pre-trained one, not itself', () => {
  const check = checkLearning(input(['negative', 'positive'], [25, 25], () => 1, { modelRef: 'builtin:review-bert' }));
  assert.ok(check);
  const pretrained = check.advice.find((a) => a.kind === 'pretrained-model');
  assert.ok(pretrained && pretrained.kind === 'pretrained-model');
  assert.equal(pretrained.model, 'google/bert_uncased_L-4_H-256_A-4');
  assert.match(pretrained.message, /^Start from a bigger pre-trained model: --model google\/bert_uncased_L-4_H-256_A-4/);
  assert.doesNotMatch(pretrained.message, /review-bert/);
});
