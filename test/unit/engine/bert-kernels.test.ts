/**
 * The host kernels (ops/bert-kernels.ts) against the stock TF.js compositions they replace, forward
 * and gradient, on every path they run: wasm with its SIMD loops, wasm with the JS loops, and cpu;
 * widths that are and are not multiples of 4 (the SIMD loops' unit); dropout on and off; padded keys.
 * Also the whole model with the host kernels on and off, and tensor counts over training steps.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend, type BackendName } from '../../../src/server/engine/backend';
import { addNormHost, attentionProbsHost, attentionScoresGradHost, embeddingsHost, geluHost, type KernelDropout } from '../../../src/server/engine/ops/bert-kernels';
import { dropoutMask } from '../../../src/server/engine/ops/dropout';
import { setHostKernels } from '../../../src/server/engine/ops/host';
import { setSimdKernels, simdKernels } from '../../../src/server/engine/ops/simd';
import { BertForSequenceClassification, crossEntropyLoss, geluStock, parameterSpecs } from '../../../src/server/engine/bert';
import { bertConfigFromJson } from '../../../src/server/engine/model-config';
import { AdamW } from '../../../src/server/engine/train/optimizer';
import { expNonPositive, geluDerivative, geluValue } from '../../../src/server/engine/ops/math';

interface Config {
  name: string;
  backend: BackendName;
  simd: boolean;
}
const CONFIGS: Config[] = [
  { name: 'wasm (SIMD)', backend: 'wasm', simd: true },
  { name: 'wasm (JS loops)', backend: 'wasm', simd: false },
  { name: 'cpu', backend: 'cpu', simd: false },
];

async function use(config: Config): Promise<void> {
  await initBackend(config.backend);
  setSimdKernels(config.simd);
  if (config.simd) assert.ok(simdKernels(), 'the SIMD kernels load on wasm');
  else assert.equal(simdKernels(), undefined);
}

let seed = 1;
const random = (shape: number[], scale = 1) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale);

/** Equal within `tolerance` relative to the largest expected magnitude (at least 1). */
function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string, tolerance = 1e-5): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const [a, e] = [actual.dataSync(), expected.dataSync()];
  let [diff, scale] = [0, 1];
  for (let i = 0; i < e.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - e[i]));
    if (Number.isNaN(a[i]) !== Number.isNaN(e[i])) diff = Infinity;
    scale = Math.max(scale, Math.abs(e[i]));
  }
  assert.ok(diff <= tolerance * scale, `${what}: max abs diff ${diff} at scale ${scale}`);
}

/** Forward values and gradients (for one upstream gradient) of `ours` and `stock` agree. */
function compare(name: string, inputs: tf.Tensor[], ours: (...xs: tf.Tensor[]) => tf.Tensor, stock: (...xs: tf.Tensor[]) => tf.Tensor, tolerance = 1e-5): void {
  tf.tidy(() => {
    const expected = stock(...inputs);
    assertClose(ours(...inputs), expected, `${name} forward`, tolerance);
    const dy = random(expected.shape);
    const ourGrads = tf.grads((...xs: tf.Tensor[]) => ours(...xs))(inputs, dy);
    const stockGrads = tf.grads((...xs: tf.Tensor[]) => stock(...xs))(inputs, dy);
    ourGrads.forEach((g, i) => assertClose(g, stockGrads[i], `${name} gradient ${i}`, tolerance));
  });
}

const EPS = 1e-12;

function stockLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const std = tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), EPS));
  return tf.add(tf.mul(tf.div(centered, std), gamma), beta);
}

const dropoutAt = (site: number, rate = 0.2): KernelDropout => ({ rate, where: { seed: 77, site, firstRow: 3 } });
const maskOf = (shape: number[], d: KernelDropout) => tf.tensor(dropoutMask(shape, d.rate, d.where), shape);

test('the GELU and exp tables are exact to 1e-8 against series computed in float64', () => {
  // erf by its Taylor series (|z| ≤ 3) and by Laplace's continued fraction for erfc (beyond)
  const erfc = (z: number) => {
    let f = 0;
    for (let k = 200; k >= 1; k--) f = k / 2 / (z + f);
    return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  };
  const erf = (z: number) => {
    if (Math.abs(z) > 3) return Math.sign(z) * (1 - erfc(Math.abs(z)));
    let [sum, term] = [0, z];
    for (let n = 0; n < 200; n++, term *= (-z * z) / n) sum += term / (2 * n + 1);
    return (2 / Math.sqrt(Math.PI)) * sum;
  };
  const cdf = (x: number) => (x < -4 ? 0.5 * erfc(-x / Math.SQRT2) : 0.5 * (1 + erf(x / Math.SQRT2)));
  let [gelu, grad, exp] = [0, 0, 0];
  for (let x = -10; x <= 10; x += 0.0013) {
    gelu = Math.max(gelu, Math.abs(geluValue(x) - x * cdf(x)));
    grad = Math.max(grad, Math.abs(geluDerivative(x) - (cdf(x) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI))));
  }
  for (let z = -87; z <= 0; z += 0.0017) exp = Math.max(exp, Math.abs(expNonPositive(z) / Math.exp(z) - 1));
  assert.ok(gelu < 1e-8 && grad < 1e-8, `GELU error ${gelu}, derivative error ${grad}`);
  assert.ok(exp < 1e-9, `exp relative error ${exp}`);
  assert.equal(geluValue(0), 0);
  assert.equal(geluDerivative(0), 0.5);
  assert.equal(expNonPositive(-200), 0);
});

for (const config of CONFIGS) {
  test(`${config.name}: addNormHost equals LayerNorm(dropout(x) + residual) in stock ops, with its gradients`, async () => {
    await use(config);
    for (const H of [32, 30]) {
      for (const d of [undefined, dropoutAt(4)]) {
        const shape = [3, 5, H];
        const inputs = [random(shape), random(shape), random([H], 0.3).add(1), random([H], 0.2)];
        const mask = d && maskOf(shape, d);
        compare(
          `addNorm H ${H}${d ? ' with dropout' : ''}`,
          inputs,
          (x, r, g, b) => addNormHost(x, r, g, b, EPS, d),
          (x, r, g, b) => stockLayerNorm(tf.add(mask ? tf.mul(x, mask) : x, r), g, b),
        );
        tf.dispose([...inputs, ...(mask ? [mask] : [])]);
      }
    }
  });

  test(`${config.name}: embeddingsHost equals the lookups, sum, LayerNorm and dropout in stock ops, with the tables' gradients`, async () => {
    await use(config);
    for (const H of [16, 18]) {
      for (const d of [undefined, dropoutAt(0)]) {
        const [B, T, V] = [2, 6, 11];
        const ids = tf.tensor2d([3, 1, 10, 4, 4, 0, 7, 7, 7, 2, 0, 0], [B, T], 'int32');
        const types = tf.tensor2d([0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1], [B, T], 'int32');
        const tables = [random([V, H]), random([2, H]), random([9, H]), random([H], 0.3).add(1), random([H], 0.2)];
        const mask = d && maskOf([B, T, H], d);
        const lookup = (table: tf.Tensor, index: tf.Tensor) => tf.matMul(tf.oneHot(index.reshape([-1]) as tf.Tensor1D, table.shape[0]).toFloat(), table);
        compare(
          `embeddings H ${H}${d ? ' with dropout' : ''}`,
          tables,
          (w, t, p, g, b) => embeddingsHost({ inputIds: ids, tokenTypeIds: types }, w, t, p, g, b, EPS, d),
          (w, t, p, g, b) => {
            const summed = tf.add(tf.add(lookup(w, ids), lookup(t, types)).reshape([B, T, H]), lookup(p, tf.range(0, T, 1, 'int32')));
            const normed = stockLayerNorm(summed, g, b);
            return mask ? tf.mul(normed, mask) : normed;
          },
        );
        tf.dispose([ids, types, ...tables, ...(mask ? [mask] : [])]);
      }
    }
    tf.tidy(() => {
      const ids = tf.tensor2d([[1, 12]], [1, 2], 'int32');
      const call = () => embeddingsHost({ inputIds: ids, tokenTypeIds: tf.zerosLike(ids) }, tf.zeros([11, 4]), tf.zeros([2, 4]), tf.zeros([4, 4]), tf.ones([4]), tf.zeros([4]), EPS, undefined);
      assert.throws(call, /token id 12 is outside the vocabulary/);
    });
  });

  test(`${config.name}: geluHost equals x·Φ(x) in stock ops (erf), with its gradient, over the whole range`, async () => {
    await use(config);
    for (const n of [4096, 4099]) {
      const x = tf.linspace(-12, 12, n); // both sides of the tables' ±8, and the tail of 4 not a multiple
      compare(`gelu (${n})`, [x], (t) => geluHost(t), (t) => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.div(t, Math.SQRT2)))), 2e-6);
      x.dispose();
    }
    tf.tidy(() => {
      const special = geluHost(tf.tensor1d([0, NaN, Infinity, -Infinity, 8, -8, 1e-3]));
      const [zero, nan, inf, negInf, eight, negEight, small] = special.dataSync();
      assert.equal(zero, 0, 'GELU(0) = 0');
      assert.ok(Number.isNaN(nan), 'NaN stays NaN');
      assert.equal(inf, Infinity);
      assert.ok(Number.isNaN(negInf), 'GELU(−∞) is NaN, as x·Φ(x) in float arithmetic');
      assert.ok(eight === 8 && Math.abs(negEight) < 1e-12);
      assert.ok(Math.abs(small - 1e-3 * 0.5003989) < 1e-10, `GELU(1e-3) = ${small}`);
      const x = random([3, 7]);
      assertClose(geluHost(x), geluStock(x), 'geluHost equals the stock gelu');
    });
  });

  test(`${config.name}: attention probabilities equal softmax(scores + mask) then dropout; the scores' gradient equals stock TF.js's`, async () => {
    await use(config);
    for (const T of [8, 7]) {
      for (const d of [undefined, dropoutAt(2, 0.3)]) {
        const [B, nh] = [3, 2];
        // Row 0: no padding; row 1: two padded keys; row 2 (T 8): every key padded (uniform, as Hugging Face).
        const valid = Uint8Array.from({ length: B * T }, (_, i) => {
          const [b, j] = [Math.floor(i / T), i % T];
          return b === 0 ? 1 : b === 1 ? (j < T - 2 ? 1 : 0) : T === 8 ? 0 : j % 2;
        });
        const scores = random([B, nh, T, T], 3);
        const mask = d && maskOf([B, nh, T, T], d);
        const maskAdd = tf.tensor4d(Array.from(valid, (v) => (v ? 0 : -3.4028234663852886e38)), [B, 1, 1, T]);
        const stockProbs = (s: tf.Tensor) => tf.softmax(tf.add(s, maskAdd));
        const stockDropped = (s: tf.Tensor) => (mask ? tf.mul(stockProbs(s), mask) : stockProbs(s));
        tf.tidy(() => {
          const [probs, dropped = probs] = attentionProbsHost(scores, valid, d);
          assertClose(probs, stockProbs(scores), `probs T ${T}${d ? ' with dropout' : ''}`);
          assertClose(dropped, stockDropped(scores), `dropped T ${T}${d ? ' with dropout' : ''}`);
          const dDropped = random([B, nh, T, T]);
          const expected = tf.grad((s: tf.Tensor) => tf.sum(tf.mul(stockDropped(s), dDropped)))(scores);
          assertClose(attentionScoresGradHost(dDropped, dropped, probs), expected, `scores' gradient T ${T}${d ? ' with dropout' : ''}`);
        });
        tf.dispose([scores, maskAdd, ...(mask ? [mask] : [])]);
      }
    }
  });

  test(`${config.name}: the model with host kernels equals the model in stock ops (training mode), and training steps leave no tensors behind`, async () => {
    await use(config);
    for (const [H, T] of [[32, 12], [24, 9]]) {
      const bert = bertConfigFromJson(
        { model_type: 'bert', vocab_size: 50, hidden_size: H, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 2 * H, num_labels: 3 },
        '(test)',
      );
      const params = new Map(parameterSpecs(bert).map((spec) => [spec.name, tf.variable(tf.tidy(() => (spec.name.includes('LayerNorm.weight') ? random(spec.shape, 0.1).add(1) : random(spec.shape, 0.1))))]));
      const model = new BertForSequenceClassification(bert, params);
      const B = 3;
      const lengths = [T, T - 3, 2];
      const ids = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)] ? 1 + ((i * 7) % 49) : 0)), [B, T], 'int32');
      const inputs = { inputIds: ids, attentionMask: tf.cast(tf.greater(ids, 0), 'int32') as tf.Tensor2D, tokenTypeIds: tf.zerosLike(ids) };
      const labels = tf.tensor1d([0, 2, 1], 'int32');
      const run = (host: boolean) => {
        const previous = setHostKernels(host);
        try {
          return tf.variableGrads(() => crossEntropyLoss(model.forward(inputs, { training: true, dropoutSeed: 5, firstRow: 2 }).logits, labels));
        } finally {
          setHostKernels(previous);
        }
      };
      const [ours, stock] = [run(true), run(false)];
      assertClose(ours.value, stock.value, `loss H ${H}`);
      for (const [id, g] of Object.entries(ours.grads)) assertClose(g, stock.grads[id], `gradient ${id} H ${H}`, 1e-4);
      tf.dispose([ours.value, stock.value, ...Object.values(ours.grads), ...Object.values(stock.grads)]);

      const optimizer = new AdamW(params);
      const counts: number[] = [];
      for (let step = 0; step < 4; step++) {
        const { value, grads } = tf.variableGrads(() => crossEntropyLoss(model.forward(inputs, { training: true, dropoutSeed: step }).logits, labels));
        const named = new Map([...params].map(([name, p]) => [name, grads[p.name]]));
        optimizer.clipAndApply(named, 1e-3, 1);
        tf.dispose([value, ...Object.values(grads)]);
        counts.push(tf.memory().numTensors);
      }
      assert.deepEqual(counts.slice(1), [counts[1], counts[1], counts[1]], `live tensors after each step: ${counts}`);
      optimizer.dispose();
      tf.dispose([...params.values(), ids, inputs.attentionMask, inputs.tokenTypeIds, labels]);
    }
  });
}

after(() => {
  setSimdKernels(true);
  setHostKernels(true);
});
