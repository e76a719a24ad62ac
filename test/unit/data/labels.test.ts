import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildId2label, labelLookalikes, labelName } from '../../../src/server/engine/data/labels';
import { UserError } from '../../../src/server/engine/errors';

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
