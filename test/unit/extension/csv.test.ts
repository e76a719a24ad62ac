/** The metrics CSV of the training panel's "Export CSV" (src/extension/training/csv.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsCsv } from '../../../src/extension/training/csv';
import type { RunHistory } from '../../../src/shared/protocol';

const perClass = { 'very, good': { precision: 1, recall: 0.5, f1: 2 / 3, support: 2 }, bad: { precision: 0.5, recall: 1, f1: 2 / 3, support: 1 } };
const history: RunHistory = {
  run: { id: 'r1', title: 't', status: 'completed', createdAt: '', data: '', model: '', outDir: '' },
  events: [
    { event: 'start', runId: 'x', modelRef: 'm', backend: 'wasm', workers: 1, totalSteps: 2, stepsPerEpoch: 2, epochs: 1, numTrain: 4, numValidation: 3, numTest: 0, labels: ['very, good', 'bad'], numParameters: 1, trainableParameters: 1 },
    { event: 'step', step: 1, totalSteps: 2, epoch: 0.5, loss: 0.7, learningRate: 1e-3, gradNorm: 1.5, samplesPerSec: 10, elapsedSec: 1, etaSec: 1 },
    { event: 'eval', step: 1, epoch: 0.5, split: 'validation', metrics: { n: 3, accuracy: 2 / 3, macroF1: 2 / 3, perClass, confusion: [[1, 1], [0, 1]], loss: 0.6 }, isBest: true },
  ],
};

test('one row per progress report and per evaluation, per-class columns, quoted where needed', () => {
  const [header, step, evaluation, end] = metricsCsv(history).split('\n');
  assert.equal(header, 'run,kind,split,step,epoch,loss,learning_rate,grad_norm,samples_per_sec,accuracy,macro_f1,"precision_very, good","recall_very, good","f1_very, good",precision_bad,recall_bad,f1_bad');
  assert.equal(step, 'r1,step,train,1,0.5,0.7,0.001,1.5,10');
  assert.match(evaluation, /^r1,eval,validation,1,0\.5,0\.6,,,,0\.666\d+,0\.666\d+,1,0\.5,0\.666\d+,0\.5,1,0\.666\d+$/);
  assert.equal(end, '');
});

test('a run that adapted first: its masked-LM steps and held-out evaluation have rows of their own kind', () => {
  const adapted: RunHistory = {
    run: history.run,
    events: [
      { ...(history.events[0] as Extract<RunHistory['events'][number], { event: 'start' }>), phase: 'mlm', labels: [], totalSteps: 2 },
      { event: 'step', phase: 'mlm', step: 1, totalSteps: 2, epoch: 0.5, loss: 8.5, learningRate: 1e-3, gradNorm: 2, samplesPerSec: 20, elapsedSec: 1, etaSec: 1 },
      { event: 'mlm-eval', step: 2, epoch: 1, metrics: { loss: 7.25, accuracy: 0.125, tokens: 64 } },
      ...history.events,
    ],
  };
  const rows = metricsCsv(adapted).trim().split('\n');
  assert.match(rows[0], /,precision_bad,recall_bad,f1_bad$/, "the classes come from fine-tuning's start, not the masked-LM phase's");
  assert.equal(rows[1], 'r1,mlm-step,train,1,0.5,8.5,0.001,2,20');
  assert.equal(rows[2], 'r1,mlm-eval,held-out,2,1,7.25,,,,0.125');
  assert.equal(rows[3], 'r1,step,train,1,0.5,0.7,0.001,1.5,10');
  assert.equal(rows.length, 5);
});
