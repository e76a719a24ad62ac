import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { discoverDatasets } from '../../../src/server/engine/data';
import { FIXTURES, tempDir, toDelimited, write } from './helpers';

const reviews = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `review ${i} ${'words '.repeat(i % 7)}`, label: i % 3 ? 'pos' : 'neg' }));

function workspace(): string {
  const root = tempDir();
  for (const name of readdirSync(join(FIXTURES, 'sst2'))) copyFileSync(join(FIXTURES, 'sst2', name), write(join(root, 'data', 'sst2', name), ''));
  write(join(root, 'reviews.jsonl'), reviews(500).map((r) => JSON.stringify({ review: r.text, sentiment: r.label })).join('\n') + '\n');
  write(join(root, 'notes', 'labels.tsv'), toDelimited(reviews(30), '\t'));
  reviews(6).forEach((r, i) => write(join(root, 'imdb', r.label, `${i}.txt`), r.text));
  write(join(root, 'package.json'), '{"name": "x", "version": "1.0.0"}\n');
  write(join(root, 'config.csv'), 'key,value\na,1\n');
  write(join(root, 'node_modules', 'pkg', 'train.csv'), toDelimited(reviews(10), ','));
  write(join(root, '.git', 'data.csv'), toDelimited(reviews(10), ','));
  write(join(root, 'dist', 'data.csv'), toDelimited(reviews(10), ','));
  write(join(root, 'big', 'huge.csv'), toDelimited(reviews(3000), ','));
  return root;
}

test('finds the labelled datasets of a workspace and skips the rest', async () => {
  const root = workspace();
  const found = await discoverDatasets(root, { maxBytes: 50_000 });
  assert.deepEqual(found.map((d) => [d.relativePath, d.kind, d.format]), [
    ['reviews.jsonl', 'file', 'jsonl'],
    ['data/sst2', 'folder', 'csv'],
    ['imdb', 'folder', 'folder'],
    ['notes/labels.tsv', 'file', 'tsv'],
  ]);
  const [jsonl, sst2, imdb, tsv] = found;
  assert.deepEqual([jsonl.textColumn, jsonl.labelColumn, jsonl.rows, jsonl.rowsExact], ['review', 'sentiment', 500, false]);
  assert.deepEqual(jsonl.labels.sort(), ['neg', 'pos']);
  assert.deepEqual(sst2.splits, ['train', 'validation', 'test']);
  assert.deepEqual(sst2.files, ['test.csv', 'train.csv', 'validation.csv']);
  assert.equal(sst2.rows, 300);
  assert.deepEqual([imdb.files, imdb.rows, imdb.rowsExact], [['neg', 'pos'], 6, true]);
  assert.deepEqual([tsv.rows, tsv.rowsExact], [30, true]);
});

test('large files are listed when asked', async () => {
  const root = workspace();
  const found = await discoverDatasets(root, { maxBytes: 50_000, includeLarge: true });
  const huge = found.find((d) => d.relativePath === 'big/huge.csv');
  assert.ok(huge);
  assert.ok(Math.abs(huge.rows - 3000) < 300, `estimate ${huge.rows}`);
});
