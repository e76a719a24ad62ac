/** CSV/TSV details: quoting, line numbers, delimiters, headers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDataset } from '../../../src/server/engine/data';
import { sniffDelimiter, sniffFormat } from '../../../src/server/engine/data/sniff';
import { looksLikeHeader } from '../../../src/server/engine/data/formats/csv';
import { tempDir, write } from './helpers';

const rowsOf = async (name: string, content: string, options = {}) => {
  const ds = await loadDataset(write(join(tempDir(), name), content), { validationSplit: 0, testSplit: 0, ...options });
  return { ds, rows: ds.splits.train.map((e) => ({ text: e.text, label: ds.id2label[e.label], line: e.line })) };
};

test('quoted fields with delimiters, doubled quotes and newlines; lines counted through them', async () => {
  const { rows } = await rowsOf('q.csv', 'text,label\n"one, two",pos\n"say ""hi""\nand\nbye",neg\n\nlast,pos\n', { clean: { whitespace: false } });
  assert.deepEqual(rows, [
    { text: 'one, two', label: 'pos', line: 2 },
    { text: 'say "hi"\nand\nbye', label: 'neg', line: 3 },
    { text: 'last', label: 'pos', line: 7 },
  ]);
});

test('CRLF, a BOM and a missing final newline', async () => {
  const { ds, rows } = await rowsOf('crlf.csv', '\uFEFFtext,label\r\n"a\r\nb",pos\r\nc,neg');
  assert.deepEqual(ds.columns, ['text', 'label']);
  assert.deepEqual(rows.map((r) => [r.text, r.line]), [['a b', 2], ['c', 4]]);
});

test('line numbers stay right deep into a large file of multi-line fields', async () => {
  const lines = ['text,label'];
  for (let i = 0; i < 20000; i++) lines.push(`"row ${i}\nsecond line",${i % 2 ? 'pos' : 'neg'}`);
  const { rows } = await rowsOf('big.csv', lines.join('\n') + '\n');
  assert.equal(rows.length, 20000);
  assert.equal(rows[19999].line, 2 + 2 * 19999);
  assert.equal(rows[12345].text, 'row 12345 second line');
});

test('a quote inside an unquoted field is kept as text, with a warning', async () => {
  const { ds, rows } = await rowsOf('bare.csv', 'text,label\ngood,pos\nhe said "hi" twice,neg\n5" screen,pos\n');
  assert.deepEqual(rows.map((r) => r.text), ['good', 'he said "hi" twice', '5" screen']);
  assert.match(ds.report.warnings.join('\n'), /bare\.csv:3: a quote inside an unquoted field/);
});

test('pandas index columns, trailing empty fields and semicolons', async () => {
  const pandas = await rowsOf('pandas.csv', ',text,label\n0,good,1\n1,bad,0\n');
  assert.deepEqual([pandas.ds.columns, pandas.ds.textColumn], [['column_1', 'text', 'label'], 'text']);
  const trailing = await rowsOf('trailing.csv', 'text,label\ngood,pos,\nbad,neg,,\n');
  assert.equal(trailing.rows.length, 2);
  const semicolon = await rowsOf('excel.csv', 'text;label\n"a; b";pos\nc, d;neg\n');
  assert.deepEqual(semicolon.rows.map((r) => r.text), ['a; b', 'c, d']);
});

test('the delimiter is sniffed, the extension breaking ties', () => {
  assert.equal(sniffDelimiter('text,label\n"a, b",pos\nc,neg\n', ','), ',');
  assert.equal(sniffDelimiter('text\tlabel\na, b, c\tpos\nd\tneg\n', ','), '\t');
  assert.equal(sniffDelimiter('text;label\na, b;pos\n', ','), ';');
  assert.equal(sniffDelimiter('text|label\na|pos\n', ','), '|');
  assert.equal(sniffDelimiter('just one column\nmore\n', '\t'), '\t');
  assert.deepEqual(sniffFormat('x.csv', Buffer.from('text\tlabel\na\tb\n')), { format: 'tsv', delimiter: '\t' });
  assert.deepEqual(sniffFormat('x.txt', Buffer.from('[{"a": 1}]')), { format: 'json' });
  assert.deepEqual(sniffFormat('x.json', Buffer.from('{"a": 1}\n{"a": 2}')), { format: 'jsonl' });
});

test('a first row of data is not taken for a header', () => {
  assert.equal(looksLikeHeader(['text', 'label'], [['good', 'pos'], ['bad', 'neg']]), true);
  assert.equal(looksLikeHeader(['great film', '1'], [['bad', '0'], ['good', '1']]), false);
  assert.equal(looksLikeHeader(['great film', 'pos'], [['bad', 'neg'], ['good', 'pos'], ['ok', 'pos']]), false);
});

test('header: false reads the first row as data', async () => {
  const { ds, rows } = await rowsOf('nohead.tsv', 'text\tlabel\na\tpos\nb\tneg\n', { header: false, labelColumn: 'column_2' });
  assert.equal(ds.report.rowsRead, 3);
  assert.deepEqual(rows.map((r) => r.text), ['text', 'a', 'b']);
});
