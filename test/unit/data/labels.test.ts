import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadDataset } from '../../../src/server/engine/data';
import { buildId2label, labelLookalikes, labelName } from '../../../src/server/engine/data/labels';
import { UserError } from '../../../src/server/engine/errors';
import { tempDir, write } from './helpers';

const at = { file: 'f.jsonl', line: 3 };

test('label values of any type become class names', () => {
  assert.equal(labelName('  pos ', at), 'pos');
  assert.equal(labelName(1, at), '1');
  assert.equal(labelName(1n, at), '1');
  assert.equal(labelName('1.0', at), '1');
  assert.equal(labelName('01', at), '1');
  assert.equal(labelName(true, at), 'true');
  assert.equal(labelName('False', at), 'false');
  assert.equal(labelName(3.5, at), '3.5');
  assert.equal(labelName(['neg'], at), 'neg');
});

test('empty labels are null; lists and objects are refused with the line', () => {
  assert.equal(labelName('', at), null);
  assert.equal(labelName('  ', at), null);
  assert.equal(labelName(null, at), null);
  assert.equal(labelName(undefined, at), null);
  assert.throws(() => labelName(['a', 'b'], at), (e: UserError) => e.kind === 'unknown-label' && e.line === 3);
  assert.throws(() => labelName({ a: 1 }, at), UserError);
});

test('id2label: numeric order for numbers, sorted names otherwise', () => {
  assert.deepEqual(buildId2label(['1', '0', '1']), ['0', '1']);
  assert.deepEqual(buildId2label(['5', '10', '2', '1']), ['1', '2', '5', '10']);
  assert.deepEqual(buildId2label(['pos', 'neg']), ['neg', 'pos']);
  assert.deepEqual(buildId2label(['positive', 'negative']), ['negative', 'positive']);
  assert.deepEqual(buildId2label(['true', 'false']), ['false', 'true']);
  assert.deepEqual(buildId2label(['very positive', 'neutral', 'Negative']), ['Negative', 'neutral', 'very positive']);
});

test('labels differing only in case or spacing are flagged', () => {
  assert.equal(labelLookalikes(['Positive', 'positive', 'neg']).length, 1);
  assert.equal(labelLookalikes(['very_positive', 'very positive']).length, 1);
  assert.deepEqual(labelLookalikes(['pos', 'neg']), []);
});

// ---- notes on how labels were read (issue "Hardening", item 4) ---------------------------------

const loadCsv = (name: string, content: string) =>
  loadDataset(write(join(tempDir(), name), content), { validationSplit: 0, testSplit: 0 });

test('"1" and "1.0" are one class, with a note naming both spellings and the rows merged', async () => {
  const ds = await loadCsv('floats.csv', 'text,label\na,0\nb,1\nc,1.0\nd,1\ne,0\nf,1.0\ng,1.0\n');
  assert.deepEqual(ds.id2label, ['0', '1']);
  const note = ds.report.warnings.find((w) => w.includes('"1.0"'));
  assert.ok(note, `no note about "1.0" in: ${ds.report.warnings.join(' | ')}`);
  assert.match(note, /"1" \(2 rows\) and "1\.0" \(3 rows\)/);
  assert.match(note, /one class, "1" \(5 rows\)/);
  assert.doesNotMatch(note, /"0"/);
});

test('one spelling throughout ("0.0", "1.0") is no merge and gets no note', async () => {
  const ds = await loadCsv('pandas.csv', 'text,label\na,0.0\nb,1.0\nc,1.0\nd,0.0\n');
  assert.deepEqual(ds.id2label, ['0', '1']);
  assert.deepEqual(ds.report.warnings, []);
});

test('labels mixing numbers and names get a note listing the kinds', async () => {
  const ds = await loadCsv('mixed.csv', 'text,label\na,0\nb,1\nc,positive\nd,0\ne,1\n');
  assert.deepEqual(ds.id2label, ['0', '1', 'positive']);
  assert.match(ds.report.warnings.join('\n'), /the labels mix numbers \(0, 1\) and names \("positive"\)/);
  const numbers = await loadCsv('numbers.csv', 'text,label\na,0\nb,1\nc,2\n');
  assert.deepEqual(numbers.report.warnings, []);
});
