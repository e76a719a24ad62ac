/**
 * The model presets and the time-per-epoch estimate (src/server/training/estimate.ts): parameter
 * counts match the published sizes, the bundled preset matches the bundled model, the cost formula
 * adds up, and a measurement on the wasm backend gives estimates of the right size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../../src/server/engine/backend';
import { epochSeconds, maskedLMStepFlops, maskedLMStepSeconds, measureStepCosts, modelChoice, parameterCount, PRESETS, solve3, stepFlops, stepSeconds } from '../../../src/server/training/estimate';
import { TINY_BERT } from '../../helpers/golden';

const preset = (ref: string) => PRESETS.find((p) => p.ref === ref)!.shape;

test('parameter counts are those of Hugging Face BertForSequenceClassification', () => {
  // bert-base-uncased: 109,482,240 in BertModel (pooler included) + 768·2 + 2 for a 2-class head.
  assert.equal(parameterCount(preset('bert-base-uncased'), 2), 109_482_240 + 1538);
  // Turc et al.'s compact models, counted the same way: 4.4M (L-2/H-128), 11.2M (L-4/H-256), 28.8M (L-4/H-512).
  assert.equal(Math.round(parameterCount(preset('google/bert_uncased_L-2_H-128_A-2')) / 1e5) / 10, 4.4);
  assert.equal(Math.round(parameterCount(preset('google/bert_uncased_L-4_H-256_A-4')) / 1e5) / 10, 11.2);
  assert.equal(Math.round(parameterCount(preset('google/bert_uncased_L-4_H-512_A-8')) / 1e5) / 10, 28.8);
});

test('the builtin:tiny-bert preset is the bundled model', () => {
  const config = JSON.parse(readFileSync(join(TINY_BERT, 'config.json'), 'utf8'));
  assert.deepEqual(preset('builtin:tiny-bert'), {
    layers: config.num_hidden_layers,
    hidden: config.hidden_size,
    heads: config.num_attention_heads,
    intermediate: config.intermediate_size,
    vocab: config.vocab_size,
    maxPositions: config.max_position_embeddings,
  });
});

test('builtin:review-bert, the default, is offered first and its preset is the bundled model', () => {
  assert.equal(PRESETS[0].ref, 'builtin:review-bert');
  assert.ok(PRESETS.some((p) => p.ref === 'builtin:tiny-bert'), 'tiny-bert stays selectable');
  const config = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'models', 'review-bert', 'config.json'), 'utf8'));
  const shape = preset('builtin:review-bert');
  assert.deepEqual(shape, {
    layers: config.num_hidden_layers,
    hidden: config.hidden_size,
    heads: config.num_attention_heads,
    intermediate: config.intermediate_size,
    vocab: config.vocab_size,
    maxPositions: config.max_position_embeddings,
  });
  // 1.76M parameters with a 2-class head (`predict` reports 1,759,362 for the bundled folder).
  assert.equal(parameterCount(shape, 2), 1_759_362);
  // "auto" is the rate its config.json names (the engine's rule), not the size rule's 3e-4.
  const work = { trainExamples: 1000, evalExamples: 100, tokensPerExample: 32, batchSize: 32, numLabels: 2 };
  assert.equal(modelChoice(PRESETS[0], work, true, undefined, config).learningRate, config.recommended_learning_rate);
  assert.equal(modelChoice(PRESETS[0], work, true).learningRate, 3e-4);
});

test('a masked-LM step of adaptation: the encoder plus the head on the 15% of tokens predicted', () => {
  const shape = preset('builtin:review-bert');
  const encoder = stepFlops(shape, 32, 40) - 6 * 32 * (128 * 128 + 2 * 128); // without pooler and classifier
  assert.equal(maskedLMStepFlops(shape, 32, 40), encoder + 6 * 32 * 6 * (128 * 128 + 128 * 10000));
  const costs = { perLayer: 0.001, perParameter: 1e-9, perFlop: 1e-10 };
  const work = { trainExamples: 1000, evalExamples: 100, tokensPerExample: 40, batchSize: 32, numLabels: 2 };
  const adapt = maskedLMStepSeconds(shape, work, costs);
  assert.ok(adapt > stepSeconds(shape, 32, 40, costs), 'dearer than a fine-tuning step: the vocabulary-sized decoder');
  assert.equal(modelChoice(PRESETS[0], work, true, costs).secondsPerAdaptStep, adapt);
});

test('the cost formula: products dominate for bert-base, an epoch is its steps plus an evaluation', () => {
  const shape = preset('bert-base-uncased');
  // 6·N·tokens for the dense layers, N ≈ 85M encoder weights.
  assert.ok(Math.abs(stepFlops(shape, 1, 1) / (6 * 85e6) - 1) < 0.01);
  const costs = { perLayer: 0.001, perParameter: 1e-9, perFlop: 1e-10 };
  const work = { trainExamples: 100, evalExamples: 64, tokensPerExample: 32, batchSize: 10, numLabels: 2 };
  const step = stepSeconds(shape, 10, 32, costs);
  const epoch = epochSeconds(shape, work, costs);
  // 10 steps, then one forward pass over 64 examples: about a third of 6.4 steps' products.
  assert.ok(epoch > 12 * step && epoch < 12.3 * step, `${epoch} vs ${step}`);
});

test('solve3 solves a 3×3 system', () => {
  const [a, b, c] = solve3([[2, 1, 0], [1, 3, 1], [0, 1, 4]], [3, 9, 13]);
  assert.ok(Math.abs(2 * a + b - 3) < 1e-9 && Math.abs(a + 3 * b + c - 9) < 1e-9 && Math.abs(b + 4 * c - 13) < 1e-9);
});

test('measured on wasm, the tiny model takes well under a second per step and bert-base far longer', async () => {
  await initBackend('wasm');
  const costs = await measureStepCosts();
  for (const value of Object.values(costs)) assert.ok(value >= 0 && Number.isFinite(value));
  const tiny = stepSeconds(preset('builtin:tiny-bert'), 32, 32, costs);
  const base = stepSeconds(preset('bert-base-uncased'), 32, 32, costs);
  assert.ok(tiny > 0.005 && tiny < 1, `tiny: ${tiny} s/step`);
  assert.ok(base > 50 * tiny, `bert-base ${base} s/step vs tiny ${tiny}`);
});
