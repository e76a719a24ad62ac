/**
 * The training plan (src/extension/training/plan.ts): the flow's choices become the request that
 * crosses to the language server and on to the engine's `fineTune`, "Adapt to the dataset first"
 * included, and the model folder is made inside the output folder.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, TrainingDefaults } from '../../../src/extension/config';
import { modelName, newModelFolder, startParams, type TrainingPlan } from '../../../src/extension/training/plan';

const scratch = mkdtempSync(join(tmpdir(), 'plan-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The settings' defaults (package.json), as Config.trainingDefaults reads them. */
const defaults: TrainingDefaults = {
  baseModel: 'builtin:review-bert',
  epochs: 3,
  batchSize: 32,
  maxLength: 128,
  freezeLayers: 0,
  adaptSteps: 0,
  validationSplit: 0.1,
  patience: 2,
  seed: 42,
  workers: 0,
  maxRowBytes: 8 * 2 ** 20,
};

/** The two things startParams asks the configuration: where models go, and the Hub settings. */
const config = {
  outputFolder: () => join(scratch, 'models'),
  hub: () => ({ offline: true }),
} as unknown as Config;

function plan(settings: Partial<TrainingDefaults> = {}): TrainingPlan {
  return { data: '/data/reviews.csv', folder: undefined, textColumn: 'text', labelColumn: 'label', model: 'builtin:review-bert', settings: { ...defaults, ...settings } };
}

test('the defaults: the built-in pre-trained model, fine-tuned with no adaptation first', () => {
  const { title, request } = startParams(plan(), config);
  assert.equal(title, 'reviews · review-bert');
  assert.equal(request.model, 'builtin:review-bert');
  assert.equal(request.data, '/data/reviews.csv');
  assert.deepEqual(request.dataset, { textColumn: 'text', labelColumn: 'label', validationSplit: 0.1, seed: 42, maxRowBytes: 8 * 2 ** 20 });
  assert.equal('adaptSteps' in request, false, 'no masked-LM phase');
  assert.deepEqual(request.settings, {
    epochs: 3,
    batchSize: 32,
    maxLength: 128,
    seed: 42,
    earlyStoppingPatience: 2,
    freeze: { embeddings: false, layers: 0, allButHead: false },
  });
  assert.deepEqual(request.hub, { offline: true });
  assert.equal(request.workers, 0);
  assert.match(request.outDir, new RegExp(`^${join(scratch, 'models', 'reviews-')}\\d{8}-\\d{6}$`));
});

test('"Adapt to the dataset first" becomes the engine\'s adaptSteps; the other settings are passed as they are', () => {
  const { request } = startParams(plan({ adaptSteps: 300, learningRate: 1e-3, maxSteps: 50, epochs: 1 }), config);
  assert.equal(request.adaptSteps, 300);
  assert.equal(request.settings?.learningRate, 1e-3, 'the same rate is the masked-LM phase\'s (the engine uses it for both)');
  assert.equal(request.settings?.maxSteps, 50, 'max steps limit fine-tuning, not the adaptation');
  assert.equal(request.settings?.epochs, 1);
});

test('a model folder is made beside the previous ones, never into one', () => {
  const folder = newModelFolder(plan(), config, new Date(2026, 0, 2, 3, 4, 5));
  assert.equal(folder, join(scratch, 'models', 'reviews-20260102-030405'));
  mkdirSync(folder, { recursive: true });
  assert.equal(newModelFolder(plan(), config, new Date(2026, 0, 2, 3, 4, 5)), `${folder}-2`);
});

test('run titles name the model briefly', () => {
  assert.equal(modelName('builtin:tiny-bert'), 'tiny-bert');
  assert.equal(modelName('google/bert_uncased_L-4_H-256_A-4'), 'bert_uncased_L-4_H-256_A-4');
  assert.equal(modelName('/models/my-model/'), 'my-model');
});
