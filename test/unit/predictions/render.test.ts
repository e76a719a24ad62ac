import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  annotateLines,
  annotationText,
  hoverMarkdown,
  kindOfLabel,
  probabilityBar,
  segmentsEndingIn,
  segmentsOnLine,
} from '../../../src/extension/annotations/render';
import { splitIntoSegments } from '../../../src/extension/annotations/segments';
import type { InlinePrediction } from '../../../src/shared/protocol';

const labels = ['negative', 'positive'];
const pos = (p: number): InlinePrediction => ({ label: 'positive', probs: { negative: 1 - p, positive: p } });
const neg = (p: number): InlinePrediction => ({ label: 'negative', probs: { negative: p, positive: 1 - p } });

const doc = [
  'I loved every minute of it.', // 0
  '', // 1
  'The food was cold. The waiter was rude.', // 2
  'Fine, I guess, but the', // 3
  'ending was lovely.', // 4
  'ok', // 5: too short
];
const known: Record<string, InlinePrediction> = {
  'I loved every minute of it.': pos(0.94),
  'The food was cold. The waiter was rude.': neg(0.81),
  'The food was cold.': neg(0.9),
  'The waiter was rude.': neg(0.6),
  'Fine, I guess, but the': pos(0.55),
  'ending was lovely.': pos(0.99),
  'Fine, I guess, but the ending was lovely.': pos(0.77),
};
const lookup = (text: string) => known[text];
const all = { threshold: 0.7, labels, fromLine: 0, toLine: 100 };

test('line granularity: each line gets its own prediction, coloured by class, dimmed under the threshold', () => {
  const segments = splitIntoSegments(doc, { granularity: 'line', minLength: 5, markdown: false });
  assert.deepEqual(annotateLines(segments, lookup, all), [
    { line: 0, contentText: '▸ positive 0.94', kind: 'positive' },
    { line: 2, contentText: '▸ negative 0.81', kind: 'negative' },
    { line: 3, contentText: '▸ positive 0.55', kind: 'dimmed' },
    { line: 4, contentText: '▸ positive 0.99', kind: 'positive' },
  ]);
});

test('sentence granularity: a line shows every sentence ending on it; disagreeing or unsure lines are dimmed', () => {
  const segments = splitIntoSegments(doc, { granularity: 'sentence', minLength: 5, markdown: false });
  assert.deepEqual(annotateLines(segments, lookup, all), [
    { line: 0, contentText: '▸ positive 0.94', kind: 'positive' },
    { line: 2, contentText: '▸ negative 0.90  ▸ negative 0.60', kind: 'dimmed' },
    { line: 4, contentText: '▸ positive 0.77', kind: 'positive' },
  ]);
  assert.deepEqual(annotateLines(segments, lookup, { ...all, threshold: 0.5 })[1].kind, 'negative');
});

test('paragraph granularity: the annotation goes to the paragraph`s last line', () => {
  const segments = splitIntoSegments(doc, { granularity: 'paragraph', minLength: 5, markdown: false });
  const annotations = annotateLines(segments, (text) => (text.startsWith('The food') ? neg(0.75) : undefined), all);
  assert.deepEqual(annotations, [{ line: 5, contentText: '▸ negative 0.75', kind: 'negative' }]);
});

test('only lines in the window are annotated, and texts not predicted yet are left out', () => {
  const segments = splitIntoSegments(doc, { granularity: 'line', minLength: 5, markdown: false });
  assert.deepEqual(annotateLines(segments, lookup, { ...all, fromLine: 2, toLine: 3 }).map((a) => a.line), [2, 3]);
  assert.deepEqual(annotateLines(segments, (t) => (t === 'ending was lovely.' ? pos(0.99) : undefined), all).map((a) => a.line), [4]);
  assert.deepEqual(segmentsEndingIn(segments, 3, 4).map((s) => s.text), ['Fine, I guess, but the', 'ending was lovely.']);
});

test('the segments under a hovered line: the line, or every sentence or paragraph touching it', () => {
  const sentences = splitIntoSegments(doc, { granularity: 'sentence', minLength: 5, markdown: false });
  assert.deepEqual(segmentsOnLine(sentences, 2).map((s) => s.text), ['The food was cold.', 'The waiter was rude.']);
  assert.deepEqual(segmentsOnLine(sentences, 3).map((s) => s.text), ['Fine, I guess, but the ending was lovely.']);
  assert.deepEqual(segmentsOnLine(sentences, 1), []);
  const paragraphs = splitIntoSegments(doc, { granularity: 'paragraph', minLength: 5, markdown: false });
  assert.equal(segmentsOnLine(paragraphs, 4)[0].start.line, 2);
});

test('colours: sentiment names by meaning, other classes by their place', () => {
  assert.equal(kindOfLabel('positive', labels), 'positive');
  assert.equal(kindOfLabel('very negative', []), 'negative');
  assert.equal(kindOfLabel('NEU', []), 'neutral');
  const topics = ['sports', 'politics', 'tech', 'arts', 'food'];
  assert.deepEqual(topics.map((l) => kindOfLabel(l, topics)), ['class1', 'class2', 'class3', 'class4', 'class1']);
  assert.equal(annotationText(neg(0.876)), '▸ negative 0.88');
});

test('the hover lists every class with its probability and a bar, then the model and when it was trained', () => {
  const markdown = hoverMarkdown([{ text: 'I loved it', prediction: pos(0.942) }], { name: 'reviews-model', trainedAt: '29/11/2026, 21:05' });
  const lines = markdown.split('\n');
  assert.equal(lines[0], '**positive** 94.2%');
  assert.ok(lines.includes(`| **positive** | 94.2% | ${probabilityBar(0.942)} |`));
  assert.ok(lines.includes(`| negative | 5.8% | ${probabilityBar(0.058)} |`));
  assert.ok(lines.indexOf(`| **positive** | 94.2% | ${probabilityBar(0.942)} |`) < lines.findIndex((l) => l.startsWith('| negative')));
  assert.equal(lines.at(-1), '*Model* `reviews-model` · trained 29/11/2026, 21:05');
  assert.match(hoverMarkdown([{ text: 'x', prediction: neg(0.6) }], { name: 'builtin:tiny-bert' }), /not trained here$/);
  // Several segments (sentences): each is quoted above its table.
  const two = hoverMarkdown([{ text: 'A.', prediction: pos(0.9) }, { text: 'B*.', prediction: neg(0.8) }], { name: 'm' });
  assert.match(two, /^> A\\\.\n/);
  assert.match(two, /\n> B\\\*\\\.\n/);
});

test('probability bars are 20 cells wide, with eighths at the tip', () => {
  assert.equal(probabilityBar(1), '█'.repeat(20));
  assert.equal(probabilityBar(0), '░'.repeat(20));
  assert.equal(probabilityBar(0.5), `${'█'.repeat(10)}${'░'.repeat(10)}`);
  assert.equal(probabilityBar(0.525), `${'█'.repeat(10)}▌${'░'.repeat(9)}`);
  for (const p of [0.013, 0.37, 0.999]) assert.equal([...probabilityBar(p)].length, 20);
});
