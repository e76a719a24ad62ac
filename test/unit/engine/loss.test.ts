import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { crossEntropyLoss } from '../../../src/server/engine/bert';
import { initBackend } from '../../../src/server/engine/backend';

test('cross-entropy: the mean negative log-likelihood, and PyTorch\'s weighted mean with class weights', async () => {
  await initBackend('wasm');
  const logits = tf.tensor2d([[2, 0], [0, 1], [1, 1]]);
  const labels = tf.tensor1d([0, 1, 0], 'int32');
  // -log softmax: row 0 → log(1 + e^-2), row 1 → log(1 + e^-1), row 2 → log 2
  const nll = [Math.log(1 + Math.exp(-2)), Math.log(1 + Math.exp(-1)), Math.log(2)];
  const plain = crossEntropyLoss(logits, labels).dataSync()[0];
  assert.ok(Math.abs(plain - (nll[0] + nll[1] + nll[2]) / 3) < 1e-6);
  // weights 1 for class 0 and 3 for class 1: sum(w_i · nll_i) / sum(w_i)
  const weighted = crossEntropyLoss(logits, labels, tf.tensor1d([1, 3])).dataSync()[0];
  assert.ok(Math.abs(weighted - (nll[0] + 3 * nll[1] + nll[2]) / 5) < 1e-6);
});
