/**
 * The bundled sample teaches the right lesson: the default run (builtin:review-bert, `train`'s
 * defaults) on samples/reviews.csv ends clearly above always answering one class on its test split,
 * with no small-data warning, and gets most lines of samples/notes.txt right. The random-weight
 * builtin:tiny-bert, on the same data and settings, does not learn, and the run says so.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const SAMPLES = join(ROOT, 'samples');
const scratch = mkdtempSync(join(tmpdir(), 'sample-learns-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The sentiment each line of notes.txt was written with: alternately positive and negative. */
const NOTES_TRUTH = ['positive', 'negative'];

function cli(args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

function defaultRun(model: string) {
  const out = join(scratch, model.replace(/\W/g, '-'));
  const events = cli(['train', '--data', join(SAMPLES, 'reviews.csv'), '--model', model, '--out', out, '--json']);
  return { out, done: events.find((e) => e.event === 'done'), dataset: events.find((e) => e.event === 'dataset').summary };
}

test('the default run on samples/reviews.csv learns: test accuracy well above the majority baseline, most notes right', () => {
  const { out, done } = defaultRun('builtin:review-bert');
  assert.equal(done.status, 'completed');
  assert.equal(done.learning, undefined, 'no small-data warning');
  assert.ok(done.test.accuracy >= 0.65, `test accuracy ${done.test.accuracy} (majority baseline 0.5)`);
  assert.ok(done.best.accuracy >= 0.65, `validation accuracy ${done.best.accuracy}`);

  const notes = readFileSync(join(SAMPLES, 'notes.txt'), 'utf8').trim().split('\n');
  const [result] = cli(['predict', '--model', out, '--file', join(SAMPLES, 'notes.txt'), '--json']);
  const right = result.predictions.filter((p: { label: string }, i: number) => p.label === NOTES_TRUTH[i % 2]).length;
  assert.equal(result.predictions.length, notes.length);
  assert.ok(right >= 7, `${right} of ${notes.length} lines of notes.txt right`);
});

test('the random-weight tiny-bert does not learn on the sample, and the run says so', () => {
  const { done } = defaultRun('builtin:tiny-bert');
  assert.ok(done.learning, 'the small-data warning');
  assert.equal(done.learning.kind, 'no-learning');
  assert.ok(done.test.accuracy < 0.6, `test accuracy ${done.test.accuracy}`);
});
