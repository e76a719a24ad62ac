/**
 * What `predict` reads and what the CLI echoes back: a binary or empty --file is refused with the
 * file's name, and user text is printed with control and bidi-override characters escaped, so a
 * text cannot rewrite the terminal line it is shown on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { escapeForTerminal } from '../../../src/cli/echo';
import { TINY_BERT } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cli-predict-input-'));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Characters that move the cursor, recolour the terminal or reorder what is shown. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

test('predict --file refuses a binary file as inspect does, naming the file, exit code 1', () => {
  const file = join(scratch, 'image.bin');
  writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0xff, 0x00, 0x41]));
  const run = cli('predict', '--model', TINY_BERT, '--file', file);
  assert.equal(run.code, 1, run.stdout);
  assert.equal(run.stdout, '', 'no predictions');
  assert.match(run.stderr, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: The file is binary`));
  assert.equal(run.stderr.trim().split('\n').length, 1);
  assert.doesNotMatch(run.stderr, UNSAFE, 'no raw bytes echoed');

  const json = cli('predict', '--model', TINY_BERT, '--file', file, '--json');
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).kind, 'binary-file');
});

test('predict --file refuses a file that is not UTF-8 with the line of the bad byte', () => {
  const file = join(scratch, 'latin1.txt');
  writeFileSync(file, Buffer.concat([Buffer.from('fine line\ncaf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]));
  const run = cli('predict', '--model', TINY_BERT, '--file', file);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /latin1\.txt:2: The file is not valid UTF-8/);
});

test('predict --file on an empty or blank file names the file', () => {
  for (const [name, content] of [['empty.txt', ''], ['blank.txt', '\n  \n\t\n']]) {
    const file = join(scratch, name);
    writeFileSync(file, content);
    const run = cli('predict', '--model', TINY_BERT, '--file', file);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, new RegExp(`${name.replace('.', '\\.')}: The file has no text to predict`));
    assert.match(run.stderr, /one text per line/);
  }
});

test('predict prints texts with control and bidi characters escaped; JSON keeps them exactly', () => {
  const sneaky = 'good\u202Etxt.exe\u2066film\u2069\u200E\u200F \u001b[31mred\u001b[0m\u0085 end\rover';
  const run = cli('predict', '--model', TINY_BERT, '--text', sneaky, '--max-length', '16');
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout, UNSAFE);
  assert.doesNotMatch(run.stdout.trimEnd(), /\r/);
  assert.match(run.stdout, /good\\u202Etxt\.exe\\u2066film\\u2069\\u200E\\u200F \\u001B\[31mred\\u001B\[0m\\u0085 end\\rover$/m);

  const json = cli('predict', '--model', TINY_BERT, '--text', sneaky, '--max-length', '16', '--json');
  assert.equal(json.code, 0, json.stderr);
  assert.doesNotMatch(json.stdout, UNSAFE, 'the JSON line itself is safe to show');
  assert.equal(JSON.parse(json.stdout).predictions[0].text, sneaky, 'and parses back to the exact text');
});

test('an error that quotes user text escapes it too, and stays one line', () => {
  const file = join(scratch, 'labels.csv');
  writeFileSync(file, 'text,label\ngood film,positive\nbad film,negative\nnice,positive\n');
  const run = cli('eval', '--model', TINY_BERT, '--data', file, '--text-column', 'te\u202Ext\nnew line');
  assert.equal(run.code, 1);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, UNSAFE);
  assert.match(run.stderr, /"te\\u202Ext\\nnew line"/);
});

test('escapeForTerminal: C0, DEL, C1, bidi marks, embeddings, overrides and isolates become visible escapes', () => {
  assert.equal(escapeForTerminal('plain text, ünïcode 中文 😀'), 'plain text, ünïcode 中文 😀');
  assert.equal(escapeForTerminal('a\tb\nc\rd'), 'a\\tb\\nc\\rd');
  assert.equal(escapeForTerminal('\u0000\u0007\u001b\u007f\u0080\u009f'), '\\u0000\\u0007\\u001B\\u007F\\u0080\\u009F');
  assert.equal(escapeForTerminal('\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c'),
    '\\u200E\\u200F\\u202A\\u202B\\u202C\\u202D\\u202E\\u2066\\u2067\\u2068\\u2069\\u061C');
  assert.equal(escapeForTerminal(escapeForTerminal('x\u202Ey')), 'x\\u202Ey', 'escaping twice changes nothing more');
});
