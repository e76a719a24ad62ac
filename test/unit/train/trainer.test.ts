/**
 * The training loop on real data (slices of SST-2 in test/fixtures/datasets) with the tiny-bert
 * fixture: it learns, saves a loadable model, resumes exactly, freezes what it is told to, leaks
 * nothing, and refuses bad input with clear errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';
import { loadClassifier, loadModelFolder, type LoadedModel } from '../../../src/server/engine/classifier';
import { readSafetensors } from '../../../src/server/engine/checkpoint/safetensors';
import { loadDataset } from '../../../src/server/engine/data';
import { fineTune } from '../../../src/server/engine/fine-tune';
import { AdamW } from '../../../src/server/engine/train/optimizer';
import { DEFAULT_SETTINGS, train, trainStep, type TrainData, type TrainSettings } from '../../../src/server/engine/train/trainer';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

const SST2 = join(FIXTURES, 'datasets', 'sst2');
/** 4,000 SST-2 training sentences of 4+ words and 300 validation sentences: enough for a random tiny BERT to learn. */
const SST2_4K = join(FIXTURES, 'learning', 'sst2-4k');
const scratch = mkdtempSync(join(tmpdir(), 'trainer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
before(() => initBackend('wasm'));

async function trainData(path: string): Promise<TrainData> {
  const ds = await loadDataset(path);
  const plain = (s: 'train' | 'validation' | 'test') => ds.splits[s].map(({ text, label }) => ({ text, label }));
  return { labels: ds.id2label, train: plain('train'), validation: plain('validation'), test: plain('test') };
}

let data: TrainData;
before(async () => {
  data = await trainData(SST2);
});

const settings = (overrides: Partial<TrainSettings> = {}): TrainSettings => ({
  ...DEFAULT_SETTINGS,
  learningRate: 3e-3,
  batchSize: 16,
  maxLength: 64,
  ...overrides,
});

async function model(): Promise<LoadedModel> {
  return loadModelFolder(TINY_BERT, { labels: data.labels });
}

function dispose(m: LoadedModel) {
  tf.dispose([...m.model.params.values()]);
}

async function runTraining(outDir: string, s: TrainSettings, extra: { resume?: boolean; stopAfterSteps?: number; data?: TrainData } = {}) {
  const m = await model();
  const runData = extra.data ?? data;
  let checks = 0;
  const signal = extra.stopAfterSteps === undefined ? undefined : ({ get aborted() { return checks++ >= extra.stopAfterSteps!; } } as AbortSignal);
  const events: any[] = [];
  const result = await train({
    model: m.model, tokenizer: m.tokenizer, baseConfig: m.rawConfig, modelRef: TINY_BERT, backend: 'wasm',
    data: runData, settings: s, outDir, resume: extra.resume, signal, onEvent: (e) => events.push(e),
  });
  return { result, events, m };
}

test('the loss falls and validation accuracy beats the majority class; the saved folder predicts exactly as the trained model', async () => {
  const outDir = join(scratch, 'learn');
  const learning = await trainData(SST2_4K);
  const { result, events, m } = await runTraining(outDir, settings({ epochs: 3, earlyStoppingPatience: 0 }), { data: learning });
  const losses = result.history.steps.map((s) => s.loss);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const firstEpoch = mean(losses.slice(0, 25));
  const lastEpoch = mean(losses.slice(-25));
  assert.ok(lastEpoch < firstEpoch - 0.1, `training loss fell: ${firstEpoch.toFixed(3)} → ${lastEpoch.toFixed(3)}`);
  const majority = Math.max(...learning.labels.map((_, c) => learning.validation.filter((e) => e.label === c).length)) / learning.validation.length;
  assert.ok(result.best!.accuracy > majority + 0.1, `validation accuracy ${result.best!.accuracy} well above the majority class's ${majority}`);
  assert.equal(result.status, 'completed');
  assert.equal(result.learning, undefined, 'a model that learned gets no small-data warning');
  assert.equal(events.at(-1).learning, undefined);
  assert.deepEqual(events.filter((e) => e.event === 'eval').map((e) => e.step), [250, 500, 750], 'evaluated after each epoch');

  // Hugging Face layout, the same key names and shapes as a checkpoint Hugging Face wrote.
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'training_args.json', 'metrics.json', 'README.md']) {
    assert.ok(existsSync(join(outDir, f)), f);
  }
  const config = JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'));
  assert.deepEqual(config.architectures, ['BertForSequenceClassification']);
  assert.deepEqual(config.id2label, Object.fromEntries(learning.labels.map((l, i) => [String(i), l])));
  assert.equal(config.problem_type, 'single_label_classification');
  const saved = await readSafetensors(join(outDir, 'model.safetensors'));
  const reference = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
  assert.deepEqual([...saved.tensors.keys()].sort(), [...reference.tensors.keys()].sort());
  for (const [k, t] of reference.tensors) assert.deepEqual(saved.tensors.get(k)!.shape, t.shape, k);
  assert.equal(saved.metadata.format, 'pt');

  const texts = data.test.slice(0, 10).map((e) => e.text);
  const classifier = await loadClassifier(outDir);
  const reloaded = (await classifier.predict(texts, { maxLength: 64 })).map((p) => p.logits);
  const direct = await Promise.all(texts.map(async (t) => {
    const batch = m.tokenizer.pad([m.tokenizer.encode(t, undefined, 64)]);
    const logits = m.model.logits({
      inputIds: tf.tensor2d(batch.inputIds, [1, batch.seqLen], 'int32'),
      attentionMask: tf.tensor2d(batch.attentionMask, [1, batch.seqLen], 'int32'),
      tokenTypeIds: tf.tensor2d(batch.tokenTypeIds, [1, batch.seqLen], 'int32'),
    });
    const values = Array.from(logits.dataSync());
    logits.dispose();
    return values;
  }));
  reloaded.forEach((l, i) => l.forEach((x, j) => assert.ok(Math.abs(x - direct[i][j]) < 1e-5, `text ${i}: ${x} vs ${direct[i][j]}`)));
  classifier.dispose();
  dispose(m);
});

test('a run whose last planned step brings no improvement completed; early stopping before it stopped early', async () => {
  // A learning rate of 1e-9 keeps the predictions, so no evaluation after the first improves.
  const s = (maxSteps: number) => settings({ maxSteps, evalEverySteps: 1, earlyStoppingPatience: 1, learningRate: 1e-9 });
  const allSteps = await runTraining(join(scratch, 'last-step'), s(2));
  dispose(allSteps.m);
  assert.deepEqual(allSteps.events.filter((e) => e.event === 'eval' && e.split === 'validation').map((e) => e.isBest), [true, false]);
  assert.equal(allSteps.result.steps, 2);
  assert.equal(allSteps.result.status, 'completed', 'every planned step ran');
  assert.equal(allSteps.events.at(-1).status, 'completed');
  const cutShort = await runTraining(join(scratch, 'cut-short'), s(3));
  dispose(cutShort.m);
  assert.equal(cutShort.result.steps, 2);
  assert.equal(cutShort.result.status, 'early-stopped');
});

test('a tiny random model trained briefly on tiny data ends with the small-data warning: its figures and what to try', async () => {
  const outDir = join(scratch, 'no-learning');
  const { result, events, m } = await runTraining(outDir, settings({ maxSteps: 3 }));
  dispose(m);
  const majority = Math.max(...data.labels.map((_, c) => data.validation.filter((e) => e.label === c).length)) / data.validation.length;
  const check = result.learning;
  assert.ok(check, `validation accuracy ${result.best!.accuracy} at the baseline ${majority} gets a warning`);
  assert.equal(check.kind, 'no-learning');
  assert.equal(check.best, result.best!.accuracy);
  assert.equal(check.baseline, majority);
  assert.equal(check.numTrain, data.train.length);
  assert.match(check.message, new RegExp(`^Validation accuracy ${(100 * check.best).toFixed(1)}% is no better than always answering '${check.baselineLabel}' \\(${(100 * majority).toFixed(1)}%\\): the model did not learn from ${data.train.length} training examples\\.`));
  assert.deepEqual(check.advice.map((a) => a.kind), ['train-longer', 'pretrained-model', 'adapt', 'more-data']);
  assert.deepEqual(events.at(-1).learning, check, 'the done event carries it');
  assert.deepEqual(JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8')).learning, check, 'metrics.json keeps it');
  assert.match(readFileSync(join(outDir, 'README.md'), 'utf8'), /\*\*Warning:\*\* Validation accuracy/, 'the model card warns');
});

test('a run stopped at step 6 and resumed ends with the same weights as one never stopped', async () => {
  const s = settings({ maxSteps: 12, evalEverySteps: 4, earlyStoppingPatience: 0 });
  const whole = await runTraining(join(scratch, 'whole'), s);
  dispose(whole.m);
  assert.deepEqual(whole.events.filter((e) => e.event === 'eval').map((e) => `${e.split}@${e.step}`), ['validation@4', 'validation@8', 'validation@12', `test@${whole.result.bestStep}`]);
  const stopped = await runTraining(join(scratch, 'resumed'), s, { stopAfterSteps: 6 });
  assert.equal(stopped.result.status, 'cancelled');
  assert.equal(stopped.result.steps, 6);
  assert.ok(existsSync(join(scratch, 'resumed', 'model.safetensors')), 'a cancelled run leaves a usable model');
  dispose(stopped.m);
  const resumed = await runTraining(join(scratch, 'resumed'), s, { resume: true });
  assert.equal(resumed.events[0].resumedFromStep, 6);
  assert.equal(resumed.result.steps, 12);
  dispose(resumed.m);
  assert.deepEqual(resumed.result.history.steps.map((x) => x.loss), whole.result.history.steps.map((x) => x.loss));
  const saved = (dir: string) => readFileSync(join(scratch, dir, 'model.safetensors'));
  assert.ok(saved('whole').equals(saved('resumed')), 'the saved weights are bit-identical');
  assert.equal(existsSync(join(scratch, 'whole', 'checkpoints')), false, 'a finished run keeps only its model');
});

test('frozen parameters stay bit-identical; the others change', async () => {
  const m = await model();
  const before = new Map([...m.model.params].map(([n, p]) => [n, Float32Array.from(p.dataSync() as Float32Array)]));
  await train({
    model: m.model, tokenizer: m.tokenizer, baseConfig: m.rawConfig, modelRef: TINY_BERT, backend: 'wasm', data,
    settings: settings({ maxSteps: 3, freeze: { embeddings: true, layers: 1, allButHead: false } }), outDir: join(scratch, 'frozen'),
  });
  for (const [name, p] of m.model.params) {
    const same = Buffer.from(before.get(name)!.buffer).equals(Buffer.from((p.dataSync() as Float32Array).buffer));
    const frozen = name.startsWith('bert.embeddings.') || name.startsWith('bert.encoder.layer.0.');
    assert.equal(same, frozen, `${name} ${frozen ? 'should not' : 'should'} change`);
  }
  dispose(m);
});

test('no tensor leaks: the tensor count after step 10 equals the count after step 300', async () => {
  const m = await model();
  const optimizer = new AdamW(m.model.params);
  const batch = m.tokenizer.pad(data.train.slice(0, 8).map((e) => m.tokenizer.encode(e.text, undefined, 32)));
  const labels = data.train.slice(0, 8).map((e) => e.label);
  let after10 = 0;
  for (let step = 1; step <= 300; step++) {
    trainStep(m.model, optimizer, batch, labels, { lr: 1e-3, maxGradNorm: 1, dropoutSeed: step });
    if (step === 10) after10 = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, after10);
  optimizer.dispose();
  dispose(m);
});

async function expectTrainError(kind: string, pattern: RegExp, request: Partial<Parameters<typeof fineTune>[0]>) {
  await assert.rejects(
    fineTune({ data: SST2, model: TINY_BERT, outDir: join(scratch, `err-${kind}-${Math.random()}`), settings: { maxSteps: 2 }, ...request }),
    (e: any) => {
      assert.equal(e.name, 'UserError', e.stack);
      assert.equal(e.kind, kind);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

function datasetFolder(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  return dir;
}

test('bad training input: one clear error each', async () => {
  const rows = (label: string, n: number) => Array.from({ length: n }, (_, i) => `review number ${label} ${i},${label}`).join('\n');
  await expectTrainError('unknown-label', /neutral/, {
    data: datasetFolder('unknown-label', { 'train.csv': `text,label\n${rows('pos', 20)}\n${rows('neg', 20)}\n`, 'validation.csv': `text,label\n${rows('pos', 3)}\nmeh,neutral\n` }),
  });
  await expectTrainError('single-class', /same label/, { data: datasetFolder('one-class', { 'reviews.csv': `text,label\n${rows('pos', 50)}\n` }) });
  await expectTrainError('bad-argument', /fewer than one batch/, { settings: { batchSize: 512 } });
  await expectTrainError('bad-argument', /learning rate 5 is out of range/, { settings: { learningRate: 5 } });
  await expectTrainError('bad-argument', /batch size 0 is out of range/, { settings: { batchSize: 0 } });
  const taken = join(scratch, 'taken');
  mkdirSync(taken);
  writeFileSync(join(taken, 'config.json'), '{}');
  await expectTrainError('output-exists', /already holds a model/, { outDir: taken });
  assert.equal(readFileSync(join(taken, 'config.json'), 'utf8'), '{}', 'the existing model was not touched');
});

function mountSmallDisk(dir: string, size: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const disk = join(scratch, 'small-disk');
test('a full disk during a checkpoint leaves the previous checkpoint intact', { skip: !mountSmallDisk(disk, '20m') && 'needs root to mount a small tmpfs' }, async () => {
  try {
    // Each checkpoint of tiny-bert takes ~12.7 MB (weights, two Adam moments, tokenizer): the second does not fit in 20 MB.
    await assert.rejects(runTraining(join(disk, 'run'), settings({ maxSteps: 4, evalEverySteps: 2, earlyStoppingPatience: 0 })), /ENOSPC|no space/i);
    const checkpoints = readdirSync(join(disk, 'run', 'checkpoints'));
    assert.deepEqual(checkpoints, ['step-2'], 'only the complete first checkpoint is there, no half-written one');
    const state = JSON.parse(readFileSync(join(disk, 'run', 'checkpoints', 'step-2', 'trainer_state.json'), 'utf8'));
    assert.equal(state.step, 2);
    const { tensors } = await readSafetensors(join(disk, 'run', 'checkpoints', 'step-2', 'model.safetensors'));
    assert.equal(tensors.size, 41);
  } finally {
    execFileSync('umount', [disk]);
  }
});
