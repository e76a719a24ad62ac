/**
 * The rows behind the confusion matrix and the possible label errors, on hand-made predictions:
 * every row lands in its cell with its file and line, cells are most confident first, and only rows
 * whose label the model confidently contradicts are suspects, most doubtful first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confusionRows, possibleLabelErrors, reviewedRowsCsv, type RowToReview } from '../../../src/server/engine/explain/misclassified';

const row = (text: string, label: number, probs: number[], line: number): RowToReview => ({ text, label, probs, split: 'test', file: '/data/reviews.csv', line });

const ROWS = [
  row('great', 1, [0.1, 0.9], 2),
  row('fine', 1, [0.4, 0.6], 3),
  row('awful', 0, [0.95, 0.05], 4),
  row('dull', 0, [0.7, 0.3], 5),
  row('"loved it", she said', 0, [0.02, 0.98], 6), // labelled negative, surely positive
  row('meh', 1, [0.55, 0.45], 7), // labelled positive, leaning negative
  row('so-so', 0, [0.45, 0.55], 8),
];

test('each row lands in its cell (true → predicted), most confident first, with its file and line', () => {
  const cells = confusionRows(ROWS, 2);
  assert.deepEqual(cells[0][1].map((r) => r.line), [6, 8]);
  assert.deepEqual(cells[1][0].map((r) => r.line), [7]);
  assert.deepEqual(cells[1][1].map((r) => r.text), ['great', 'fine']);
  assert.deepEqual(cells[0][0].map((r) => r.text), ['awful', 'dull']);
  assert.equal(cells.flat(2).length, ROWS.length);
  assert.equal(cells[0][1][0].file, '/data/reviews.csv');
  assert.ok(Math.abs(cells[0][1][0].confidence - 0.98) < 1e-12 && Math.abs(cells[0][1][0].labelProbability - 0.02) < 1e-12);
});

test('possible label errors: rows under their class threshold that another class clears, most doubtful first', () => {
  const suspects = possibleLabelErrors(ROWS, 2);
  // thresholds: negative = mean p(neg | labelled neg) = (0.95+0.7+0.02+0.45)/4 = 0.53; positive = (0.9+0.6+0.45)/3 = 0.65
  // 'so-so' (line 8) is misclassified, but p(positive) 0.55 does not clear positive's 0.65: not a suspect.
  assert.deepEqual(suspects.map((r) => r.line), [6, 7]);
  assert.ok(!suspects.some((r) => r.line === 3), "'fine' is predicted as labelled");
});

test('the CSV export quotes texts with commas and quotes, and names the classes', () => {
  const csv = reviewedRowsCsv(possibleLabelErrors(ROWS, 2), ['negative', 'positive']);
  const lines = csv.trimEnd().split('\r\n');
  assert.equal(lines[0], 'file,line,split,text,label,predicted,confidence,label_probability');
  assert.equal(lines[1], '/data/reviews.csv,6,test,"""loved it"", she said",negative,positive,0.9800,0.0200');
});
