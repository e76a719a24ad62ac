/**
 * One contract for every command of the built CLI: usage on stdout with exit code 0 when asked for
 * (`--help`, `-h`, `help <command>`, `<command> --help`); a wrong command line is one line on stderr
 * naming the closest known name, exit code 2; a bad file is exit code 1.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closestName, editDistance } from '../../../src/cli/args';
import { TINY_BERT } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-contract-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function assertOneErrorLine(run: { stderr: string }, pattern: RegExp): void {
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(run.stderr, /\s+at |ERR_PARSE_ARGS/, 'no stack trace, no Node error code');
}

test('help is usage on stdout with exit code 0, at the top and for each command', () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const run = cli(...args);
    assert.equal(run.code, 0, args.join(' '));
    assert.match(run.stdout, /^Usage: bert-workbench <command>/);
    assert.equal(run.stderr, '');
  }
  for (const args of [['predict', '--help'], ['predict', '-h'], ['help', 'predict']]) {
    const run = cli(...args);
    assert.equal(run.code, 0, args.join(' '));
    assert.match(run.stdout, /--text/);
    assert.equal(run.stderr, '');
  }
});

test('no command at all: the usage on stderr and exit code 2', () => {
  const run = cli();
  assert.equal(run.code, 2);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^Usage: bert-workbench/);
});

test('an unknown option or command names the closest one, one line, exit code 2', () => {
  const option = cli('predict', '--model', TINY_BERT, '--txt', 'hello');
  assert.equal(option.code, 2);
  assertOneErrorLine(option, /^error: unknown option --txt; did you mean --text\?$/);

  const command = cli('trian', '--data', 'x');
  assert.equal(command.code, 2);
  assertOneErrorLine(command, /^error: unknown command "trian"; did you mean train\?$/);

  const json = cli('predict', '--modle', TINY_BERT, '--json');
  assert.equal(json.code, 2);
  assert.equal(JSON.parse(json.stdout).kind, 'bad-argument');
  assert.match(JSON.parse(json.stdout).error, /did you mean --model\?/);
});

test('a bad or missing option value is exit code 2, like the README says', () => {
  const data = join(scratch, 'd.csv');
  writeFileSync(data, 'text,label\ngood,pos\nbad,neg\n');
  const epochs = cli('train', '--data', data, '--model', 'builtin:tiny-bert', '--out', join(scratch, 'm'), '--epochs', 'abc');
  assert.equal(epochs.code, 2);
  assertOneErrorLine(epochs, /^error: --epochs must be a whole number from 1 to \d+, not "abc"\./);

  const swallowed = cli('train', '--data', data, '--model', 'builtin:tiny-bert', '--out', join(scratch, 'm'), '--epochs', '--json');
  assert.equal(swallowed.code, 2);
  assert.match(swallowed.stderr, /--epochs needs a value/);

  const backend = cli('predict', '--model', TINY_BERT, '--text', 'x', '--backend', 'cuda');
  assert.equal(backend.code, 2);
  assertOneErrorLine(backend, /^error: --backend must be .* not "cuda"\./);

  const flagValue = cli('predict', '--model', TINY_BERT, '--text', 'x', '--offline=yes');
  assert.equal(flagValue.code, 2);
  assertOneErrorLine(flagValue, /--offline takes no value/);

  const stray = cli('inspect', '--data', data, 'extra');
  assert.equal(stray.code, 2);
  assertOneErrorLine(stray, /unexpected argument "extra"/);
});

test('inspect on a plain text file says it is not a labelled dataset (exit code 1), not a CSV field-count error', () => {
  const notes = join(scratch, 'notes.txt');
  writeFileSync(notes, 'I loved this film, truly.\nThe plot was thin\nand the acting, well, wooden; sadly.\n');
  const run = cli('inspect', '--data', notes);
  assert.equal(run.code, 1);
  assertOneErrorLine(run, /notes\.txt.*not a labelled dataset/);
  assert.doesNotMatch(run.stderr, /line \d|has \d+ fields/, 'not a field-count error on some line');
});

test('closestName: prefixes, typos and swaps, and nothing when nothing is close', () => {
  assert.equal(closestName('txt', ['text', 'file', 'model']), 'text');
  assert.equal(closestName('modle', ['text', 'file', 'model']), 'model');
  assert.equal(closestName('max-len', ['max-length', 'model']), 'max-length');
  assert.equal(closestName('zzzzzz', ['text', 'file', 'model']), undefined);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});
