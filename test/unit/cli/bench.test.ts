/** `bench` through the built CLI (`dist/cli.js`, as users run it): its JSON fields and its errors. No timing assertions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const TINY = ['--layers', '1', '--hidden', '32', '--heads', '2', '--intermediate', '64', '--vocab', '1000', '--batch-size', '4', '--seq-len', '16'];

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Runs `bench` with --json and returns its one JSON line. */
function bench(...args: string[]): Record<string, any> {
  const run = cli('bench', ...args, '--json');
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line: ${run.stdout}`);
  return JSON.parse(lines[0]);
}

function assertPositive(result: Record<string, any>, fields: string[]): void {
  for (const f of fields) assert.ok(typeof result[f] === 'number' && Number.isFinite(result[f]) && result[f] > 0, `${f} = ${result[f]}`);
}

test('bench train --json: the documented fields, with sane values', () => {
  const r = bench('train', ...TINY, '--steps', '2', '--warmup', '1');
  assert.equal(r.mode, 'train');
  assert.equal(typeof r.backend, 'string');
  assert.deepEqual(r.shape, { layers: 1, hidden: 32, heads: 2, intermediate: 64, vocab: 1000 });
  assert.equal(r.batchSize, 4);
  assert.equal(r.seqLen, 16);
  assert.equal(r.steps, 2);
  assert.equal(r.optimizer, 'AdamW');
  assertPositive(r, ['samplesPerSec', 'tokensPerSec', 'secPerStep', 'minSecPerStep', 'cpuSecPerStep', 'peakRssMB', 'numTensors']);
  assert.ok(r.minSecPerStep <= r.secPerStep, 'the fastest step is no slower than the mean');
  assert.ok(Math.abs(r.tokensPerSec - r.samplesPerSec * 16) <= 0.02 * r.tokensPerSec + 0.1, 'tokens/s = samples/s × seq-len');
  assert.ok(Number.isInteger(r.numTensors));
  assert.ok(r.peakRssMB < 4096, `peak RSS ${r.peakRssMB} MB`);
});

test('bench train leaves as many live tensors after 4 steps as after 2 (nothing leaks per step)', () => {
  const two = bench('train', ...TINY, '--steps', '2', '--warmup', '0');
  const four = bench('train', ...TINY, '--steps', '4', '--warmup', '0');
  assert.equal(four.numTensors, two.numTensors);
  assert.equal(four.steps, 4);
});

test('bench predict --json: the documented fields, no optimizer', () => {
  const r = bench('predict', ...TINY, '--steps', '2');
  assert.equal(r.mode, 'predict');
  assert.equal(r.steps, 2);
  assert.equal(r.batchSize, 4);
  assert.equal(r.optimizer, undefined);
  assertPositive(r, ['samplesPerSec', 'tokensPerSec', 'secPerStep', 'minSecPerStep', 'cpuSecPerStep', 'peakRssMB', 'numTensors']);
});

test('a bad shape is one clear line on stderr and exit code 2 (the command line is wrong); with --json also a JSON error', () => {
  const bad = cli('bench', 'train', '--hidden', '30', '--heads', '4');
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^error: --hidden 30 is not a multiple of --heads 4\./);
  assert.doesNotMatch(bad.stderr, /\s+at /, 'no stack trace');

  const json = cli('bench', 'train', '--hidden', '30', '--heads', '4', '--json');
  assert.equal(json.code, 2);
  assert.equal(JSON.parse(json.stdout).kind, 'bad-argument');

  const noMode = cli('bench', 'fly');
  assert.equal(noMode.code, 2);
  assert.match(noMode.stderr, /^error: bench needs one mode: train, mlm or predict\./);

  const range = cli('bench', 'train', '--steps', '0');
  assert.equal(range.code, 2);
  assert.match(range.stderr, /^error: --steps must be a whole number from 1/);
});
