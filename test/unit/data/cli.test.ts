import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand, CliOutput } from '../../../src/cli/command';
import { datasetsCommand } from '../../../src/cli/datasets';
import { inspectCommand } from '../../../src/cli/inspect';
import type { UserError } from '../../../src/server/engine/errors';
import { FIXTURES, tempDir, write } from './helpers';

async function run(command: CliCommand, args: string[]): Promise<{ result: any; human: string }> {
  const { values, positionals } = parseArgs({ args, options: { ...command.options, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  let result: any;
  let human = '';
  const out: CliOutput = { json: true, event: () => {}, result: (obj, text) => ([result, human] = [obj, text]), log: () => {}, warn: () => {} };
  await command.run(values, positionals, out);
  return { result, human };
}

test('inspect prints the summary, with token lengths from the model folder', async () => {
  const { result, human } = await run(inspectCommand, ['--data', join(FIXTURES, 'sst2'), '--model', join(FIXTURES, '..', 'tiny-bert'), '--max-length', '16', '--json']);
  assert.equal(result.rows.read, 300);
  assert.equal(result.tokens.maxLength, 16);
  assert.ok(result.tokens.median > 2 && result.tokens.truncated > 0);
  assert.match(human, /Tokens {6}median/);
});

test('inspect passes the column, split and cleaning options on', async () => {
  const { result } = await run(inspectCommand, ['--data', join(FIXTURES, 'sst5', 'train.csv'), '--label-column', 'label', '--validation-split', '0.2', '--test-split', '0', '--seed', '3', '--no-clean-html']);
  assert.deepEqual([result.splits.train.examples, result.splits.validation.examples, result.splits.test.examples], [160, 40, 0]);
  assert.equal(result.columns.guessed.label, false);
  assert.equal(result.tokens, undefined);
});

test('datasets lists what it finds under --root', async () => {
  const { result, human } = await run(datasetsCommand, ['--root', FIXTURES]);
  const paths = result.datasets.map((d: { relativePath: string }) => d.relativePath);
  assert.ok(['sst2', 'sst5', 'rt-polarity', 'broken/unknown-label'].every((p) => paths.includes(p)), paths.join(' '));
  assert.match(human, /^path +format +rows +text +label +labels +splits$/m);
});

test('inspect --max-row-mb raises the CSV row limit; the dataset notes are printed as warnings', async () => {
  const dir = tempDir();
  const file = write(join(dir, 'long.csv'), `text,label\nshort,1\n"${'x'.repeat(9 << 20)}",0\nfine,1.0\nok,0\n`);
  const { result, human } = await run(inspectCommand, ['--data', file, '--max-row-mb', '16', '--validation-split', '0', '--test-split', '0']);
  assert.equal(result.rows.kept, 4);
  assert.match(human, /^Warning {5}the labels "1" \(1 row\) and "1\.0" \(1 row\)/m);
  await assert.rejects(run(inspectCommand, ['--data', file]), (e: UserError) => e.kind === 'too-large' && /--max-row-mb 10\b/.test(e.fix ?? ''));
});
