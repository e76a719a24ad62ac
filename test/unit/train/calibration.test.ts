/**
 * Calibration: the ECE and reliability bins of hand-made cases, temperature scaling recovering a
 * known temperature, precision/recall at a threshold, and a fine-tuned model folder that carries
 * its calibration.json, whose temperature and threshold predictions then use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClassifier } from '../../../src/server/engine/classifier';
import { fineTune } from '../../../src/server/engine/fine-tune';
import { Random } from '../../../src/server/engine/random';
import {
  CALIBRATION_FILE,
  calibrate,
  fitTemperature,
  reliability,
  saveThreshold,
  softmaxWithTemperature,
  thresholdCurve,
  thresholdMetrics,
  type Calibration,
} from '../../../src/server/engine/train/calibration';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

test('ECE: 0.9 confident and always right is 0.1; 0.9 confident and right half the time is 0.4, in the top bin', () => {
  const logit = Math.log(9); // softmax([log 9, 0]) = [0.9, 0.1]
  const right = reliability([[logit, 0], [logit, 0]], [0, 0]);
  assert.ok(Math.abs(right.ece - 0.1) < 1e-9, 'confidence 0.9, accuracy 1');
  const half = reliability([[logit, 0], [logit, 0]], [0, 1]);
  assert.ok(Math.abs(half.ece - 0.4) < 1e-9);
  const top = half.bins[9];
  assert.equal(top.count, 2);
  assert.ok(Math.abs(top.accuracy - 0.5) < 1e-12 && Math.abs(top.confidence - 0.9) < 1e-12);
  assert.equal(half.bins.reduce((n, b) => n + b.count, 0), 2);
});

test('temperature scaling recovers the temperature the labels were drawn with, and lowers NLL and ECE', () => {
  const random = new Random(3);
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const z = [0, 1, 2].map(() => 6 * (random.next() - 0.5));
    const p = softmaxWithTemperature(z, 2.5); // the truth: these logits are 2.5× too confident
    const u = random.next();
    labels.push(u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2);
    logits.push(z);
  }
  const t = fitTemperature(logits, labels);
  assert.ok(Math.abs(t - 2.5) < 0.15, `fitted T = ${t}`);
  const c = calibrate(logits, labels);
  assert.ok(c.after.nll < c.before.nll && c.after.ece < c.before.ece / 2, JSON.stringify({ before: c.before.ece, after: c.after.ece }));
  const argmax = (row: number[]) => row.indexOf(Math.max(...row));
  assert.ok(logits.every((z) => argmax(softmaxWithTemperature(z, t)) === argmax(z)), 'a temperature never changes the class');
});

test('precision and recall at a threshold, worked by hand', () => {
  const probs = [0.9, 0.8, 0.6, 0.4, 0.3, 0.1];
  const labels = [1, 0, 1, 1, 0, 0];
  const m = thresholdMetrics(probs, labels, 0.5); // predicted 1,1,1,0,0,0: tp 2, fp 1, fn 1
  assert.deepEqual([m.precision, m.recall, m.accuracy], [2 / 3, 2 / 3, 4 / 6]);
  const strict = thresholdMetrics(probs, labels, 0.85); // only the first: tp 1, fp 0, fn 2
  assert.deepEqual([strict.precision, strict.recall], [1, 1 / 3]);
  const curve = thresholdCurve(probs, labels);
  assert.equal(curve.length, 19);
  assert.ok(curve.every((p, i) => i === 0 || p.recall <= curve[i - 1].recall), 'recall falls as the threshold rises');
});

test('a fine-tuned model carries calibration.json; predictions use its temperature and a saved threshold', async () => {
  const outDir = join(mkdtempSync(join(tmpdir(), 'calibration-')), 'model');
  const result = await fineTune({ data: join(FIXTURES, 'datasets', 'sst2'), model: TINY_BERT, outDir, backend: 'wasm', settings: { maxSteps: 6, batchSize: 16, maxLength: 32 } });
  assert.ok(result.calibration && result.calibration.temperature > 0);
  const saved = JSON.parse(readFileSync(join(outDir, CALIBRATION_FILE), 'utf8')) as Calibration;
  assert.equal(saved.temperature, result.calibration.temperature);
  assert.ok(saved.fittedOn > 0 && saved.after.nll <= saved.before.nll + 1e-9, 'fitted on validation: its NLL does not rise');
  assert.equal(saved.before.bins.length, 10);

  const classifier = await loadClassifier(outDir);
  const [p] = await classifier.predict(['a warm, funny and clever film']);
  const expected = softmaxWithTemperature(p.logits, saved.temperature);
  assert.ok(Math.abs(p.probs[classifier.info.labels[1]] - expected[1]) < 1e-9, 'probabilities are the calibrated ones');
  classifier.dispose();

  // A threshold above the text's probability flips a two-class prediction to the first class.
  saveThreshold(outDir, Math.min(0.99, expected[1] + 0.001));
  const strict = await loadClassifier(outDir);
  assert.equal((await strict.predict(['a warm, funny and clever film']))[0].label, strict.info.labels[0]);
  strict.dispose();
  assert.throws(() => saveThreshold(outDir, 1.5), /between 0 and 1/);

  writeFileSync(join(outDir, CALIBRATION_FILE), JSON.stringify({ temperature: -1 }));
  const damaged = await loadClassifier(outDir);
  assert.ok(damaged.info.warnings.some((w) => w.includes('no usable temperature')));
  damaged.dispose();
});
