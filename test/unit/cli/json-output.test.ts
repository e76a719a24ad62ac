/**
 * The --json contract of the built CLI: stdout is exactly one JSON object per line (a program can
 * read it line by line), `train` ends with one `done`, and warnings never land among the results.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TINY_BERT } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-json-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Every stdout line parsed; fails on a line that is not one JSON object. */
function jsonLines(stdout: string): any[] {
  assert.ok(stdout.endsWith('\n'), 'stdout ends with a newline');
  return stdout.slice(0, -1).split('\n').map((line, i) => {
    let value: unknown;
    assert.doesNotThrow(() => (value = JSON.parse(line)), `stdout line ${i + 1} is not JSON: ${line.slice(0, 200)}`);
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `stdout line ${i + 1} is not an object`);
    return value;
  });
}

function tinyDataset(): string {
  const pos = ['a warm clever film', 'great acting and story', 'loved every minute', 'a joy to watch'];
  const neg = ['dull and far too long', 'a boring mess', 'hated the ending', 'weak plot and acting'];
  const rows = [0, 1, 2].flatMap((i) => [...pos.map((t) => `${t} ${i},positive`), ...neg.map((t) => `${t} ${i},negative`)]);
  const file = join(scratch, 'tiny.csv');
  writeFileSync(file, `text,label\n${rows.join('\n')}\n`);
  return file;
}

/** tiny-bert with a third class in its config: loading it warns that the classifier was re-initialised. */
function modelThatWarns(): string {
  const dir = join(scratch, 'three-classes');
  cpSync(TINY_BERT, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.id2label = { 0: 'a', 1: 'b', 2: 'c' };
  config.label2id = { a: 0, b: 1, c: 2 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

test('train --json: every stdout line is a JSON object, the summary first and one done last', () => {
  const out = join(scratch, 'model');
  const run = cli('train', '--data', tinyDataset(), '--model', TINY_BERT, '--out', out, '--epochs', '1', '--batch-size', '8',
    '--max-length', '16', '--workers', '1', '--json');
  assert.equal(run.code, 0, run.stderr);
  const events = jsonLines(run.stdout);
  const kinds = events.map((e) => e.event);
  assert.ok(kinds.every((k) => typeof k === 'string'), `every line is an event: ${kinds.join(' ')}`);
  assert.equal(kinds[0], 'dataset');
  assert.equal(kinds.filter((k) => k === 'done').length, 1, `one done event: ${kinds.join(' ')}`);
  assert.equal(kinds.at(-1), 'done');
  const done = events.at(-1);
  assert.equal(done.modelDir, out);
  assert.equal(done.steps, events.find((e) => e.event === 'start').totalSteps);
  assert.ok(done.best && typeof done.best.accuracy === 'number');
});

test('predict: model-load warnings go to stderr, never among the predictions on stdout', () => {
  const model = modelThatWarns();
  const json = cli('predict', '--model', model, '--text', 'hi', '--text', 'there', '--max-length', '16', '--json');
  assert.equal(json.code, 0, json.stderr);
  const [result, ...extra] = jsonLines(json.stdout);
  assert.deepEqual(extra, []);
  assert.equal(result.predictions.length, 2);
  assert.match(result.model.warnings.join(' '), /initialised randomly for 3 classes/, 'the JSON result still carries them');
  assert.match(json.stderr, /^warning: .*initialised randomly for 3 classes/m);

  const human = cli('predict', '--model', model, '--text', 'hi', '--text', 'there', '--max-length', '16');
  assert.equal(human.code, 0, human.stderr);
  assert.doesNotMatch(human.stdout, /warning/);
  assert.equal(human.stdout.trim().split('\n').length, 2, 'one line per prediction');
  assert.match(human.stderr, /^warning: .*initialised randomly for 3 classes/m);
});

test('eval --json with a model that warns: stdout is the metrics object alone', () => {
  const model = modelThatWarns();
  const data = join(scratch, 'three.csv');
  writeFileSync(data, 'text,label\ngood,a\nbad,b\nso so,c\nfine,a\nawful,b\nmeh,c\n');
  const run = cli('eval', '--model', model, '--data', data, '--max-length', '16', '--json');
  assert.equal(run.code, 0, run.stderr);
  const lines = jsonLines(run.stdout);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].n, 6);
  assert.match(run.stderr, /^warning: /m);
});
