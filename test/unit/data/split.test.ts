import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dedupe, splitFromName, splitFromValue, stratifiedSplit, type SplitRow } from '../../../src/server/engine/data/split';

test('split names in file and folder names', () => {
  assert.equal(splitFromName('train.csv'), 'train');
  assert.equal(splitFromName('imdb-test.jsonl'), 'test');
  assert.equal(splitFromName('dev.tsv'), 'validation');
  assert.equal(splitFromName('valid'), 'validation');
  assert.equal(splitFromName('sst2_validation.parquet'), 'validation');
  assert.equal(splitFromName('train-00000-of-00002.parquet'), 'train');
  assert.equal(splitFromName('pretrain.csv'), undefined);
  assert.equal(splitFromName('reviews.csv'), undefined);
  assert.equal(splitFromName('train_test.csv'), undefined);
  assert.equal(splitFromValue(' Dev '), 'validation');
  assert.equal(splitFromValue('unsup'), undefined);
});

test('the stratified split keeps class shares, is seeded and keeps file order', () => {
  const rows = Array.from({ length: 1000 }, (_, i) => ({ label: i % 4 === 0 ? 'rare' : 'common', i }));
  const split = stratifiedSplit(rows, { validation: 0.1, test: 0.1 }, 42);
  assert.deepEqual([split.train.length, split.validation.length, split.test.length], [800, 100, 100]);
  assert.equal(split.validation.filter((r) => r.label === 'rare').length, 25);
  assert.equal(split.test.filter((r) => r.label === 'rare').length, 25);
  for (const part of Object.values(split)) assert.deepEqual(part.map((r) => r.i), [...part.map((r) => r.i)].sort((a, b) => a - b));
  assert.deepEqual(stratifiedSplit(rows, { validation: 0.1, test: 0.1 }, 42), split);
  assert.notDeepEqual(stratifiedSplit(rows, { validation: 0.1, test: 0.1 }, 7).test, split.test);
});

test('a class too small to share stays in train', () => {
  const rows = [{ label: 'a' }, { label: 'a' }, { label: 'b' }, ...Array.from({ length: 20 }, () => ({ label: 'c' }))];
  const split = stratifiedSplit(rows, { validation: 0.1, test: 0.1 }, 1);
  assert.equal(split.train.filter((r) => r.label === 'b').length, 1);
  assert.equal(split.train.filter((r) => r.label === 'a').length, 2);
});

const row = (text: string, label: string, split: SplitRow['split'], line: number): SplitRow => ({ text, label, split, file: 'f', line });

test('dedupe keeps one copy per text, the test copy over validation over train', () => {
  const rows = [row('a', 'pos', 'train', 1), row('a', 'pos', 'test', 2), row('b', 'neg', 'train', 3), row('b', 'neg', 'train', 4), row('c', 'pos', 'validation', 5), row('c', 'pos', 'train', 6)];
  const { kept, report } = dedupe(rows);
  assert.deepEqual(kept.map((r) => r.line), [2, 3, 5]);
  assert.equal(report.removed, 3);
  assert.equal(report.acrossSplits, 2);
  assert.equal(report.conflicts, 0);
});

test('dedupe drops texts whose labels conflict in the split that keeps them', () => {
  const rows = [row('a', 'pos', undefined, 1), row('a', 'neg', undefined, 2), row('b', 'pos', 'train', 3), row('b', 'neg', 'test', 4), row('c', 'pos', undefined, 5)];
  const { kept, report } = dedupe(rows);
  assert.deepEqual(kept.map((r) => r.line), [4, 5]);
  assert.equal(report.conflicts, 2);
  assert.equal(report.conflictRowsDropped, 3);
  assert.deepEqual(report.conflictSamples[0], { text: 'a', labels: ['pos', 'neg'], where: ['f:1', 'f:2'] });
});
