import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, truncateLongestFirst } from '../../../src/server/engine/tokenizer';
import { TINY_BERT, loadGolden } from '../../helpers/golden';

const golden = loadGolden();

function vocabOnlyCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vocab-only-'));
  for (const f of ['config.json', 'vocab.txt', 'tokenizer_config.json']) cpSync(join(TINY_BERT, f), join(dir, f));
  return dir;
}

for (const [name, makeDir] of [
  ['tokenizer.json', () => TINY_BERT],
  ['vocab.txt only', vocabOnlyCopy],
] as const) {
  test(`${name}: token ids equal Hugging Face's, untruncated and truncated to 16 keeping [SEP]`, () => {
    const tokenizer = Tokenizer.load(makeDir());
    for (const sample of golden.samples) {
      assert.deepEqual(tokenizer.encode(sample.text).inputIds, sample.input_ids, sample.text);
      assert.deepEqual(tokenizer.encode(sample.text, undefined, 16).inputIds, sample.input_ids_truncated_16, sample.text);
      assert.deepEqual(tokenizer.tokenize(sample.text), sample.tokens.slice(1, -1), sample.text);
    }
  });
}

test('a padded batch equals the golden batch: ids, attention mask, token types', () => {
  const tokenizer = Tokenizer.load(TINY_BERT);
  const batch = tokenizer.encodeBatch(golden.samples.map((s) => s.text), 16);
  assert.equal(batch.seqLen, 16);
  assert.deepEqual(Array.from(batch.inputIds), golden.batch.input_ids.flat());
  assert.deepEqual(Array.from(batch.attentionMask), golden.batch.attention_mask.flat());
  assert.deepEqual(Array.from(batch.tokenTypeIds), golden.batch.token_type_ids.flat());
});

test('pairs: [CLS] A [SEP] B [SEP] with token types 0 then 1, longest first truncation', () => {
  const tokenizer = Tokenizer.load(TINY_BERT);
  const e = tokenizer.encode('hello world', 'good night');
  assert.deepEqual(e.inputIds, [101, 7592, 2088, 102, 2204, 2305, 102]);
  assert.deepEqual(e.tokenTypeIds, [0, 0, 0, 0, 1, 1, 1]);
  const cut = tokenizer.encode('one two three four five', 'six', 7);
  assert.deepEqual(cut.inputIds, [101, 2028, 2048, 2093, 102, 2416, 102]);
  assert.deepEqual(truncateLongestFirst([1, 2, 3], [4, 5, 6], 4), [[1, 2], [4, 5]]);
  assert.deepEqual(truncateLongestFirst([1, 2, 3, 4], [5], 3), [[1, 2], [5]]);
});

test('a folder without tokenizer files is one clear error naming the folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-tok-'));
  try {
    assert.throws(() => Tokenizer.load(dir), (e: any) => e.kind === 'missing-file' && e.message.includes(dir));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
