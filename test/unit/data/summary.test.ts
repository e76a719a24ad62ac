import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { formatSummary, loadDataset, summarizeDataset } from '../../../src/server/engine/data';
import { FIXTURES } from './helpers';

const words = (text: string) => text.split(' ').length + 2;

test('the summary: files, columns, rows, label counts per split, baseline, token lengths', async () => {
  const ds = await loadDataset(join(FIXTURES, 'sst2'));
  const s = summarizeDataset(ds, { countTokens: words, maxLength: 24 });
  assert.equal(s.format, 'csv');
  assert.deepEqual(s.files.map((f) => [f.split, f.rows]), [['test', 50], ['train', 200], ['validation', 50]]);
  assert.deepEqual(s.columns, { text: 'text', label: 'label', guessed: { text: true, label: true }, found: ['text', 'label'] });
  assert.equal(s.rows.read, 300);
  assert.equal(s.splits.validation.examples, 50);
  const counts = s.splits.train.labels;
  assert.equal(counts.negative + counts.positive, s.splits.train.examples);
  const majority = counts.positive >= counts.negative ? 'positive' : 'negative';
  assert.equal(s.baseline.label, majority);
  assert.equal(s.baseline.accuracy.test, s.splits.test.labels[majority] / 50);
  const lengths = [...ds.splits.train, ...ds.splits.validation, ...ds.splits.test].map((e) => words(e.text)).sort((a, b) => a - b);
  assert.equal(s.tokens!.max, lengths.at(-1));
  assert.equal(s.tokens!.median, lengths[Math.ceil(lengths.length / 2) - 1]);
  assert.equal(s.tokens!.p90, lengths[Math.ceil(lengths.length * 0.9) - 1]);
  assert.equal(s.tokens!.truncated, lengths.filter((n) => n > 24).length);
  assert.equal(s.tokens!.truncatedShare, s.tokens!.truncated! / lengths.length);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
});

test('without a token counter there are no token lengths', async () => {
  const s = summarizeDataset(await loadDataset(join(FIXTURES, 'sst5')));
  assert.equal(s.tokens, undefined);
  assert.deepEqual(s.id2label, ['negative', 'neutral', 'positive', 'very negative', 'very positive']);
});

test('the printed summary', async () => {
  const text = formatSummary(summarizeDataset(await loadDataset(join(FIXTURES, 'rt-polarity')), { countTokens: words, maxLength: 16 }), FIXTURES);
  assert.match(text, /^Dataset {5}rt-polarity \(csv, 3 files\)$/m);
  assert.match(text, /^Rows {8}300 read, 300 kept$/m);
  assert.match(text, /^split {7}examples {2}negative {2}positive$/m);
  assert.match(text, /^validation +50 +\d+ +\d+$/m);
  assert.match(text, /^Baseline {4}always "\w+": train [\d.]+%, validation [\d.]+%, test [\d.]+%$/m);
  assert.match(text, /^Tokens {6}median \d+, p90 \d+, max \d+; max length 16 cuts [\d.]+% \(\d+ examples\)$/m);
});
