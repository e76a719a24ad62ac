import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';
import { randomBert } from '../../../src/server/engine/random-bert';
import { Random } from '../../../src/server/engine/random';
import { Tokenizer } from '../../../src/server/engine/tokenizer';
import { loadModelFolder } from '../../../src/server/engine/classifier';
import { readSafetensors } from '../../../src/server/engine/checkpoint/safetensors';
import { maskTokens } from '../../../src/server/engine/mlm/masking';
import { MLM_HEAD, maskedLMForward, maskedLMLoss, mlmHeadParams } from '../../../src/server/engine/mlm/head';
import { loadMaskedLM } from '../../../src/server/engine/mlm/model';
import { compactVocabulary } from '../../../src/server/engine/mlm/new-model';
import { pretrain } from '../../../src/server/engine/mlm/pretrain';
import type { TrainEvent } from '../../../src/server/engine/train/events';
import { TINY_BERT } from '../../helpers/golden';

const RT_TEXT = join(__dirname, '..', '..', 'fixtures', 'learning', 'sst2-4k', 'train.csv');

test('masking chooses 15% of the real, non-special tokens; 80% become [MASK], 10% a random token, 10% stay', () => {
  const [B, T, CLS, SEP, PAD, MASK, V] = [400, 60, 101, 102, 0, 103, 30522];
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const random = new Random(7);
  for (let b = 0; b < B; b++) {
    const len = 10 + random.int(T - 10);
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = t === 0 ? CLS : t === len - 1 ? SEP : t < len ? 1000 + random.int(20000) : PAD;
      mask[b * T + t] = t < len ? 1 : 0;
    }
  }
  const batch = { batchSize: B, seqLen: T, inputIds: ids, attentionMask: mask, tokenTypeIds: new Int32Array(B * T) };
  const eligible = ids.filter((id, i) => mask[i] === 1 && id !== CLS && id !== SEP).length;
  const m = maskTokens(batch, new Random(1), { probability: 0.15, maskTokenId: MASK, vocabSize: V, specialTokenIds: new Set([CLS, SEP, PAD]) });
  const n = m.positions.length;
  assert.ok(Math.abs(n / eligible - 0.15) < 0.01, `chose ${n} of ${eligible}`);
  let masked = 0;
  let kept = 0;
  m.positions.forEach((p, k) => {
    assert.equal(m.targets[k], ids[p], 'the target is the original token');
    assert.ok(mask[p] === 1 && ![CLS, SEP, PAD].includes(ids[p]), 'never a special or padded position');
    if (m.batch.inputIds[p] === MASK) masked++;
    else if (m.batch.inputIds[p] === ids[p]) kept++;
  });
  assert.ok(Math.abs(masked / n - 0.8) < 0.02, `[MASK] share ${masked / n}`);
  assert.ok(Math.abs(kept / n - 0.1) < 0.02, `kept share ${kept / n}`);
  const untouched = [...ids].every((id, i) => m.positions.includes(i) || m.batch.inputIds[i] === id);
  assert.ok(untouched, 'positions not chosen are unchanged');
  assert.ok(ids.every((id, i) => batch.inputIds[i] === id), 'the input batch is not modified');
});

/** BertOnlyMLMHead by hand, in plain JS: dense, exact GELU, LayerNorm, then the decoder tied to the word embeddings. */
function headByHand(hidden: number[][], w: Record<string, Float32Array>, H: number, V: number, eps: number): number[][] {
  const erf = (x: number) => {
    // Abramowitz & Stegun 7.1.26 is too coarse; this series/continued-fraction pair is good to 1e-9.
    const t = Math.abs(x);
    if (t < 3) {
      let sum = t;
      let term = t;
      for (let k = 1; k < 60; k++) {
        term *= (-t * t) / k;
        sum += term / (2 * k + 1);
      }
      return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
    }
    return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)));
  };
  return hidden.map((x) => {
    const z = Array.from({ length: H }, (_, j) => x.reduce((s, xi, i) => s + xi * w.dense[i * H + j], w.denseBias[j])); // held [in, out]
    const g = z.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    const mean = g.reduce((a, b) => a + b, 0) / H;
    const variance = g.reduce((a, b) => a + (b - mean) ** 2, 0) / H;
    const ln = g.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * w.gamma[j] + w.beta[j]);
    return Array.from({ length: V }, (_, v) => ln.reduce((s, li, j) => s + li * w.embeddings[v * H + j], w.bias[v]));
  });
}

test('the masked-LM head equals BertOnlyMLMHead worked by hand, and its decoder is tied to the word embeddings', async () => {
  await initBackend('cpu');
  const [H, V] = [8, 50];
  const model = randomBert({ layers: 1, hidden: H, heads: 2, intermediate: 16, vocab: V, maxPositions: 16 }, 3);
  model.config.initializerRange = 0.5; // big enough that GELU and LayerNorm are really exercised
  const head = mlmHeadParams(new Map(), model.config, 5);
  assert.ok(head.fresh);
  for (const [name, p] of head.params) model.params.set(name, p);
  // Give the head's biases and LayerNorm non-trivial values, so that a dropped term shows.
  const r = new Random(11);
  for (const name of [`${MLM_HEAD}.bias`, `${MLM_HEAD}.transform.dense.bias`, `${MLM_HEAD}.transform.LayerNorm.weight`, `${MLM_HEAD}.transform.LayerNorm.bias`]) {
    const p = model.params.get(name)!;
    p.assign(tf.tensor(Array.from({ length: p.size }, () => r.next() - 0.5), p.shape));
  }
  model.params.get(`${MLM_HEAD}.transform.dense.weight`)!.assign(tf.randomNormal([H, H], 0, 0.7, 'float32', 9));

  const ids = [2, 7, 9, 4, 31, 3, 0, 0];
  const inputs = {
    inputIds: tf.tensor2d(ids, [1, 8], 'int32'),
    attentionMask: tf.tensor2d([1, 1, 1, 1, 1, 1, 0, 0], [1, 8], 'int32'),
    tokenTypeIds: tf.zeros([1, 8], 'int32') as tf.Tensor2D,
  };
  const positions = Int32Array.from([1, 4]);
  const targets = Int32Array.from([13, 44]);
  const hidden = model.lastHiddenState(inputs, { training: false }).arraySync()[0];
  const data = (name: string) => model.params.get(name)!.dataSync() as Float32Array;
  const weights = {
    dense: data(`${MLM_HEAD}.transform.dense.weight`),
    denseBias: data(`${MLM_HEAD}.transform.dense.bias`),
    gamma: data(`${MLM_HEAD}.transform.LayerNorm.weight`),
    beta: data(`${MLM_HEAD}.transform.LayerNorm.bias`),
    embeddings: data('bert.embeddings.word_embeddings.weight'),
    bias: data(`${MLM_HEAD}.bias`),
  };
  const expected = headByHand([hidden[1], hidden[4]], weights, H, V, model.config.layerNormEps);
  const logits = maskedLMForward(model, inputs, positions, { training: false }).arraySync();
  logits.forEach((row, k) => row.forEach((v, j) => assert.ok(Math.abs(v - expected[k][j]) < 1e-4, `logit [${k}][${j}] ${v} ≠ ${expected[k][j]}`)));

  // The loss: mean cross-entropy over the predicted tokens only.
  const ce = expected.map((row, k) => {
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    return lse - row[targets[k]];
  });
  const loss = maskedLMLoss(model, inputs, { positions, targets }, { training: false }).dataSync()[0];
  assert.ok(Math.abs(loss - (ce[0] + ce[1]) / 2) < 1e-4, `loss ${loss}`);

  // Tied: token 44 is never an input, so its embedding row gets a gradient only through the decoder,
  // and that gradient is the decoder's: (softmax − onehot)[44] · transformed hidden, averaged.
  const embeddings = model.params.get('bert.embeddings.word_embeddings.weight')!;
  const { grads } = tf.variableGrads(() => maskedLMLoss(model, inputs, { positions, targets }, { training: false }), [embeddings]);
  const g = grads[embeddings.name].arraySync() as number[][];
  assert.ok(g[44].some((v) => Math.abs(v) > 1e-4), 'the target row has a gradient through the decoder');
  // Finite differences on one entry of that row and one of an input row (both paths).
  for (const [row, col] of [[44, 3], [7, 2]]) {
    const h = 1e-2;
    const at = (delta: number) => {
      const e = embeddings.arraySync() as number[][];
      e[row][col] += delta;
      embeddings.assign(tf.tensor2d(e));
      const value = maskedLMLoss(model, inputs, { positions, targets }, { training: false }).dataSync()[0];
      e[row][col] -= delta;
      embeddings.assign(tf.tensor2d(e));
      return value;
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    assert.ok(Math.abs(numeric - g[row][col]) < 2e-3 + 0.02 * Math.abs(numeric), `d loss / d E[${row}][${col}]: ${g[row][col]} vs finite difference ${numeric}`);
  }
  tf.dispose([...model.params.values()]);
});

test('a compact vocabulary keeps the special tokens and every character, and tokenizes kept words exactly as the full one', () => {
  const full = Tokenizer.load(TINY_BERT);
  const texts = ['the movie was wonderful', 'the plot was dull and the acting wooden', 'wonderful acting'];
  const vocab = compactVocabulary(full, texts, 2100);
  assert.ok(vocab.length <= 2100);
  for (const t of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', '##a', 'wonderful', 'acting', 'dull']) assert.ok(vocab.includes(t), t);
  assert.equal(vocab[0], '[PAD]');
  const dir = mkdtempSync(join(tmpdir(), 'compact-'));
  writeFileSync(join(dir, 'vocab.txt'), `${vocab.join('\n')}\n`);
  const compact = Tokenizer.load(dir);
  for (const text of texts) assert.deepEqual(compact.tokenize(text), full.tokenize(text));
  assert.ok(!compact.tokenize('unbelievably').includes('[UNK]'), 'an unseen word falls to smaller pieces, not [UNK]');
});

test('pretrain: the masked-LM loss falls on real text, the output is a BertForMaskedLM that train loads, and a resumed run ends exactly as an uninterrupted one', async () => {
  const out = (name: string) => join(mkdtempSync(join(tmpdir(), 'pretrain-')), name);
  const request = (outDir: string) => ({
    data: [RT_TEXT],
    model: 'builtin:tiny-bert',
    outDir,
    backend: 'wasm' as const,
    shape: { layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 },
    vocabSize: 3000,
    settings: { maxSteps: 40, batchSize: 16, learningRate: 2e-3, maxLength: 32, checkpointEverySteps: 15, seed: 5 },
  });
  const events: TrainEvent[] = [];
  const whole = await pretrain(request(out('whole')), { onEvent: (e) => events.push(e) });
  assert.equal(whole.status, 'completed');
  assert.equal(whole.steps, 40);
  const steps = events.filter((e): e is Extract<TrainEvent, { event: 'step' }> => e.event === 'step');
  assert.ok(steps.every((e) => e.phase === 'mlm'));
  const first = whole.history.steps.slice(0, 5).reduce((s, e) => s + e.loss, 0) / 5;
  const last = whole.history.steps.slice(-5).reduce((s, e) => s + e.loss, 0) / 5;
  assert.ok(last < first - 1, `MLM loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`);
  assert.ok(whole.maskedLM.loss < Math.log(3000), `held-out loss ${whole.maskedLM.loss} is below chance (${Math.log(3000).toFixed(2)})`);

  // Hugging Face's BertForMaskedLM layout: encoder and cls.predictions, no pooler, no classifier, the tied decoder weight left out.
  const config = JSON.parse(readFileSync(join(whole.modelDir, 'config.json'), 'utf8'));
  assert.deepEqual(config.architectures, ['BertForMaskedLM']);
  assert.equal(config.vocab_size, 3000);
  const { tensors } = await readSafetensors(join(whole.modelDir, 'model.safetensors'));
  const keys = [...tensors.keys()];
  for (const k of ['cls.predictions.bias', 'cls.predictions.transform.dense.weight', 'cls.predictions.transform.LayerNorm.weight', 'bert.embeddings.word_embeddings.weight']) assert.ok(keys.includes(k), k);
  assert.ok(!keys.some((k) => k.startsWith('classifier.') || k.startsWith('bert.pooler.') || k === 'cls.predictions.decoder.weight'));
  assert.ok(!existsSync(join(whole.modelDir, 'checkpoints')), 'a finished run keeps only its model');
  const reloaded = await loadMaskedLM(whole.modelDir);
  assert.deepEqual(reloaded.warnings, [], 'the head is read back');
  const base = await loadModelFolder(whole.modelDir, { labels: ['negative', 'positive'] });
  assert.ok(base.warnings.some((w) => w.includes('bert.pooler.dense')), 'train starts a fresh pooler and classifier on it');

  // Stop after the checkpoint at step 15, resume, and compare with the uninterrupted run.
  const stopped = out('stopped');
  const controller = new AbortController();
  const cut = await pretrain(request(stopped), { onEvent: (e) => e.event === 'checkpoint' && controller.abort(), signal: controller.signal });
  assert.equal(cut.status, 'cancelled');
  assert.equal(cut.steps, 15);
  const resumed = await pretrain({ ...request(stopped), resume: true });
  assert.equal(resumed.steps, 40);
  const a = (await readSafetensors(join(whole.modelDir, 'model.safetensors'))).tensors;
  const b = (await readSafetensors(join(resumed.modelDir, 'model.safetensors'))).tensors;
  for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, `${name} equals the uninterrupted run's`);
  // The resumed run read its tokenizer from a checkpoint that was pruned since: its model keeps the files all the same.
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'config.json']) {
    assert.ok(existsSync(join(resumed.modelDir, name)), `${name} in the resumed run's model`);
  }
  assert.equal(readFileSync(join(resumed.modelDir, 'tokenizer.json'), 'utf8'), readFileSync(join(whole.modelDir, 'tokenizer.json'), 'utf8'));
  tf.dispose([...reloaded.model.params.values(), ...base.model.params.values()]);
});

test('train with adaptation: the dataset summary comes first, the MLM phase is its own, and a stop while adapting ends the run cancelled', async () => {
  const { fineTune } = await import('../../../src/server/engine/fine-tune');
  const data = join(__dirname, '..', '..', 'fixtures', 'datasets', 'sst2');
  const request = (outDir: string) => ({ data, model: TINY_BERT, outDir, backend: 'wasm' as const, adaptSteps: 8, settings: { maxSteps: 4, batchSize: 8, maxLength: 32 } });

  const events: { event: string; phase?: string }[] = [];
  const outDir = join(mkdtempSync(join(tmpdir(), 'adapt-')), 'model');
  const done = await fineTune(request(outDir), { onEvent: (e) => events.push(e as { event: string; phase?: string }) });
  assert.equal(done.status, 'completed');
  const order = events.map((e) => `${e.event}${e.phase ? `:${e.phase}` : ''}`);
  assert.equal(order[0], 'dataset', 'the summary shows while adapting');
  assert.ok(order.indexOf('start:mlm') < order.indexOf('mlm-eval') && order.indexOf('mlm-eval') < order.indexOf('start'), order.join(' '));
  assert.ok(existsSync(join(outDir, 'adapted', 'config.json')), 'the adapted base model is kept');

  const controller = new AbortController();
  const stopped = await fineTune(request(join(mkdtempSync(join(tmpdir(), 'adapt-stop-')), 'model')), {
    onEvent: (e) => e.event === 'step' && e.phase === 'mlm' && controller.abort(),
    signal: controller.signal,
  });
  assert.equal(stopped.status, 'cancelled', 'a stop while adapting is a stop, not a failure');
});
