/**
 * The real datasets (slices in test/fixtures/datasets), converted in every supported format and
 * layout, must read to the same examples as the original CSV files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanText, DEFAULT_CLEAN, loadDataset } from '../../../src/server/engine/data';
import { UserError } from '../../../src/server/engine/errors';
import { examplesBySplit, FIXTURES, readFixtureCsv, SPLIT_NAMES, tempDir, toDelimited, write, writeAs, type SplitRows } from './helpers';

const DATASETS = ['sst2', 'sst5', 'rt-polarity'];
const FORMATS = ['tsv', 'csv-crlf-bom-semicolon', 'jsonl', 'json', 'parquet', 'split-folders', 'split-column', 'split-dirs-jsonl'];

function fixtureSplits(name: string): SplitRows {
  const rows = (split: string) => readFixtureCsv(join(FIXTURES, name, `${split}.csv`));
  return { train: rows('train'), validation: rows('validation'), test: rows('test') };
}

test('rt-polarity CSV reads to exactly the rows csv-parse finds, cleaned, in file order', async () => {
  const ds = await loadDataset(join(FIXTURES, 'rt-polarity'));
  const expected = fixtureSplits('rt-polarity');
  for (const split of SPLIT_NAMES) {
    const got = ds.splits[split].map((e) => ({ text: e.text, label: ds.id2label[e.label] }));
    const want = expected[split].map((r) => ({ text: cleanText(r.text, DEFAULT_CLEAN), label: r.label }));
    assert.deepEqual(got, want, split);
  }
  assert.deepEqual(ds.id2label, ['negative', 'positive']);
  assert.equal(ds.source.format, 'csv');
  assert.equal(ds.report.userSplits, true);
  assert.equal(ds.splits.train[0].file, join(FIXTURES, 'rt-polarity', 'train.csv'));
  assert.equal(ds.splits.train[0].line, 2);
  assert.equal(ds.splits.train[1].line, 3);
});

for (const name of DATASETS) {
  for (const format of FORMATS) {
    test(`${name} as ${format} reads to the same examples as the CSV`, async () => {
      const reference = await loadDataset(join(FIXTURES, name));
      const path = writeAs(format, tempDir(), fixtureSplits(name));
      const ds = await loadDataset(path);
      assert.deepEqual(ds.id2label, reference.id2label);
      assert.deepEqual(examplesBySplit(ds), examplesBySplit(reference));
      assert.equal(ds.report.userSplits, true);
    });
  }

  test(`${name} as label folders (<label>/*.txt) splits like the same rows in one CSV`, async () => {
    const train = fixtureSplits(name).train;
    const dir = tempDir();
    writeAs('split-folders', dir, { train, validation: [], test: [] });
    const folders = await loadDataset(join(dir, 'train'));
    const csv = await loadDataset(write(join(dir, 'train-only.csv'), toDelimited(train, ',')));
    assert.equal(folders.source.format, 'folder');
    assert.equal(folders.report.userSplits, false);
    assert.deepEqual(examplesBySplit(folders), examplesBySplit(csv));
  });

  test(`${name} as a headerless TSV: the columns are guessed from their content`, async () => {
    const train = fixtureSplits(name).train;
    const headed = await loadDataset(write(join(tempDir(), 'with-header.tsv'), toDelimited(train, '\t')));
    const ds = await loadDataset(write(join(tempDir(), 'no-header.tsv'), toDelimited(train, '\t', { header: false })));
    assert.deepEqual([ds.textColumn, ds.labelColumn], ['column_1', 'column_2']);
    assert.deepEqual(examplesBySplit(ds), examplesBySplit(headed));
    assert.equal(ds.report.rowsRead, train.length);
  });
}

test('JSON Lines with numeric labels keep numeric order', async () => {
  const rows = fixtureSplits('sst5').train;
  const names = ['very negative', 'negative', 'neutral', 'positive', 'very positive'];
  const file = write(join(tempDir(), 'stars.jsonl'), rows.map((r) => JSON.stringify({ sentence: r.text, stars: names.indexOf(r.label) + 1 })).join('\n'));
  const ds = await loadDataset(file);
  assert.deepEqual(ds.id2label, ['1', '2', '3', '4', '5']);
  assert.deepEqual([ds.textColumn, ds.labelColumn], ['sentence', 'stars']);
  const first = ds.splits.train.find((e) => e.line === 1)!;
  assert.equal(ds.id2label[first.label], String(names.indexOf(rows[0].label) + 1));
});

test('a .json file holding one object per line is read as JSON Lines', async () => {
  const rows = fixtureSplits('sst2').validation;
  const file = write(join(tempDir(), 'records.json'), rows.map((r) => JSON.stringify(r)).join('\n'));
  const ds = await loadDataset(file);
  assert.equal(ds.source.format, 'jsonl');
  assert.equal(ds.report.rowsRead, rows.length);
});

test('Parquet rows are numbered from 1 across row groups', async () => {
  const path = writeAs('parquet', tempDir(), fixtureSplits('sst2'));
  const ds = await loadDataset(path);
  const lines = ds.splits.train.map((e) => e.line);
  assert.equal(Math.min(...lines), 1);
  assert.equal(Math.max(...lines), 200);
  assert.equal(ds.source.files.find((f) => f.split === 'train')!.rows, 200);
});

test('JSON array rows carry the line their object starts on', async () => {
  const path = writeAs('json', tempDir(), fixtureSplits('sst2'));
  const ds = await loadDataset(path);
  const lines = ds.splits.validation.map((e) => e.line).sort((a, b) => a - b);
  assert.deepEqual(lines.slice(0, 3), [2, 6, 10]); // JSON.stringify(…, null, 2): 4 lines per object
});

// ---- a JSON file holding one object (issue "Hardening", item 4) ---------------------------------

const oneObject = async (name: string, content: string): Promise<UserError> => {
  const file = write(join(tempDir(), name), content);
  try {
    await loadDataset(file);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    assert.equal(e.file, file);
    return e;
  }
  assert.fail(`${name} was read without an error`);
};

test('a .json file holding one object is an error saying so and what form is expected', async () => {
  for (const content of ['{"text": "great film", "label": "pos"}\n', '{\n  "text": "great film",\n  "label": "pos"\n}\n']) {
    const e = await oneObject('one.json', content);
    assert.equal(e.kind, 'bad-json');
    assert.equal(e.line, 1);
    assert.match(e.message, /holds one JSON object, not a list of examples/);
    assert.match(e.fix ?? '', /array of objects.*JSON Lines/);
  }
});

test('one object whose key holds the rows: the error names the key and the rows in it', async () => {
  const rows = [{ text: 'great film', label: 'pos' }, { text: 'bad film', label: 'neg' }, { text: 'fine', label: 'pos' }];
  const e = await oneObject('wrapped.json', JSON.stringify({ version: 2, data: rows }, null, 2));
  assert.equal(e.kind, 'bad-json');
  assert.match(e.message, /"data" holds a list of 3 objects/);
  assert.match(e.fix ?? '', /"data"/);
});
