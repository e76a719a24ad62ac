/**
 * Reviewing a finished run (src/server/review.ts), with real models trained by the built CLI: its
 * saved model predicts the rows training held out (its data re-split as training split it), and
 * the answers are the rows of each confusion-matrix cell (each at its file:line), the possible
 * label errors, the calibration with the two-class threshold curve, and a threshold saved with the
 * model. Any number of classes; the threshold only for two.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadClassifier } from '../../../src/server/engine/classifier';
import { isUserError } from '../../../src/server/engine/errors';
import { ClassifierCache } from '../../../src/server/models';
import { RunReviews } from '../../../src/server/review';
import type { RunHistory, RunInfo, RunStatus } from '../../../src/shared/protocol';
import { FIXTURES } from '../data/helpers';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'server-review-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** One CSV without splits of its own (200 SST-2 rows): training holds out 20 for validation and 20 for test. */
const single = join(scratch, 'reviews.csv');
const twoClass = join(scratch, 'two-class-model');
/** SST-5 with its own train/validation/test files: five classes. */
const fiveClass = join(scratch, 'five-class-model');

function train(data: string, out: string) {
  const run = spawnSync(process.execPath, [CLI, 'train', '--data', data, '--model', 'builtin:tiny-bert', '--out', out, '--max-steps', '20', '--batch-size', '16', '--max-length', '48', '--json'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(run.status, 0, run.stderr);
}

before(() => {
  copyFileSync(join(FIXTURES, 'sst2', 'train.csv'), single);
  train(single, twoClass);
  train(join(FIXTURES, 'sst5'), fiveClass);
});

function run(id: string, outDir: string, data: string, status: RunStatus = 'completed'): RunInfo {
  return { id, title: id, status, createdAt: new Date().toISOString(), data, model: 'builtin:tiny-bert', outDir };
}

/** RunReviews over the given runs, loading models as the server does; records the folders it was told changed. */
function reviews(...runs: RunInfo[]) {
  const changed: string[] = [];
  let loads = 0;
  const histories = new Map<string, RunHistory>(runs.map((r) => [r.id, { run: r, events: [] }]));
  const reviewer = new RunReviews({
    history: (id) => histories.get(id),
    load: (dir) => {
      loads += 1;
      return loadClassifier(dir);
    },
    modelChanged: (dir) => changed.push(dir),
  });
  return { reviewer, changed, loads: () => loads };
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

test('the rows of each cell: the held-out rows as training split them, each at its file:line, most confident first', async () => {
  const { reviewer, loads } = reviews(run('r1', twoClass, single));
  const review = await reviewer.rows('r1');
  assert.deepEqual(review.labels, ['negative', 'positive']);
  assert.deepEqual(review.splits, { validation: 20, test: 20 }, 'the 10% + 10% training held out');
  const lines = readFileSync(single, 'utf8').split('\n');
  for (const [t, row] of review.cells.entries()) {
    for (const [p, cell] of row.entries()) {
      assert.equal(cell.count, cell.rows.length);
      for (const r of cell.rows) {
        assert.equal(r.label, t);
        assert.equal(r.predicted, p);
        assert.equal(r.file, single);
        assert.ok(lines[r.line - 1].includes(r.text.slice(0, 20)), `${r.file}:${r.line} holds "${r.text}"`);
      }
      for (let i = 1; i < cell.rows.length; i++) assert.ok(cell.rows[i - 1].confidence >= cell.rows[i].confidence, 'most confident first');
    }
  }
  // The same rows training evaluated: the saved (best) model's confusion matrices of metrics.json.
  const metrics = json(join(twoClass, 'metrics.json'));
  const confusion = (split: string) => review.cells.map((row) => row.map((cell) => cell.rows.filter((r) => r.split === split).length));
  assert.deepEqual(confusion('validation'), metrics.best.confusion);
  assert.deepEqual(confusion('test'), metrics.test.confusion);
  // What the panel's matrix shows once the review is in: both splits, cell by cell.
  assert.deepEqual(review.metrics.confusion, review.cells.map((row) => row.map((cell) => cell.count)));
  assert.deepEqual(review.metrics.confusion, metrics.best.confusion.map((row: number[], t: number) => row.map((n, p) => n + metrics.test.confusion[t][p])));
  assert.equal(review.metrics.n, review.splits.validation + review.splits.test);
  for (const suspect of review.possibleLabelErrors) assert.notEqual(suspect.predicted, suspect.label);
  for (let i = 1; i < review.possibleLabelErrors.length; i++) {
    assert.ok(review.possibleLabelErrors[i - 1].labelProbability <= review.possibleLabelErrors[i].labelProbability, 'most doubtful first');
  }
  await reviewer.rows('r1');
  await reviewer.calibration('r1');
  assert.equal(loads(), 1, 'the model is loaded and the rows predicted once per run');
});

test('calibration: calibration.json and, for two classes, precision/recall/F1 at thresholds 0.05…0.95 on the validation rows', async () => {
  const { reviewer } = reviews(run('r1', twoClass, single));
  const result = await reviewer.calibration('r1');
  assert.deepEqual(result.calibration, json(join(twoClass, 'calibration.json')));
  assert.ok(result.calibration!.temperature > 0 && result.calibration!.before.bins.length === 10);
  const curve = result.thresholdCurve!;
  assert.deepEqual(curve.map((m) => m.threshold), Array.from({ length: 19 }, (_, i) => +(0.05 * (i + 1)).toFixed(2)));
  for (const m of curve) for (const v of [m.precision, m.recall, m.f1, m.accuracy]) assert.ok(v >= 0 && v <= 1);
  assert.ok(curve[0].recall >= curve[18].recall, 'recall falls as the threshold rises');
});

test('saving a threshold: calibration.json keeps it, the server is told to reload the model, and the model predicts with it', async () => {
  const { reviewer, changed } = reviews(run('r1', twoClass, single));
  const saved = await reviewer.saveThreshold('r1', 0.95);
  assert.equal(saved.calibration!.threshold, 0.95);
  assert.equal(json(join(twoClass, 'calibration.json')).threshold, 0.95);
  assert.deepEqual(changed, [twoClass]);
  const classifier = await loadClassifier(twoClass);
  try {
    const [prediction] = await classifier.predict(['a film']);
    assert.equal(prediction.label, prediction.probs.positive >= 0.95 ? 'positive' : 'negative');
  } finally {
    classifier.dispose();
  }
  await assert.rejects(reviewer.saveThreshold('r1', 1.5), (e: unknown) => isUserError(e) && e.kind === 'bad-argument');
  const cleared = await reviewer.saveThreshold('r1', undefined);
  assert.equal(cleared.calibration!.threshold, undefined, 'undefined goes back to the most probable class');
});

test('five classes: 5×5 cells of the validation and test files, calibration without a threshold picker', async () => {
  const { reviewer } = reviews(run('r5', fiveClass, join(FIXTURES, 'sst5')));
  const review = await reviewer.rows('r5');
  assert.equal(review.labels.length, 5);
  assert.equal(review.cells.length, 5);
  assert.ok(review.cells.every((row) => row.length === 5));
  assert.deepEqual(review.splits, { validation: 50, test: 50 });
  assert.equal(review.cells.flat().reduce((n, cell) => n + cell.count, 0), 100);
  for (const r of review.cells.flat().flatMap((cell) => cell.rows)) assert.match(r.file, new RegExp(`sst5/${r.split}\\.csv$`));
  const calibration = await reviewer.calibration('r5');
  assert.equal(calibration.thresholdCurve, undefined);
  assert.ok(calibration.calibration);
  await assert.rejects(reviewer.saveThreshold('r5', 0.6), (e: unknown) => isUserError(e) && /two classes/.test(e.message));
});

test('a run that cannot be reviewed says why: unknown, still going, or no saved model', async () => {
  const empty = join(scratch, 'empty-model');
  mkdirSync(empty);
  const { reviewer } = reviews(run('going', twoClass, single, 'training'), run('nothing', empty, single, 'cancelled'));
  await assert.rejects(reviewer.rows('nope'), (e: unknown) => isUserError(e) && /no training run nope/.test(e.message));
  await assert.rejects(reviewer.rows('going'), (e: unknown) => isUserError(e) && /still going/.test(e.message));
  await assert.rejects(reviewer.calibration('nothing'), (e: unknown) => isUserError(e) && e.kind === 'missing-file');
});

test('a model folder whose calibration changed is forgotten by the server: the next request (by any path to it) loads it again', async () => {
  const cache = new ClassifierCache({});
  try {
    const first = await cache.get(twoClass);
    assert.equal(await cache.get(twoClass), first, 'loaded once');
    cache.forget(`${twoClass}/`);
    const again = await cache.get(twoClass);
    assert.notEqual(again, first, 'read again from disk');
  } finally {
    cache.dispose();
  }
});
