/**
 * Seeded dropout (ops/dropout.ts): masks that depend only on (seed, site, global row, position in the
 * row), so that a batch split into shards draws the whole batch's masks; the right drop rate and
 * scale; the identity at evaluation time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend, type BackendName } from '../../../src/server/engine/backend';
import { dropoutMask, hostDropoutMask, seededDropout } from '../../../src/server/engine/ops/dropout';
import { simdKernels } from '../../../src/server/engine/ops/simd';
import { BertForSequenceClassification, crossEntropyLoss, parameterSpecs, type BertInputs } from '../../../src/server/engine/bert';
import { bertConfigFromJson } from '../../../src/server/engine/model-config';

const site = (seed: number, s: number, firstRow = 0) => ({ seed, site: s, firstRow });

test('a mask drops a share `rate` of the elements and scales the others by 1/(1 − rate)', () => {
  for (const rate of [0.1, 0.25, 0.5]) {
    const mask = dropoutMask([64, 4096], rate, site(7, 3));
    const keep = Math.fround(1 / (1 - rate));
    let zeros = 0;
    for (const m of mask) {
      if (m === 0) zeros++;
      else assert.equal(m, keep, `a kept element is 1/(1 − ${rate})`);
    }
    // 262,144 draws: the share's standard deviation is below 0.001.
    const share = zeros / mask.length;
    assert.ok(Math.abs(share - rate) < 0.005, `rate ${rate}: ${share} of the elements dropped`);
    // No long-range pattern: each half of the rows, and the odd and even positions, drop about as much.
    let evenZeros = 0;
    for (let i = 0; i < mask.length; i += 2) if (mask[i] === 0) evenZeros++;
    assert.ok(Math.abs(evenZeros / (mask.length / 2) - rate) < 0.007, `rate ${rate}: even positions`);
  }
  assert.ok(dropoutMask([8, 100], 0, site(1, 0)).every((m) => m === 1), 'rate 0 keeps everything');
  assert.throws(() => dropoutMask([2, 2], 1, site(1, 0)), /rate/);
});

test('masks depend on the seed, the site, the global row and the position, and on nothing else', () => {
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  const base = dropoutMask([4, 3, 50], 0.3, site(11, 2));
  assert.ok(same(base, dropoutMask([4, 3, 50], 0.3, site(11, 2))), 'the same draw twice');
  assert.ok(!same(base, dropoutMask([4, 3, 50], 0.3, site(12, 2))), 'another seed, another mask');
  assert.ok(!same(base, dropoutMask([4, 3, 50], 0.3, site(11, 3))), 'another site, another mask');
  const row = 150;
  assert.ok(!same(base.subarray(0, row), base.subarray(row, 2 * row)), 'rows differ');
  // Rows [2, 4) of the batch, drawn alone with firstRow 2; and row 3 alone with firstRow 3.
  assert.ok(same(base.subarray(2 * row), dropoutMask([2, 3, 50], 0.3, site(11, 2, 2))), 'a shard draws the batch\'s rows');
  assert.ok(same(base.subarray(3 * row), dropoutMask([1, 150], 0.3, site(11, 2, 3))), 'only the row size matters, not the shape');
  const odd = dropoutMask([3, 7], 0.5, site(5, 0));
  assert.ok(same(odd.subarray(7), dropoutMask([2, 7], 0.5, site(5, 0, 1))), 'odd row sizes too');
});

test('wasm: the SIMD masks equal the JS ones, row for row', async () => {
  await initBackend('wasm');
  assert.ok(simdKernels(), 'the SIMD kernels load');
  for (const [rows, rowSize, rate] of [[5, 64, 0.1], [3, 8, 0.5], [2, 4096, 0.3], [4, 24, 0]] as const) {
    const where = site(99, 6, 11);
    const mask = hostDropoutMask(rows, rowSize, rate, where);
    assert.deepEqual(mask.dataSync(), dropoutMask([rows, rowSize], rate, where), `(${rows}, ${rowSize}) at rate ${rate}`);
    mask.dispose();
  }
});

for (const backend of ['wasm', 'cpu'] as BackendName[]) {
  test(`${backend}: seededDropout multiplies by the mask, and so does its gradient`, async () => {
    await initBackend(backend);
    tf.tidy(() => {
      const x = tf.randomNormal([6, 5, 9], 0, 1, 'float32', 3);
      const dy = tf.randomNormal([6, 5, 9], 0, 1, 'float32', 4);
      const where = site(21, 4, 10);
      const mask = tf.tensor(dropoutMask([6, 5, 9], 0.2, where), [6, 5, 9]);
      assert.deepEqual(seededDropout(x, 0.2, where).dataSync(), tf.mul(x, mask).dataSync());
      const grad = tf.grad((t: tf.Tensor) => seededDropout(t, 0.2, where))(x, dy);
      assert.deepEqual(grad.dataSync(), tf.mul(dy, mask).dataSync());
      assert.equal(seededDropout(x, 0, where), x, 'rate 0 is the identity');
    });
  });

  test(`${backend}: a batch split into shards (firstRow) gets the whole batch's dropout, logits and summed gradients`, async () => {
    await initBackend(backend);
    const config = bertConfigFromJson(
      {
        model_type: 'bert', vocab_size: 60, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24,
        num_labels: 3, hidden_dropout_prob: 0.2, attention_probs_dropout_prob: 0.3,
      },
      '(test)',
    );
    let seed = 100;
    const params = new Map(parameterSpecs(config).map((spec) => [spec.name, tf.variable(tf.randomNormal(spec.shape, 0, 0.2, 'float32', seed++))]));
    const model = new BertForSequenceClassification(config, params);
    const [B, T] = [4, 9];
    const lengths = [9, 4, 7, 2];
    const ids = Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 + ((i * 13) % 59) : 0));
    const labels = [2, 0, 1, 1];
    const inputs = (from: number, to: number): BertInputs => {
      const rows = to - from;
      const slice = (a: number[]) => tf.tensor2d(a.slice(from * T, to * T), [rows, T], 'int32');
      return { inputIds: slice(ids), attentionMask: slice(ids.map((id) => (id === 0 ? 0 : 1))), tokenTypeIds: slice(ids.map(() => 0)) };
    };
    // The loss summed over rows, so that the shards' gradients add up to the batch's.
    const run = (from: number, to: number) =>
      tf.tidy(() => {
        let logits: tf.Tensor2D | undefined;
        const { grads } = tf.variableGrads(() => {
          logits = tf.keep(model.forward(inputs(from, to), { training: true, dropoutSeed: 1234, firstRow: from }).logits);
          return tf.mul(crossEntropyLoss(logits, tf.tensor1d(labels.slice(from, to), 'int32')), to - from) as tf.Scalar;
        });
        return { logits: logits!, grads };
      });
    const whole = run(0, 4);
    const shards = [run(0, 2), run(2, 4)];
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol: number) => {
      assert.equal(a.length, b.length);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      assert.ok(diff <= tol, `${what}: max abs diff ${diff}`);
    };
    close(whole.logits.dataSync(), [...shards[0].logits.dataSync(), ...shards[1].logits.dataSync()], 'logits', 1e-5);
    for (const [id, g] of Object.entries(whole.grads)) {
      const summed = tf.add(shards[0].grads[id], shards[1].grads[id]);
      close(g.dataSync(), summed.dataSync(), `gradient ${id}`, 1e-5);
      summed.dispose();
    }
    // Dropout is on: another seed gives other logits; evaluation mode ignores the seed.
    tf.tidy(() => {
      const other = model.forward(inputs(0, 4), { training: true, dropoutSeed: 1235 }).logits;
      assert.ok(tf.max(tf.abs(tf.sub(other, whole.logits))).dataSync()[0] > 1e-3, 'another seed, other masks');
      const again = model.forward(inputs(0, 4), { training: true, dropoutSeed: 1234 }).logits;
      assert.deepEqual(again.dataSync(), whole.logits.dataSync(), 'the same seed, the same masks');
    });
    tf.dispose([whole.logits, ...Object.values(whole.grads), ...shards.flatMap((s) => [s.logits, ...Object.values(s.grads)])]);
    tf.dispose([...params.values()]);
  });

  test(`${backend}: dropout is the identity when not training`, async () => {
    await initBackend(backend);
    const config = bertConfigFromJson(
      { model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, num_labels: 2, hidden_dropout_prob: 0.5 },
      '(test)',
    );
    let seed = 7;
    const params = new Map(parameterSpecs(config).map((spec) => [spec.name, tf.variable(tf.randomNormal(spec.shape, 0, 0.3, 'float32', seed++))]));
    const model = new BertForSequenceClassification(config, params);
    tf.tidy(() => {
      const ids = tf.tensor2d([[1, 5, 9, 2], [3, 4, 0, 0]], [2, 4], 'int32');
      const inputs = { inputIds: ids, attentionMask: tf.cast(tf.greater(ids, 0), 'int32') as tf.Tensor2D, tokenTypeIds: tf.zerosLike(ids) };
      const plain = model.forward(inputs, { training: false });
      const seeded = model.forward(inputs, { training: false, dropoutSeed: 3, firstRow: 5 });
      for (const key of ['embeddingOutput', 'pooledOutput', 'logits'] as const) {
        assert.deepEqual(seeded[key].dataSync(), plain[key].dataSync(), `${key} without dropout`);
      }
      const training = model.forward(inputs, { training: true, dropoutSeed: 3 });
      const dropped = training.embeddingOutput.dataSync().filter((v) => v === 0).length;
      assert.ok(dropped > 0, 'training mode drops some of the embedding output');
      assert.equal(plain.embeddingOutput.dataSync().filter((v) => v === 0).length, 0);
    });
    tf.dispose([...params.values()]);
  });
}
