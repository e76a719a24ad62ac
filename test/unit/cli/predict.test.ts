/** The built CLI (`dist/cli.js`, as users run it): golden logits, JSON output, and clean errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TINY_BERT, loadGolden, maxAbsDiff } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const golden = loadGolden();

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('predict --json prints the golden logits for the six golden texts', () => {
  const texts = golden.samples.flatMap((s) => ['--text', s.text]);
  const run = cli('predict', '--model', TINY_BERT, '--max-length', '16', '--json', ...texts);
  assert.equal(run.code, 0, run.stderr);
  const { predictions, model } = JSON.parse(run.stdout);
  assert.equal(predictions.length, 6);
  assert.ok(maxAbsDiff(predictions.flatMap((p: any) => p.logits), golden.outputs.logits) <= 2e-5);
  predictions.forEach((p: any, i: number) => {
    assert.equal(p.text, golden.samples[i].text);
    const probs = golden.outputs.probs[i];
    assert.equal(p.label, probs[1] > probs[0] ? 'positive' : 'negative');
    assert.ok(Math.abs(p.probs.positive - probs[1]) <= 2e-5);
  });
  assert.equal(model.backend, 'wasm');
});

test('predict --file classifies each non-empty line; the built-in model needs no download', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cli-')), 'lines.txt');
  writeFileSync(file, `${golden.samples[0].text}\n\n${golden.samples[1].text}\n`);
  const run = cli('predict', '--model', 'builtin:tiny-bert', '--file', file, '--max-length', '16', '--json');
  assert.equal(run.code, 0, run.stderr);
  const logits = JSON.parse(run.stdout).predictions.map((p: any) => p.logits);
  assert.ok(maxAbsDiff(logits.flat(), golden.outputs.logits.slice(0, 2)) <= 2e-5);
});

test('a user mistake is one line on stderr, exit code 1, and a JSON error with --json', () => {
  const missing = cli('predict', '--model', '/no/such/model', '--text', 'hi', '--json');
  assert.equal(missing.code, 1);
  assert.deepEqual(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /^error: .*\/no\/such\/model/);
  assert.doesNotMatch(missing.stderr, /\s+at /, 'no stack trace');
  assert.equal(JSON.parse(missing.stdout).kind, 'model-not-found');

  const nothing = cli('predict', '--model', TINY_BERT);
  assert.equal(nothing.code, 2, 'nothing to predict is a command-line mistake');
  assert.match(nothing.stderr, /Nothing to predict/);

  const unknown = cli('predict', '--model', TINY_BERT, '--text', 'x', '--frobnicate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: unknown option --frobnicate; "bert-workbench predict --help" lists the options\./);
});
