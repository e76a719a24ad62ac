/** CSV/TSV details: quoting, line numbers, delimiters, headers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDataset } from '../../../src/server/engine/data';
import { sniffDelimiter, sniffFormat } from '../../../src/server/engine/data/sniff';
import { looksLikeHeader } from '../../../src/server/engine/data/formats/csv';
import type { UserError } from '../../../src/server/engine/errors';
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

// ---- duplicated column names (issue "Hardening", item 4) ---------------------------------------

test('a column name used twice in the header is an error naming the column, both positions and the fix', async () => {
  const file = write(join(tempDir(), 'twice.csv'), 'text,text\ngreat film,pos\nbad film,neg\nfine,pos\n');
  await assert.rejects(loadDataset(file), (e: UserError) => {
    assert.equal(e.kind, 'duplicate-column');
    assert.equal(e.file, file);
    assert.equal(e.line, 1);
    assert.match(e.message, /"text" twice \(columns 1 and 2\)/);
    assert.match(e.fix ?? '', /[Rr]ename one of them/);
    return true;
  });
});

test('a repeated column that is neither the text nor the label is read, with a note', async () => {
  const { ds } = await rowsOf('notes.tsv', 'text\tnote\tlabel\tnote\ngreat film\tx\tpos\ty\nbad film\tx\tneg\ty\n');
  assert.deepEqual([ds.textColumn, ds.labelColumn], ['text', 'label']);
  assert.match(ds.report.warnings.join('\n'), /notes\.tsv:1: the header names "note" twice \(columns 2 and 4\)/);
});

// ---- a field over the row-size limit (issue "Hardening", item 8) --------------------------------

const NINE_MB = 'x'.repeat(9 << 20);

test('a closed field over the 8 MB row limit names the limit, the line and how to raise it', async () => {
  const file = write(join(tempDir(), 'long.csv'), `text,label\nshort,pos\n"${NINE_MB}",neg\nfine,pos\n`);
  await assert.rejects(loadDataset(file), (e: UserError) => {
    assert.equal(e.kind, 'too-large');
    assert.equal(e.line, 3);
    assert.doesNotMatch(e.message, /quote/);
    assert.match(e.message, /line 3 .*9\.0 MB.*over the 8 MB limit/);
    assert.match(e.fix ?? '', /--max-row-mb/);
    return true;
  });
});

test('maxRowBytes raises the limit', async () => {
  const file = write(join(tempDir(), 'long.csv'), `text,label\nshort,pos\n"${NINE_MB}",neg\nfine,pos\n`);
  const ds = await loadDataset(file, { maxRowBytes: 16 << 20, validationSplit: 0, testSplit: 0, clean: { whitespace: false } });
  assert.equal(ds.splits.train.find((e) => e.line === 3)?.text.length, 9 << 20);
});

test('a quote never closed is still reported as such when it runs past the limit', async () => {
  const file = write(join(tempDir(), 'runaway.csv'), `text,label\nshort,pos\n"${NINE_MB},neg\nfine,pos\n`);
  await assert.rejects(loadDataset(file), (e: UserError) => e.kind === 'unclosed-quote' && e.line === 3 && /never closed/.test(e.message));
});

test('over the limit: the field and its lines are named, through CRLF and earlier multi-line rows; a stray quote is a quote error', async () => {
  const long = 'y'.repeat(1500);
  const crlf = write(join(tempDir(), 'crlf.csv'), `label,text\r\npos,"one\r\ntwo"\r\nneg,"a\r\n${long}\r\nb"\r\npos,fine\r\n`);
  await assert.rejects(loadDataset(crlf, { maxRowBytes: 1024 }), (e: UserError) => {
    assert.equal(e.kind, 'too-large');
    assert.equal(e.line, 4);
    assert.match(e.message, /has a field of 2 KB \(field 2, lines 4–6\), over the 1 KB limit/);
    return true;
  });
  const stray = write(join(tempDir(), 'stray.csv'), `text,label\n"${long}\nmore"oops,neg\nfine,pos\n`);
  await assert.rejects(loadDataset(stray, { maxRowBytes: 1024 }), (e: UserError) => e.kind === 'unclosed-quote' && e.line === 2 && /line 3/.test(e.message));
});
