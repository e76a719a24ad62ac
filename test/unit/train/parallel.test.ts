/**
 * Data-parallel training over worker threads: the shards add up to the batch, two or three workers
 * give what one thread gives (gradients, losses, a whole training run), replicas stay in step, and
 * nothing leaks in the workers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';
import { loadModelFolder, type LoadedModel } from '../../../src/server/engine/classifier';
import { loadDataset } from '../../../src/server/engine/data';
import type { TrainEvent } from '../../../src/server/engine/train/events';
import { AdamW } from '../../../src/server/engine/train/optimizer';
import { shardBatch, shardRanges } from '../../../src/server/engine/train/parallel/shards';
import { chooseWorkerCount, DataParallelTrainer } from '../../../src/server/engine/train/parallel/workers';
import { trainStep } from '../../../src/server/engine/train/step';
import { DEFAULT_SETTINGS, train, type TrainData } from '../../../src/server/engine/train/trainer';
import type { EncodedBatch } from '../../../src/server/engine/tokenizer';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

const scratch = mkdtempSync(join(tmpdir(), 'parallel-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
before(() => initBackend('wasm'));

const TEXTS = [
  'a great movie',
  'terrible, just terrible and long and boring',
  'fine',
  'I loved every minute of it',
  'meh',
  'the worst film of the year by far',
  'good',
  'bad acting, worse writing',
  'an unexpected delight',
];
const LABELS = [1, 0, 1, 1, 0, 0, 1, 0, 1];

async function tinyBert(): Promise<LoadedModel> {
  return loadModelFolder(TINY_BERT, { labels: ['negative', 'positive'], seed: 7 });
}

function batchOf(m: LoadedModel, texts: string[]): EncodedBatch {
  return m.tokenizer.pad(texts.map((t) => m.tokenizer.encode(t, undefined, 32)));
}

function dispose(m: LoadedModel, optimizer?: AdamW) {
  optimizer?.dispose();
  tf.dispose([...m.model.params.values()]);
}

/** max |a − b| / max |a| over all entries of two same-keyed maps of arrays. */
function relativeDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let diff = 0;
  let scale = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]));
      scale = Math.max(scale, Math.abs(x[i]));
    }
  }
  return diff / scale;
}

test('shards: contiguous, near-equal, never empty, and their loss scales add up to 1', () => {
  assert.deepEqual(shardRanges(16, 2), [[0, 8], [8, 16]]);
  assert.deepEqual(shardRanges(10, 3), [[0, 4], [4, 7], [7, 10]]);
  assert.deepEqual(shardRanges(1, 4), [[0, 1]]);
  const batch: EncodedBatch = { batchSize: 3, seqLen: 2, inputIds: Int32Array.of(1, 2, 3, 4, 5, 6), attentionMask: Int32Array.of(1, 1, 1, 1, 1, 0), tokenTypeIds: new Int32Array(6) };
  const shards = shardBatch(batch, [0, 1, 1], 2);
  assert.deepEqual(shards.map((s) => [s.firstRow, [...s.batch.inputIds], s.labels]), [[0, [1, 2, 3, 4], [0, 1]], [2, [5, 6], [1]]]);
  assert.deepEqual(shards.map((s) => s.lossScale), [2 / 3, 1 / 3]);
  // Class weights: each shard's share of the batch's weight sum.
  const weighted = shardBatch(batch, [0, 1, 1], 2, [3, 1]);
  assert.deepEqual(weighted.map((s) => s.lossScale), [4 / 5, 1 / 5]);
});

test('worker count: as asked (at most a batch row each), or from the cores, memory and model size', () => {
  const compact = { batchSize: 32, numParameters: 11e6, hiddenSize: 256 };
  assert.equal(chooseWorkerCount(3, compact), 3);
  assert.equal(chooseWorkerCount(8, { ...compact, batchSize: 2 }), 2);
  assert.equal(chooseWorkerCount(0, compact), Math.min(availableParallelism(), 8));
  // A model whose replica does not fit twice in free memory gets one worker.
  assert.equal(chooseWorkerCount(undefined, { ...compact, numParameters: 1e12 }), 1);
  // A tiny model's step is per-op overhead that shards do not shrink: one thread, unless asked.
  assert.equal(chooseWorkerCount(0, { ...compact, hiddenSize: 32 }), 1);
  assert.equal(chooseWorkerCount(2, { ...compact, hiddenSize: 32 }), 2);
});

test('two and three workers compute the one-thread gradients (AdamW moments after a step at lr 0), with dropout and class weights', async () => {
  const options = { lr: 0, maxGradNorm: 1, dropoutSeed: 11, classWeights: [2, 0.5] };
  const single = await tinyBert();
  const singleOptimizer = new AdamW(single.model.params);
  const batch = batchOf(single, TEXTS);
  const expected = trainStep(single.model, singleOptimizer, batch, LABELS, options);
  const expectedMoments = singleOptimizer.state().m;
  for (const workers of [2, 3]) {
    const m = await tinyBert();
    const optimizer = new AdamW(m.model.params);
    const group = await DataParallelTrainer.start(m.model, optimizer, workers);
    try {
      const result = await group.step(batch, LABELS, options);
      assert.ok(Math.abs(result.loss - expected.loss) < 1e-5 * expected.loss, `loss ${result.loss} vs ${expected.loss}`);
      assert.ok(Math.abs(result.gradNorm - expected.gradNorm) < 1e-5 * expected.gradNorm, `norm ${result.gradNorm} vs ${expected.gradNorm}`);
      await group.copyInto(m.model, optimizer);
      const difference = relativeDifference(expectedMoments, optimizer.state().m);
      assert.ok(difference < 1e-5, `${workers} workers: gradients differ by ${difference} (relative)`);
    } finally {
      await group.close();
      dispose(m, optimizer);
    }
  }
  dispose(single, singleOptimizer);
});

test('over several steps the workers follow the one-thread losses, stay equal to each other, and leak no tensors', async () => {
  const single = await tinyBert();
  const singleOptimizer = new AdamW(single.model.params);
  const m = await tinyBert();
  const optimizer = new AdamW(m.model.params);
  const group = await DataParallelTrainer.start(m.model, optimizer, 2);
  try {
    const full = batchOf(single, TEXTS);
    const last = batchOf(single, TEXTS.slice(0, 1)); // a batch smaller than the group: one worker idles
    const counts: number[][] = [];
    for (let step = 0; step < 8; step++) {
      const [batch, labels] = step === 5 ? [last, LABELS.slice(0, 1)] : [full, LABELS];
      const options = { lr: 1e-3, maxGradNorm: 1, dropoutSeed: 100 + step };
      const expected = trainStep(single.model, singleOptimizer, batch, labels, options);
      const result = await group.step(batch, labels, options);
      assert.ok(Math.abs(result.loss - expected.loss) < 1e-4 * expected.loss, `step ${step}: loss ${result.loss} vs ${expected.loss}`);
      counts.push(group.numTensors);
    }
    assert.deepEqual(counts[7], counts[2], 'tensors in each worker after step 3 and step 8');
    assert.equal(new Set(counts[7]).size, 1);
    await group.copyInto(m.model, optimizer);
    const close = [...m.model.params].every(([name, p]) => {
      const a = p.dataSync();
      const b = single.model.params.get(name)!.dataSync();
      return a.every((x, i) => Math.abs(x - b[i]) < 1e-4 + 2e-3 * 8); // Adam moves each weight by at most ~lr a step
    });
    assert.ok(close, 'weights after 8 steps');
  } finally {
    await group.close();
    dispose(m, optimizer);
    dispose(single, singleOptimizer);
  }
});

test('train() with 2 workers: says so, checkpoints the workers\' weights, resumes, and ends where one thread ends', async () => {
  const ds = await loadDataset(join(FIXTURES, 'datasets', 'sst2'));
  const plain = (s: 'train' | 'validation' | 'test') => ds.splits[s].map(({ text, label }) => ({ text, label }));
  const data: TrainData = { labels: ds.id2label, train: plain('train'), validation: plain('validation'), test: [] };
  const settings = { ...DEFAULT_SETTINGS, learningRate: 3e-3, batchSize: 16, maxLength: 48, epochs: 2, earlyStoppingPatience: 0 };
  const run = async (extra: { outDir: string; workers: number; resume?: boolean; stopAfterSteps?: number }) => {
    const m = await loadModelFolder(TINY_BERT, { labels: data.labels });
    const events: TrainEvent[] = [];
    let checks = 0;
    const signal = extra.stopAfterSteps === undefined ? undefined : ({ get aborted() { return checks++ >= extra.stopAfterSteps!; } } as AbortSignal);
    try {
      const result = await train({ model: m.model, tokenizer: m.tokenizer, baseConfig: m.rawConfig, modelRef: 'tiny', backend: 'wasm', workers: extra.workers, data, settings, outDir: extra.outDir, resume: extra.resume, signal, onEvent: (e) => events.push(e) });
      return { result, events };
    } finally {
      tf.dispose([...m.model.params.values()]);
    }
  };
  const stepsPerEpoch = Math.ceil(data.train.length / settings.batchSize);
  const outDir = join(scratch, 'two-workers');
  const stopped = await run({ outDir, workers: 2, stopAfterSteps: stepsPerEpoch + 3 }); // past the first epoch's checkpoint
  const start = stopped.events.find((e) => e.event === 'start');
  assert.equal(start?.event === 'start' && start.workers, 2);
  assert.match(start?.event === 'start' ? start.backend : '', /^wasm/);
  assert.equal(stopped.result.status, 'cancelled');
  const resumed = await run({ outDir, workers: 2, resume: true });
  assert.equal(resumed.result.status, 'completed');
  assert.equal(resumed.result.steps, 2 * stepsPerEpoch);
  const resumedStart = resumed.events.find((e) => e.event === 'start');
  assert.equal(resumedStart?.event === 'start' && resumedStart.resumedFromStep, stepsPerEpoch + 3);
  assert.equal(JSON.parse(readFileSync(join(outDir, 'training_args.json'), 'utf8')).workers, 2);

  const oneThread = await run({ outDir: join(scratch, 'one-thread'), workers: 1 });
  const losses = (r: typeof oneThread) => r.result.history.steps.map((s) => s.loss);
  const [a, b] = [losses(oneThread), losses(resumed)];
  assert.equal(b.length, a.length);
  a.forEach((loss, i) => assert.ok(Math.abs(loss - b[i]) < 1e-3, `step ${i + 1}: loss ${b[i]} with workers, ${loss} on one thread`));
  assert.ok(Math.abs(oneThread.result.best!.loss! - resumed.result.best!.loss!) < 1e-3, 'validation loss');
});
