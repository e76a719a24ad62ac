/** loadDataset as a whole: layouts, splits, cleaning counts, label checks, options. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDataset } from '../../../src/server/engine/data';
import { UserError } from '../../../src/server/engine/errors';
import { FIXTURES, readFixtureCsv, tempDir, toDelimited, write } from './helpers';

const reviews = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => ({ text: `review ${i + offset}: ${i % 2 ? 'loved' : 'hated'} it`, label: i % 2 ? 'pos' : 'neg' }));

test('an IMDb-like tree: split folders of label folders, unsup ignored, <br /> cleaned, validation carved from train', async () => {
  const dir = tempDir();
  for (const split of ['train', 'test']) {
    reviews(40).forEach((r, i) => write(join(dir, 'aclImdb', split, r.label, `${i}_${i % 10}.txt`), `${split} ${r.text}<br /><br />The end &amp; credits.`));
    write(join(dir, 'aclImdb', split, 'urls_pos.txt'), 'http://example.invalid\n');
  }
  write(join(dir, 'aclImdb', 'train', 'unsup', '0_0.txt'), 'unlabelled');
  write(join(dir, 'aclImdb', 'README'), 'readme');
  const ds = await loadDataset(join(dir, 'aclImdb'));
  assert.equal(ds.source.format, 'folder');
  assert.deepEqual(ds.id2label, ['neg', 'pos']);
  assert.deepEqual([ds.splits.train.length, ds.splits.validation.length, ds.splits.test.length], [36, 4, 40]);
  assert.equal(ds.report.rowsRead, 80);
  assert.match(ds.splits.test[0].text, /^test review \d+: \w+ it The end & credits\.$/);
  assert.equal(ds.splits.test[0].line, 1);
  assert.match(ds.splits.test[0].file, /aclImdb\/test\/(neg|pos)\/\d+_\d\.txt$/);
  assert.equal(ds.report.userSplits, true);
  assert.match(ds.report.splitRule, /Validation: 10% of train/);
  assert.deepEqual(ds.source.files.map((f) => [f.split, f.rows]), [['test', 20], ['test', 20], ['train', 20], ['train', 20]]);
});

test('train and validation without test: no test split, nothing carved', async () => {
  const dir = tempDir();
  write(join(dir, 'train.csv'), toDelimited(reviews(20), ','));
  write(join(dir, 'dev.csv'), toDelimited(reviews(6, 100), ','));
  const ds = await loadDataset(dir);
  assert.deepEqual([ds.splits.train.length, ds.splits.validation.length, ds.splits.test.length], [20, 6, 0]);
  assert.match(ds.report.splitRule, /No test split/);
});

test('a split column; rows of other splits are dropped and counted', async () => {
  const lines = ['text,label,split', 'a,pos,train', 'b,neg,train', 'c,pos,test', 'd,neg,dev', 'e,pos,unsup', 'f,neg,'];
  const ds = await loadDataset(write(join(tempDir(), 'data.csv'), lines.join('\n')));
  assert.deepEqual(ds.splits.train.map((e) => e.text), ['a', 'b', 'f']);
  assert.deepEqual(ds.splits.validation.map((e) => e.text), ['d']);
  assert.deepEqual(ds.splits.test.map((e) => e.text), ['c']);
  assert.deepEqual(ds.report.dropped, { 'split "unsup" is not train/validation/test': 1 });
});

test('empty rows, empty texts and texts emptied by cleaning are dropped and counted', async () => {
  const lines = ['text,label', 'good,pos', ',', ',neg', '<br />,pos', 'bad,neg', '"  ",pos'];
  const ds = await loadDataset(write(join(tempDir(), 'd.csv'), lines.join('\n')), { validationSplit: 0, testSplit: 0 });
  assert.deepEqual(ds.report.dropped, { 'empty row': 1, 'empty text': 2, 'empty after cleaning': 1 });
  assert.equal(ds.report.rowsRead, 6);
  assert.equal(ds.report.rowsKept, 2);
  const kept = await loadDataset(write(join(tempDir(), 'd.csv'), lines.join('\n')), { validationSplit: 0, testSplit: 0, clean: { html: false } });
  assert.equal(kept.report.rowsKept, 3);
});

test('the auto split is stratified 80/10/10 and the same for the same seed', async () => {
  const file = join(FIXTURES, 'sst5', 'train.csv');
  const a = await loadDataset(file);
  const b = await loadDataset(file, { seed: 42 });
  const c = await loadDataset(file, { seed: 1, validationSplit: 0.2, testSplit: 0 });
  assert.deepEqual([a.splits.train.length, a.splits.validation.length, a.splits.test.length], [160, 20, 20]);
  for (let id = 0; id < 5; id++) assert.equal(a.splits.test.filter((e) => e.label === id).length, 4);
  assert.deepEqual(a.splits, b.splits);
  assert.deepEqual([c.splits.train.length, c.splits.validation.length, c.splits.test.length], [160, 40, 0]);
  assert.equal(a.report.userSplits, false);
});

test('the same text never sits in two splits', async () => {
  const dir = tempDir();
  write(join(dir, 'train.csv'), 'text,label\nshared,pos\nonly train,neg\nonly train,neg\nclash,pos\nother,neg\nfine,pos\n');
  write(join(dir, 'test.csv'), 'text,label\nshared,pos\nclash,neg\nmore,pos\n');
  const ds = await loadDataset(dir, { validationSplit: 0 });
  const texts = (s: 'train' | 'test') => ds.splits[s].map((e) => e.text);
  assert.deepEqual(texts('train'), ['only train', 'other', 'fine']);
  assert.deepEqual(texts('test'), ['shared', 'clash', 'more']);
  assert.deepEqual(
    { removed: ds.report.duplicates.removed, across: ds.report.duplicates.acrossSplits, conflicts: ds.report.duplicates.conflicts },
    { removed: 2, across: 2, conflicts: 1 },
  );
});

test('given class names: labels outside them are errors; id order is theirs', async () => {
  const file = join(FIXTURES, 'sst2', 'validation.csv');
  const ds = await loadDataset(file, { labels: ['positive', 'negative'] });
  assert.deepEqual(ds.id2label, ['positive', 'negative']);
  const first = readFixtureCsv(file)[0];
  assert.equal(ds.id2label[ds.splits.train.concat(ds.splits.validation, ds.splits.test).find((e) => e.line === 2)!.label], first.label);
  await assert.rejects(loadDataset(file, { labels: ['pos', 'neg'] }), (e: UserError) => e.kind === 'unknown-label' && e.line === 2);
});

test('bad split fractions are refused', async () => {
  const file = join(FIXTURES, 'sst2', 'validation.csv');
  await assert.rejects(loadDataset(file, { validationSplit: 0.6, testSplit: 0.5 }), (e: UserError) => e.kind === 'bad-argument');
});

test('a folder of several data files not named for splits is ambiguous', async () => {
  const dir = tempDir();
  write(join(dir, 'a.csv'), toDelimited(reviews(4), ','));
  write(join(dir, 'b.csv'), toDelimited(reviews(4), ','));
  await assert.rejects(loadDataset(dir), (e: UserError) => e.kind === 'no-dataset' && /a\.csv, b\.csv/.test(e.message));
});

test('a Hugging Face dataset folder keeps its split files in data/', async () => {
  const dir = tempDir();
  write(join(dir, 'README.md'), '# card');
  write(join(dir, 'data', 'train-00000-of-00001.jsonl'), reviews(10).map((r) => JSON.stringify(r)).join('\n'));
  write(join(dir, 'data', 'test-00000-of-00001.jsonl'), reviews(4, 50).map((r) => JSON.stringify(r)).join('\n'));
  const ds = await loadDataset(dir, { validationSplit: 0 });
  assert.deepEqual([ds.splits.train.length, ds.splits.test.length], [10, 4]);
});

test('a file over the size limit is refused before reading', async () => {
  const file = write(join(tempDir(), 'big.csv'), toDelimited(reviews(100), ','));
  await assert.rejects(loadDataset(file, { maxFileBytes: 100 }), (e: UserError) => e.kind === 'too-large' && e.file === file);
});

test('a missing path', async () => {
  await assert.rejects(loadDataset(join(tempDir(), 'nope.csv')), (e: UserError) => e.kind === 'no-dataset');
});

test('lookalike labels are flagged', async () => {
  const ds = await loadDataset(write(join(tempDir(), 'c.csv'), 'text,label\na,Positive\nb,positive\nc,negative\n'), { validationSplit: 0, testSplit: 0 });
  assert.match(ds.report.warnings.join('\n'), /"Positive" and "positive"/);
});
