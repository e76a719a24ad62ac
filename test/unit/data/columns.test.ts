import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseColumns } from '../../../src/server/engine/data/columns';
import { UserError } from '../../../src/server/engine/errors';

const where = { file: 'data.csv', line: 1 };
const rows = (n: number, make: (i: number) => Record<string, unknown>) => Array.from({ length: n }, (_, i) => make(i));

test('known names win: text/sentence/review/content and label/sentiment/target/class', () => {
  const pick = (columns: string[]) => chooseColumns(columns, [], where);
  assert.deepEqual([pick(['id', 'sentence', 'label']).text, pick(['id', 'sentence', 'label']).label], ['sentence', 'label']);
  assert.deepEqual([pick(['Review', 'Sentiment']).text, pick(['Review', 'Sentiment']).label], ['Review', 'Sentiment']);
  assert.deepEqual([pick(['content', 'target']).text, pick(['content', 'target']).label], ['content', 'target']);
  assert.deepEqual([pick(['review_text', 'class']).text, pick(['review_text', 'class']).label], ['review_text', 'class']);
  assert.equal(pick(['split', 'text', 'label']).split, 'split');
});

test('other names: the label has few distinct short values, the text is the longest column', () => {
  const sample = rows(40, (i) => ({ idx: i, verdict: i % 2 ? 'thumbs up' : 'thumbs down', author: `user${i}`, words: `a fairly long review number ${i} with words` }));
  const choice = chooseColumns(['idx', 'verdict', 'author', 'words'], sample, where);
  assert.deepEqual([choice.text, choice.label], ['words', 'verdict']);
  assert.deepEqual(choice.guessed, { text: true, label: true });
});

test('the user choice overrides, ignoring case', () => {
  const choice = chooseColumns(['text', 'label', 'Title', 'stars'], [], { ...where, text: 'title', label: 'stars' });
  assert.deepEqual([choice.text, choice.label, choice.guessed.text], ['Title', 'stars', false]);
});

test('a missing column is an error listing the columns found', () => {
  assert.throws(
    () => chooseColumns(['text', 'label'], [], { ...where, text: 'body' }),
    (e: UserError) => e.kind === 'missing-column' && e.line === 1 && /"text", "label"/.test(e.message),
  );
  assert.throws(
    () => chooseColumns(['review'], rows(5, (i) => ({ review: `text ${i}` })), where),
    (e: UserError) => e.kind === 'missing-column' && /No label column/.test(e.message),
  );
});
