/**
 * Deliberately broken files (test/fixtures/datasets/broken): each must fail with a UserError that
 * names the exact file, line and kind, and says how to fix it. None of them may be modified.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../../src/server/engine/data';
import { UserError, type UserErrorKind } from '../../../src/server/engine/errors';
import { BROKEN } from './helpers';

/** [path under broken/, kind, file the error names (under broken/), line] */
const CASES: [string, UserErrorKind, string, number | undefined][] = [
  ['empty.csv', 'empty-file', 'empty.csv', undefined],
  ['header-only.csv', 'empty-file', 'header-only.csv', 1],
  ['blank-lines.jsonl', 'empty-file', 'blank-lines.jsonl', undefined],
  ['empty-array.json', 'empty-file', 'empty-array.json', 1],
  ['binary.csv', 'binary-file', 'binary.csv', undefined],
  ['workbook.xlsx', 'binary-file', 'workbook.xlsx', undefined],
  ['latin1.csv', 'bad-encoding', 'latin1.csv', 3],
  ['windows1252.tsv', 'bad-encoding', 'windows1252.tsv', 4],
  ['utf16.csv', 'bad-encoding', 'utf16.csv', 1],
  ['corrupt.parquet', 'bad-encoding', 'corrupt.parquet', undefined],
  ['unclosed-quote.csv', 'unclosed-quote', 'unclosed-quote.csv', 3],
  ['quote-runs-on.csv', 'unclosed-quote', 'quote-runs-on.csv', 2],
  ['undoubled-quote.csv', 'unclosed-quote', 'undoubled-quote.csv', 3],
  ['field-count.csv', 'field-count', 'field-count.csv', 4],
  ['field-count-multiline.csv', 'field-count', 'field-count-multiline.csv', 5],
  ['field-count-crlf-blank.csv', 'field-count', 'field-count-crlf-blank.csv', 6],
  ['missing-field.tsv', 'field-count', 'missing-field.tsv', 3],
  ['bad-line.jsonl', 'bad-json', 'bad-line.jsonl', 3],
  ['not-object.jsonl', 'bad-json', 'not-object.jsonl', 2],
  ['bad-element.json', 'bad-json', 'bad-element.json', 5],
  ['trailing-comma.json', 'bad-json', 'trailing-comma.json', 4],
  ['missing-comma.json', 'bad-json', 'missing-comma.json', 3],
  ['unterminated.json', 'bad-json', 'unterminated.json', 3],
  ['no-label-column.csv', 'missing-column', 'no-label-column.csv', 1],
  ['duplicate-header.csv', 'duplicate-column', 'duplicate-header.csv', 1],
  ['one-object.json', 'bad-json', 'one-object.json', 1],
  ['empty-label.csv', 'empty-label', 'empty-label.csv', 4],
  ['null-label.jsonl', 'empty-label', 'null-label.jsonl', 2],
  ['list-label.jsonl', 'unknown-label', 'list-label.jsonl', 2],
  ['single-class.csv', 'single-class', 'single-class.csv', undefined],
  ['unknown-label', 'unknown-label', 'unknown-label/test.csv', 3],
  ['no-train', 'no-dataset', 'no-train', undefined],
  ['no-dataset', 'no-dataset', 'no-dataset', undefined],
];

async function failure(path: string): Promise<UserError> {
  try {
    await loadDataset(path);
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  assert.fail(`${path} was read without an error`);
}

for (const [name, kind, file, line] of CASES) {
  test(`broken/${name}: ${kind}${line ? ` on line ${line}` : ''}`, async () => {
    const e = await failure(join(BROKEN, name));
    assert.deepEqual({ kind: e.kind, file: e.file, line: e.line }, { kind, file: join(BROKEN, file), line });
    assert.ok(e.message.length > 10, 'says what is wrong');
    assert.ok(e.fix && e.fix.length > 10, 'says how to fix it');
  });
}

test('every broken fixture has a case', () => {
  const listed = new Set(CASES.map(([name]) => name));
  assert.deepEqual(readdirSync(BROKEN).filter((n) => !listed.has(n)), []);
  assert.ok(CASES.length >= 20);
});

test('the messages name what was found and what was expected', async () => {
  assert.match((await failure(join(BROKEN, 'latin1.csv'))).message, /Windows-1252/);
  assert.match((await failure(join(BROKEN, 'utf16.csv'))).message, /UTF-16 LE/);
  assert.match((await failure(join(BROKEN, 'no-label-column.csv'))).message, /"id", "review"/);
  assert.match((await failure(join(BROKEN, 'field-count.csv'))).message, /3 fields but the header \(line 1\) has 2/);
  assert.match((await failure(join(BROKEN, 'unknown-label'))).message, /"neutral"/);
  assert.match((await failure(join(BROKEN, 'duplicate-header.csv'))).message, /"text" twice \(columns 1 and 2\)/);
  assert.match((await failure(join(BROKEN, 'one-object.json'))).message, /one JSON object, not a list of examples/);
  assert.match((await failure(join(BROKEN, 'empty-label.csv'))).describe(), /empty-label\.csv:4: Line 4 has a text but no label/);
});

test('a column the user names that does not exist lists the columns found', async () => {
  await assert.rejects(loadDataset(join(BROKEN, '..', 'sst2', 'train.csv'), { labelColumn: 'sentiment' }), (e: UserError) => {
    assert.equal(e.kind, 'missing-column');
    assert.equal(e.line, 1);
    assert.match(e.message, /no label column "sentiment".*"text", "label"/);
    return true;
  });
});

test('reading never changes the user files', async () => {
  const snapshot = () =>
    readdirSync(BROKEN, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const path = join(e.parentPath ?? e.path, e.name);
        return `${path} ${statSync(path).mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
      })
      .sort();
  const before = snapshot();
  for (const [name] of CASES) await loadDataset(join(BROKEN, name)).catch(() => undefined);
  assert.deepEqual(snapshot(), before);
});
