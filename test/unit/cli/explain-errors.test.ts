/**
 * The built CLI's explanations, misclassified rows and calibration: `predict --explain` gives word
 * scores that add up to the logit margin; `eval --errors` lists rows whose file:line hold exactly
 * that text; `eval --calibration` reports ECE with and without the model's temperature; a saved
 * threshold changes what `predict` answers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURES } from '../data/helpers';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-explain-'));
const model = join(scratch, 'model');
const data = join(FIXTURES, 'sst2');
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

before(() => {
  cli('train', '--data', data, '--model', 'builtin:tiny-bert', '--out', model, '--max-steps', '20', '--batch-size', '16', '--max-length', '48', '--json');
});

test('predict --explain: one score per word, adding up to the logit margin within 5%', () => {
  const [result] = cli('predict', '--model', model, '--text', 'A warm, clever and moving film.', '--explain', '--json').trim().split('\n').map((l) => JSON.parse(l));
  const { explanation } = result.predictions[0];
  assert.deepEqual(explanation.words.map((w: { word: string }) => w.word), ['A', 'warm', ',', 'clever', 'and', 'moving', 'film', '.']);
  const sum = explanation.words.reduce((s: number, w: { score: number }) => s + w.score, 0);
  assert.ok(Math.abs(sum - explanation.scoreDifference) <= 0.05 * Math.abs(explanation.scoreDifference) + 1e-6);
  assert.equal(explanation.label, result.predictions[0].label);
  const human = cli('predict', '--model', model, '--text', 'A warm film.', '--explain');
  assert.match(human, /toward (negative|positive) \(\+\) \/ away \(−\): /);
});

test('eval --errors: every listed row is at its file:line, in the cell of its true and predicted class', () => {
  const result = JSON.parse(cli('eval', '--model', model, '--data', data, '--split', 'validation', '--errors', '--json').trim().split('\n').pop()!);
  const cells = result.errors.cells;
  const listed = cells.flat(2);
  assert.equal(listed.length, result.n, 'every evaluated row is in one cell');
  for (const [t, row] of cells.entries()) {
    for (const [p, cell] of row.entries()) {
      for (const r of cell) {
        assert.equal(r.label, t);
        assert.equal(r.predicted, p);
        const line = readFileSync(r.file, 'utf8').split('\n')[r.line - 1];
        assert.ok(line.includes(r.text.slice(0, 20)), `${r.file}:${r.line} holds "${r.text}"`);
      }
      for (let i = 1; i < cell.length; i++) assert.ok(cell[i - 1].confidence >= cell[i].confidence, 'most confident first');
    }
  }
  assert.deepEqual(result.confusion, cells.map((row: unknown[][]) => row.map((c) => c.length)), 'the cells are the confusion matrix');
  assert.ok(Array.isArray(result.errors.possibleLabelErrors));
});

test('eval --calibration and a saved threshold', () => {
  const result = JSON.parse(cli('eval', '--model', model, '--data', data, '--split', 'validation', '--calibration', '--threshold', '0.9', '--json').trim().split('\n').pop()!);
  assert.ok(result.calibration.temperature > 0);
  assert.ok(result.calibration.uncalibrated.ece >= 0 && result.calibration.calibrated.bins.length === 10);
  assert.ok(result.threshold.curve.length === 19 && result.threshold.threshold === 0.9);
  const before = JSON.parse(cli('predict', '--model', model, '--text', 'a film', '--json').trim()).predictions[0];
  cli('eval', '--model', model, '--data', data, '--split', 'validation', '--threshold', '0.999', '--save-threshold');
  const after = JSON.parse(cli('predict', '--model', model, '--text', 'a film', '--json').trim()).predictions[0];
  assert.equal(after.label, 'negative', `positive needs probability 0.999 now (it has ${before.probs.positive})`);
  // --clear-threshold undoes it: the most probable class again.
  assert.equal(JSON.parse(cli('eval', '--model', model, '--data', data, '--split', 'validation', '--clear-threshold', '--json').trim().split('\n').pop()!).thresholdCleared, true);
  assert.equal(JSON.parse(readFileSync(join(model, 'calibration.json'), 'utf8')).threshold, undefined);
  const cleared = JSON.parse(cli('predict', '--model', model, '--text', 'a film', '--json').trim()).predictions[0];
  assert.deepEqual(cleared, before);
});

test('--save-threshold without --threshold, or with --clear-threshold, is a usage error (exit 2) that changes nothing', () => {
  const calibration = readFileSync(join(model, 'calibration.json'), 'utf8');
  for (const extra of [['--save-threshold'], ['--threshold', '0.6', '--save-threshold', '--clear-threshold']]) {
    const run = spawnSync(process.execPath, [CLI, 'eval', '--model', model, '--data', data, ...extra], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /--save-threshold (needs --threshold P|and --clear-threshold contradict each other)/);
  }
  assert.equal(readFileSync(join(model, 'calibration.json'), 'utf8'), calibration);
});
