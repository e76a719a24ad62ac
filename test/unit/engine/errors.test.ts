import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../../src/server/engine/errors';

test('a user error names the file, the line and the fix in one line', () => {
  const e = new UserError({ kind: 'bad-json', message: 'Invalid JSON.', file: 'data.jsonl', line: 7, fix: 'Fix line 7.' });
  assert.equal(e.describe(), 'data.jsonl:7: Invalid JSON. Fix line 7.');
  assert.deepEqual(e.toJSON(), { error: 'Invalid JSON.', kind: 'bad-json', file: 'data.jsonl', line: 7, fix: 'Fix line 7.' });
});
