/**
 * The training panel's chart points (src/webview/points.ts): a run that adapts its base model to the
 * dataset first shows that masked-LM phase on its own chart, and never in the fine-tuning curves,
 * whether the events arrive live or are replayed from the run's history (a reopened or reloaded panel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FineTuneEvent } from '../../../src/server/engine/fine-tune';
import { isMaskedLMEvent } from '../../../src/shared/run-events';
import { type ChartPoint, EventPoints } from '../../../src/webview/points';

const step = (n: number, loss: number, phase?: 'mlm'): FineTuneEvent => ({
  event: 'step', ...(phase ? { phase } : {}), step: n, totalSteps: 20, epoch: n / 10, loss, learningRate: 1e-3 * n, gradNorm: 1, samplesPerSec: 10, elapsedSec: n, etaSec: 20 - n,
});
const start = (phase?: 'mlm'): FineTuneEvent => ({
  event: 'start', ...(phase ? { phase } : {}), runId: 'r', modelRef: 'builtin:review-bert', backend: 'wasm', workers: 1, totalSteps: 20, stepsPerEpoch: 10, epochs: 2,
  numTrain: 100, numValidation: 10, numTest: 10, labels: phase ? [] : ['negative', 'positive'], numParameters: 1, trainableParameters: 1,
});
const metrics = { n: 10, accuracy: 0.7, macroF1: 0.65, perClass: {}, confusion: [], loss: 0.6 };

/** A run that adapts for 3 masked-LM steps, then fine-tunes 2 steps and evaluates once. */
const adaptingRun: FineTuneEvent[] = [
  start('mlm'),
  step(1, 8, 'mlm'),
  step(2, 7, 'mlm'),
  step(3, 6, 'mlm'),
  { event: 'mlm-eval', step: 3, epoch: 0.3, metrics: { loss: 6.5, accuracy: 0.2, tokens: 120 } },
  start(),
  step(1, 0.7),
  step(2, 0.6),
  { event: 'eval', step: 2, epoch: 0.2, split: 'validation', metrics, isBest: true },
  { event: 'eval', step: 2, epoch: 0.2, split: 'test', metrics, isBest: false },
];

function replay(events: FineTuneEvent[], points = new EventPoints()): ChartPoint[] {
  return events.flatMap((e) => points.points(e));
}

const of = (points: ChartPoint[], chart: string, series: string) => points.filter((p) => p.chart === chart && p.series === series).map((p) => [p.x, p.y]);

test('masked-LM steps and the held-out masked-LM evaluation go to the masked-LM chart only', () => {
  const points = replay(adaptingRun);
  assert.deepEqual(of(points, 'mlm', 'raw'), [[1, 8], [2, 7], [3, 6]]);
  assert.deepEqual(of(points, 'mlm', 'heldOut'), [[3, 6.5]]);
  assert.deepEqual(of(points, 'mlm', 'heldOutAccuracy'), [[3, 0.2]]);
  assert.equal(of(points, 'mlm', 'smoothed').length, 3);
  // The fine-tuning curves start at its own step 1, with its loss only.
  assert.deepEqual(of(points, 'loss', 'raw'), [[1, 0.7], [2, 0.6]]);
  assert.deepEqual(of(points, 'lr', 'lr'), [[1, 1e-3], [2, 2e-3]]);
  assert.deepEqual(of(points, 'loss', 'validation'), [[2, 0.6]]);
  assert.deepEqual(of(points, 'metrics', 'accuracy'), [[2, 0.7]]);
  assert.equal(points.filter((p) => p.chart !== 'mlm').some((p) => p.y >= 6), false, 'no masked-LM loss in the fine-tuning curves');
});

test('each phase smooths its own loss: the fine-tuning curve does not start from the masked-LM loss', () => {
  const points = replay(adaptingRun);
  const [first] = of(points, 'loss', 'smoothed');
  assert.deepEqual(first, [1, 0.7], 'debiased: the first smoothed point is the first loss');
  const smoothedMlm = of(points, 'mlm', 'smoothed').map(([, y]) => y);
  assert.equal(smoothedMlm[0], 8);
  assert.ok(smoothedMlm[2] < 8 && smoothedMlm[2] > 6, `smoothed ${smoothedMlm[2]}`);
});

test('a replayed history gives the points the live events gave, after a reset', () => {
  const points = new EventPoints();
  const live = replay(adaptingRun, points);
  replay([step(1, 3), step(2, 2)], points); // another run on show in between
  points.reset();
  assert.deepEqual(replay(adaptingRun, points), live);
});

test('the masked-LM events are those of the adaptation phase (the panel shows its card when a run has any)', () => {
  assert.deepEqual(adaptingRun.map(isMaskedLMEvent), [true, true, true, true, true, false, false, false, false, false]);
});

test('a run without adaptation has no masked-LM points', () => {
  const points = replay(adaptingRun.filter((e) => !isMaskedLMEvent(e)));
  assert.equal(points.filter((p) => p.chart === 'mlm').length, 0);
  assert.equal(of(points, 'loss', 'raw').length, 2);
});
