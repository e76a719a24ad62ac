import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';
import { AdamW, clipByGlobalNorm } from '../../../src/server/engine/train/optimizer';
import { linearWarmupDecay, warmupStepsFor } from '../../../src/server/engine/train/schedule';

const close = (actual: ArrayLike<number>, expected: number[], tol = 1e-6) =>
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= tol, `[${i}] ${actual[i]} ≠ ${e}`));

test('AdamW matches PyTorch\'s update, worked by hand; biases and LayerNorm are not decayed', async () => {
  await initBackend('wasm');
  // lr 0.1, weight decay 0.01, betas (0.9, 0.999), eps 1e-8; the same gradient [0.5, -1] twice.
  // Step 1: p·(1 − 0.1·0.01) − 1·m̂/(√v̂ + eps) with m̂ = g, √v̂ = |g|  →  0.999·p − sign(g)·0.1
  // Step 2: m = 0.095·sign, v = 0.00049975·g²-ish, corrected ratio again 0.1  →  0.999·p − sign(g)·0.1
  const params = new Map([
    ['bert.encoder.layer.0.output.dense.weight', tf.variable(tf.tensor1d([1, -2]))],
    ['bert.encoder.layer.0.output.dense.bias', tf.variable(tf.tensor1d([1, -2]))],
    ['bert.encoder.layer.0.output.LayerNorm.weight', tf.variable(tf.tensor1d([1, -2]))],
  ]);
  const optimizer = new AdamW(params, { weightDecay: 0.01 });
  const grads = () => new Map([...params.keys()].map((name) => [name, tf.tensor1d([0.5, -1])]));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    const g = grads();
    optimizer.apply(g, 0.1);
    tf.dispose([...g.values()]);
  }
  close(params.get('bert.encoder.layer.0.output.dense.weight')!.dataSync(), [0.798101, -1.796102]);
  close(params.get('bert.encoder.layer.0.output.dense.bias')!.dataSync(), [0.8, -1.8]);
  close(params.get('bert.encoder.layer.0.output.LayerNorm.weight')!.dataSync(), [0.8, -1.8]);
  assert.equal(optimizer.step, 2);
  assert.equal(tf.memory().numTensors, before + 2 * params.size, 'only the two moments per parameter were added');

  const state = optimizer.state();
  close(state.m.get('bert.encoder.layer.0.output.dense.weight')!, [0.095, -0.19]);
  close(state.v.get('bert.encoder.layer.0.output.dense.weight')!, [0.00049975, 0.001999], 1e-9);
  optimizer.dispose();
  tf.dispose([...params.values()]);
});

test('the schedule warms up linearly from 0, then decays linearly to 0 (Hugging Face\'s)', () => {
  assert.equal(warmupStepsFor(10, 0.15), 2);
  const lrs = Array.from({ length: 11 }, (_, step) => linearWarmupDecay(1, step, 10, 2));
  close(lrs, [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]);
  assert.equal(linearWarmupDecay(1, 0, 10, 0), 1, 'no warmup starts at the full rate');
});

test('gradients are clipped to global norm 1.0, and left alone below it', () => {
  const grads = new Map([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([0, 4])]]);
  const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  close(clipped.get('a')!.dataSync(), [0.6, 0]);
  close(clipped.get('b')!.dataSync(), [0, 0.8]);
  const small = new Map([['a', tf.tensor1d([0.3, 0.4])]]);
  const kept = clipByGlobalNorm(small, 1);
  assert.equal(kept.grads.get('a'), small.get('a'));
  tf.dispose([...clipped.values(), ...small.values()]);
});

test('AdamW on wasm: the SIMD update equals the JS loop and the TF.js ops; clipAndApply equals clipping then apply', async () => {
  await initBackend('wasm');
  const { setSimdKernels, simdKernels } = await import('../../../src/server/engine/ops/simd');
  assert.ok(simdKernels(), 'the SIMD kernels load');
  const names = ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.0.output.dense.bias', 'classifier.weight'];
  const sizes = [1001, 64, 7]; // tails of 1, 0 and 3 after the groups of four
  const initial = sizes.map((n, i) => tf.randomNormal([n], 0, 1, 'float32', 10 + i));
  const gradsAt = (step: number) => new Map(names.map((name, i) => [name, tf.tidy(() => tf.mul(tf.randomNormal([sizes[i]], 0, 1, 'float32', 100 * step + i + 1), step === 2 ? 0.01 : 3))]));
  const run = (simd: boolean, mode: 'clip-then-apply' | 'clipAndApply' | 'ops') => {
    const previous = setSimdKernels(simd);
    const params = new Map(names.map((name, i) => [name, tf.tidy(() => tf.variable(tf.clone(initial[i])))]));
    const optimizer = new AdamW(params, { weightDecay: 0.05, opsOnly: mode === 'ops' });
    const norms: number[] = [];
    for (const [step, lr] of [0, 0.01, 0.02, 0.005].entries()) {
      const grads = gradsAt(step);
      if (mode === 'clipAndApply') {
        norms.push(optimizer.clipAndApply(grads, lr, 1).norm);
        tf.dispose([...grads.values()]);
      } else {
        const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
        norms.push(norm);
        optimizer.apply(clipped, lr);
        tf.dispose([...clipped.values()]);
      }
    }
    setSimdKernels(previous);
    const state = optimizer.state();
    const result = { params: names.map((n) => Float32Array.from(params.get(n)!.dataSync())), m: names.map((n) => state.m.get(n)!), v: names.map((n) => state.v.get(n)!), norms };
    optimizer.dispose();
    tf.dispose([...params.values()]);
    return result;
  };
  const closeArrays = (a: Float32Array[], b: Float32Array[], what: string, tol: number) =>
    a.forEach((x, i) => x.forEach((value, j) => assert.ok(Math.abs(value - b[i][j]) <= tol * Math.max(1, Math.abs(b[i][j])), `${what}[${i}][${j}]: ${value} ≠ ${b[i][j]}`)));
  const before = tf.memory().numTensors;
  const reference = run(false, 'clip-then-apply'); // the JS loops
  for (const [simd, mode] of [[true, 'clip-then-apply'], [true, 'clipAndApply'], [false, 'clipAndApply'], [false, 'ops']] as const) {
    const other = run(simd, mode);
    const what = `${simd ? 'SIMD' : 'JS'} ${mode}`;
    closeArrays(other.params, reference.params, `${what} params`, 2e-6);
    closeArrays(other.m, reference.m, `${what} m`, 2e-6);
    closeArrays(other.v, reference.v, `${what} v`, 2e-6);
    other.norms.forEach((n, i) => assert.ok(Math.abs(n - reference.norms[i]) <= 1e-5 * reference.norms[i], `${what} norm ${i}`));
  }
  assert.ok(reference.norms[0] > 1 && reference.norms[2] < 1, 'the steps both clip and do not');
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  tf.dispose(initial);
});
