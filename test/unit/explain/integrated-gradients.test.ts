/**
 * Integrated Gradients: the quadrature is exact where it must be, the word-embedding path of the
 * model is Hugging Face's forward pass (golden logits), the attributions satisfy completeness for
 * two and three classes, special tokens get none, pieces merge back into the words as written, and
 * a cancelled explanation stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../../src/server/engine/tf';
import { Classifier } from '../../../src/server/engine/classifier';
import { gaussLegendre } from '../../../src/server/engine/explain/quadrature';
import { ExplanationCancelled, integratedGradients } from '../../../src/server/engine/explain/integrated-gradients';
import { mergeWordPieces } from '../../../src/server/engine/explain/words';
import { TINY_BERT, loadGolden, maxAbsDiff } from '../../helpers/golden';

const golden = loadGolden();

test('Gauss–Legendre on [0, 1]: weights sum to 1 and polynomials up to degree 2n−1 integrate exactly', () => {
  for (const n of [1, 2, 5, 20, 50]) {
    const { nodes, weights } = gaussLegendre(n);
    assert.equal(nodes.length, n);
    assert.ok(nodes.every((x) => x > 0 && x < 1));
    for (let degree = 0; degree <= 2 * n - 1 && degree <= 30; degree++) {
      const integral = nodes.reduce((sum, x, i) => sum + weights[i] * x ** degree, 0);
      assert.ok(Math.abs(integral - 1 / (degree + 1)) < 1e-12, `n=${n}, x^${degree}: ${integral}`);
    }
  }
  const [x] = gaussLegendre(2).nodes;
  assert.ok(Math.abs(gaussLegendre(2).weights[0] * x ** 4 + gaussLegendre(2).weights[1] * gaussLegendre(2).nodes[1] ** 4 - 0.2) > 1e-3, 'degree 2n is not exact');
});

test('pieces merge into words as written: ## continues a word, scores add, offsets point into the text', () => {
  const text = 'An Unbelievably dull film, Müller!';
  const pieces = ['an', 'un', '##bel', '##ie', '##vably', 'dull', 'film', ',', 'muller', '!'];
  const scores = [0.1, 0.2, 0.3, 0.4, 0.5, -1, 0, 0.25, 2, -0.5];
  const words = mergeWordPieces(pieces, scores, text);
  assert.deepEqual(words.map((w) => w.word), ['An', 'Unbelievably', 'dull', 'film', ',', 'muller', '!']);
  assert.ok(Math.abs(words[1].score - 1.4) < 1e-12);
  assert.equal(text.slice(words[1].start, words[1].end), 'Unbelievably');
  assert.equal(words[5].start, undefined, 'an accent the tokenizer stripped: no offsets');
  assert.equal(text.slice(words[6].start, words[6].end), '!');
  assert.ok(Math.abs(words.reduce((s, w) => s + w.score, 0) - scores.reduce((a, b) => a + b, 0)) < 1e-12);
});

test("the word-embedding path gives Hugging Face's golden logits", async () => {
  const classifier = await Classifier.load(TINY_BERT);
  const model = classifier.loaded.model;
  const shape: [number, number] = [golden.batch.input_ids.length, golden.batch.input_ids[0].length];
  const logits = tf.tidy(() => {
    const inputs = {
      inputIds: tf.tensor2d(golden.batch.input_ids.flat(), shape, 'int32'),
      attentionMask: tf.tensor2d(golden.batch.attention_mask.flat(), shape, 'int32'),
      tokenTypeIds: tf.tensor2d(golden.batch.token_type_ids.flat(), shape, 'int32'),
    };
    return model.logitsFromWordEmbeddings(model.wordEmbeddings(inputs.inputIds), inputs);
  });
  const diff = maxAbsDiff(logits.dataSync(), golden.outputs.logits);
  logits.dispose();
  assert.ok(diff <= 2e-5, `max abs diff ${diff}`);
  classifier.dispose();
});

test('completeness: the attributions add up to the score difference within 5%, [CLS] and [SEP] get none, no tensor leaks', async () => {
  const classifier = await Classifier.load(TINY_BERT);
  const before = tf.memory().numTensors;
  for (const sample of golden.samples.slice(0, 4)) {
    const explanation = await classifier.explain(sample.text);
    assert.ok(explanation.completenessError <= 0.05, `${sample.text}: error ${explanation.completenessError}`);
    const sum = explanation.words.reduce((s, w) => s + w.score, 0);
    assert.ok(Math.abs(sum - explanation.scoreDifference) <= 0.05 * Math.abs(explanation.scoreDifference) + 1e-6);
    assert.ok(explanation.words.length > 0 && explanation.words.length <= sample.tokens.length);
    assert.ok([20, 50].includes(explanation.steps));
  }
  const { encoding, tokenizer, model } = encodeFirst(classifier);
  const raw = await integratedGradients(model, encoding, tokenizer.padId, [tokenizer.clsId, tokenizer.sepId], { target: 1 });
  assert.equal(raw.scores[0], 0, '[CLS] keeps its embedding in the baseline');
  assert.equal(raw.scores[raw.scores.length - 1], 0, '[SEP] too');
  assert.ok(raw.scores.slice(1, -1).some((s) => Math.abs(s) > 1e-6));
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  classifier.dispose();
});

test('three classes, a class other than the predicted one, and an unknown class', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ig-three-')), 'model');
  cpSync(TINY_BERT, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.id2label = { 0: 'negative', 1: 'neutral', 2: 'positive' };
  config.label2id = { negative: 0, neutral: 1, positive: 2 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const classifier = await Classifier.load(dir, { seed: 7 });
  for (const label of ['negative', 'neutral', 'positive']) {
    const explanation = await classifier.explain('a warm and clever film', { label });
    assert.equal(explanation.label, label);
    assert.ok(explanation.completenessError <= 0.05, `${label}: ${explanation.completenessError}`);
  }
  // The three margins sum to zero (each is its logit minus the others' mean), at the text and at the baseline.
  const diffs = await Promise.all(['negative', 'neutral', 'positive'].map(async (label) => (await classifier.explain('a warm and clever film', { label })).scoreDifference));
  assert.ok(Math.abs(diffs.reduce((a, b) => a + b, 0)) < 1e-4, String(diffs));
  await assert.rejects(classifier.explain('text', { label: 'sideways' }), /no class "sideways"/);
  classifier.dispose();
});

test('a cancelled explanation stops', async () => {
  const classifier = await Classifier.load(TINY_BERT);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(classifier.explain('a warm and clever film', { signal: controller.signal }), ExplanationCancelled);
  classifier.dispose();
});

function encodeFirst(classifier: Classifier) {
  const { tokenizer, model } = classifier.loaded;
  return { encoding: tokenizer.encode(golden.samples[0].text, undefined, 64), tokenizer, model };
}
