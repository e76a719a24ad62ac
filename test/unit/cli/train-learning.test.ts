/**
 * The built CLI's small-data guard: a tiny random model trained for three steps on 200 SST-2
 * sentences learns nothing, and `train` says so at the end: a warning paragraph with the figures
 * and what to try on stderr, or the done event's `learning` with --json.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURES } from '../data/helpers';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-learning-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const brief = (out: string) => ['train', '--data', join(FIXTURES, 'sst2'), '--model', 'builtin:tiny-bert', '--out', join(scratch, out), '--max-steps', '3', '--batch-size', '16', '--max-length', '64'];

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('a model that did not learn: a warning paragraph on stderr naming the figures and what to try', () => {
  const run = cli(brief('human'));
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^completed: 3 steps; best validation accuracy/m);
  assert.doesNotMatch(run.stdout, /warning:/, 'the warning is on stderr');
  const warning = run.stderr.trim().split('\n');
  assert.match(warning[0], /^warning: Validation accuracy \d+\.\d% is no better than always answering '(negative|positive)' \(\d+\.\d%\): the model did not learn from 200 training examples\./);
  assert.equal(warning[1], 'What may help:');
  assert.match(warning[2], /^  - Train longer: --epochs 10 without --max-steps/);
  assert.match(warning[3], /^  - Start from a pre-trained model .*--model builtin:review-bert \(built in, no download\)/);
  assert.match(warning[4], /^  - Adapt the model to the dataset's text first: --adapt-steps 1000/);
  assert.match(warning[5], /^  - Label more examples: 200 training examples/);
});

test('with --json the finding is the done event\'s `learning`, and stdout stays pure JSON', () => {
  const run = cli([...brief('json'), '--json']);
  assert.equal(run.status, 0, run.stderr);
  const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  const done = events.at(-1);
  assert.equal(done.event, 'done');
  assert.equal(done.learning.kind, 'no-learning');
  assert.equal(done.learning.best, done.best.accuracy);
  assert.equal(done.learning.numTrain, 200);
  assert.deepEqual(done.learning.advice.map((a: { kind: string }) => a.kind), ['train-longer', 'pretrained-model', 'adapt', 'more-data']);
  assert.doesNotMatch(run.stderr, /warning:/);
});
