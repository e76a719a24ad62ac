import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend, type BackendName } from '../../../src/server/engine/backend';
import { batchMatMul, linear, transpose2d } from '../../../src/server/engine/ops/matmul';

let seed = 1;
const random = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

/** Equal within float32 rounding, relative to the largest expected magnitude. */
function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.dataSync();
  const e = expected.dataSync();
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < e.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  assert.ok(diff <= 2e-5 * scale, `${what}: max abs diff ${diff} at scale ${scale}`);
}

/** The forward value and the gradients of `ours` and `stock` for the same inputs and upstream gradient. */
function compareWithStock(name: string, inputs: tf.Tensor[], ours: (...xs: tf.Tensor[]) => tf.Tensor, stock: (...xs: tf.Tensor[]) => tf.Tensor) {
  tf.tidy(() => {
    const expected = stock(...inputs);
    assertClose(ours(...inputs), expected, `${name} forward`);
    const dy = random(expected.shape);
    const ourGrads = tf.grads((...xs: tf.Tensor[]) => ours(...xs))(inputs, dy);
    const stockGrads = tf.grads((...xs: tf.Tensor[]) => stock(...xs))(inputs, dy);
    ourGrads.forEach((g, i) => assertClose(g, stockGrads[i], `${name} gradient ${i}`));
  });
}

const LINEAR_SHAPES: [number, number, number][] = [
  [5, 3, 7], // tiny
  [64, 16, 48], // in < out
  [64, 48, 16], // in > out
  [40, 24, 24], // in = out
  [512, 128, 136], // large enough for the strip transpose
  [520, 200, 96], // large, in > out
];

for (const backend of ['wasm', 'cpu'] as BackendName[]) {
  test(`${backend}: linear equals x·W (+ b) and has stock TF.js's gradients`, async () => {
    await initBackend(backend);
    for (const [n, inDim, outDim] of LINEAR_SHAPES) {
      const [x, w, b] = [random([n, inDim]), random([inDim, outDim]), random([outDim])];
      const shape = `(${n}, ${inDim})·(${inDim}, ${outDim})`;
      compareWithStock(`linear ${shape}`, [x, w], (x, w) => linear(x as tf.Tensor2D, w as tf.Tensor2D), (x, w) => tf.matMul(x, w));
      compareWithStock(
        `linear ${shape} + b`,
        [x, w, b],
        (x, w, b) => linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D),
        (x, w, b) => tf.add(tf.matMul(x, w), b),
      );
      tf.dispose([x, w, b]);
    }
  });

  test(`${backend}: batchMatMul equals tf.matMul for batched 3-D and 4-D products and has its gradients`, async () => {
    await initBackend(backend);
    const cases: [number[], number[]][] = [
      [[1, 5, 6], [1, 6, 3]], // one matrix
      [[4, 5, 6], [4, 6, 7]], // 3-D
      [[2, 3, 16, 8], [2, 3, 8, 16]], // attention's probs·values shape class: (B, nh, T, T)·(B, nh, T, hd)
      [[2, 2, 9, 9], [2, 2, 9, 4]],
    ];
    for (const [aShape, bShape] of cases) {
      const [a, b] = [random(aShape), random(bShape)];
      compareWithStock(`batchMatMul (${aShape})·(${bShape})`, [a, b], (a, b) => batchMatMul(a, b), (a, b) => tf.matMul(a, b));
      tf.dispose([a, b]);
    }
  });

  test(`${backend}: batchMatMul with transposeB equals tf.matMul(a, b, false, true) and has its gradients`, async () => {
    await initBackend(backend);
    const cases: [number[], number[]][] = [
      [[1, 4, 6], [1, 5, 6]],
      [[3, 5, 6], [3, 7, 6]],
      [[2, 3, 16, 8], [2, 3, 16, 8]], // attention scores: (B, nh, T, hd)·(B, nh, T, hd)ᵀ
    ];
    for (const [aShape, bShape] of cases) {
      const [a, b] = [random(aShape), random(bShape)];
      compareWithStock(
        `batchMatMul (${aShape})·(${bShape})ᵀ`,
        [a, b],
        (a, b) => batchMatMul(a, b, true),
        (a, b) => tf.matMul(a, b, false, true),
      );
      tf.dispose([a, b]);
    }
  });

  test(`${backend}: transpose2d equals tf.transpose, strip path included`, async () => {
    await initBackend(backend);
    for (const shape of [[3, 5], [300, 301], [1024, 96], [64, 2048], [2048, 256]]) {
      tf.tidy(() => {
        const x = random(shape) as tf.Tensor2D;
        assert.deepEqual(transpose2d(x).dataSync(), tf.transpose(x).dataSync(), `transpose2d (${shape})`);
      });
    }
  });

  test(`${backend}: forward and backward passes of the ops leave no tensor behind`, async () => {
    await initBackend(backend);
    const [x, w, b] = [random([32, 16]), random([16, 24]), random([24])];
    const before = tf.memory().numTensors;
    const grads = tf.tidy(() =>
      tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
        const h = linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D).reshape([2, 2, 8, 24]); // (B, nh, T, ·)
        const scores = batchMatMul(h, h, true); // (2, 2, 8, 8)
        return tf.sum(batchMatMul(scores, h));
      })([x, w, b]),
    );
    assert.equal(tf.memory().numTensors, before + 3, 'only the three gradients are new');
    tf.dispose([...grads, x, w, b]);
  });
}

test('batchMatMul rejects operands whose batch or inner dimensions differ', async () => {
  await initBackend('cpu');
  tf.tidy(() => {
    assert.throws(() => batchMatMul(tf.zeros([2, 3, 4]), tf.zeros([3, 4, 5])), /cannot multiply/);
    assert.throws(() => batchMatMul(tf.zeros([2, 3, 4]), tf.zeros([2, 5, 4])), /cannot multiply/);
    assert.throws(() => linear(tf.zeros([2, 3]), tf.zeros([4, 5])), /cannot multiply/);
  });
});
