/**
 * The built CLI's `train` and `eval` on a real dataset slice in every supported format: the dataset
 * summary comes first, training runs, the model is saved, and `eval` measures it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURES, SPLIT_NAMES, readFixtureCsv, writeAs, type SplitRows } from '../data/helpers';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-train-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  const events = () => run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, get events() { return events(); } };
}

const splits = Object.fromEntries(SPLIT_NAMES.map((s) => [s, readFixtureCsv(join(FIXTURES, 'sst2', `${s}.csv`))])) as SplitRows;

for (const format of ['csv', 'tsv', 'jsonl', 'json', 'parquet', 'split-folders', 'split-column']) {
  test(`train then eval on ${format} data`, () => {
    mkdirSync(join(scratch, format), { recursive: true });
    const data = format === 'csv' ? join(FIXTURES, 'sst2') : writeAs(format, join(scratch, format), splits);
    const out = join(scratch, `model-${format}`);
    const run = cli('train', '--data', data, '--model', 'builtin:tiny-bert', '--out', out, '--max-steps', '3', '--batch-size', '8', '--max-length', '32', '--json');
    assert.equal(run.code, 0, run.stderr);
    const kinds = run.events.map((e) => e.event);
    assert.equal(kinds[0], 'dataset', 'the dataset summary is printed before training starts');
    assert.equal(run.events[0].summary.splits.train.examples, splits.train.length);
    assert.equal(kinds[1], 'start');
    assert.equal(kinds.at(-1), 'done');
    assert.equal(run.events.at(-1).steps, 3);
    assert.ok(existsSync(join(out, 'model.safetensors')));

    const evaluated = cli('eval', '--model', out, '--data', data, '--json');
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const metrics = evaluated.events[0];
    assert.equal(metrics.split, 'test');
    assert.equal(metrics.n, splits.test.length);
    assert.equal(metrics.confusion.flat().reduce((a: number, b: number) => a + b, 0), splits.test.length);
    assert.ok(metrics.accuracy >= 0 && metrics.accuracy <= 1);
  });
}

test('train refuses an existing model folder (exit 1) and bad settings (exit 2) with one line', () => {
  const out = join(scratch, 'model-csv');
  const again = cli('train', '--data', join(FIXTURES, 'sst2'), '--model', 'builtin:tiny-bert', '--out', out, '--max-steps', '1');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a model/);
  assert.equal(again.stdout, '', 'it stops before reading the dataset');
  assert.equal(again.stderr.trim().split('\n').length, 1);
  const badLr = cli('train', '--data', join(FIXTURES, 'sst2'), '--model', 'builtin:tiny-bert', '--out', join(scratch, 'x'), '--lr', '5');
  assert.equal(badLr.code, 2);
  assert.match(badLr.stderr, /--lr must be a number/);
});
