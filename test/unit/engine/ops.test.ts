import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend, type BackendName } from '../../../src/server/engine/backend';
import { batchMatMul, columnSums, hostData, linear, matMul, nativeProducts, transpose2d } from '../../../src/server/engine/ops/matmul';
import { AdamW, clipByGlobalNorm } from '../../../src/server/engine/train/optimizer';
import { BertForSequenceClassification, crossEntropyLoss, gelu, parameterSpecs } from '../../../src/server/engine/bert';
import { bertConfigFromJson, type BertConfig } from '../../../src/server/engine/model-config';
import { dropoutMask } from '../../../src/server/engine/ops/dropout';

let seed = 1;
const random = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

/** Equal within float32 rounding (`tolerance`), relative to the largest expected magnitude (at least 1). */
function assertClose(actual: tf.Tensor, expected: tf.Tensor, what: string, tolerance = 2e-5): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.dataSync();
  const e = expected.dataSync();
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < e.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - e[i]));
    scale = Math.max(scale, Math.abs(e[i]));
  }
  assert.ok(diff <= tolerance * scale, `${what}: max abs diff ${diff} at scale ${scale}`);
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

/**
 * The configurations products run in: wasm as it starts (with ONNX Runtime's GEMM when it loads),
 * plain wasm (XNNPACK, with the explicit transposes and per-matrix products), and cpu.
 */
interface Config {
  name: string;
  backend: BackendName;
  /** BERT_WORKBENCH_GEMM while the backend starts. */
  gemm?: string;
}
const CONFIGS: Config[] = [
  { name: 'wasm', backend: 'wasm' },
  { name: 'plain wasm', backend: 'wasm', gemm: 'wasm' },
  { name: 'cpu', backend: 'cpu' },
];

async function use(config: Config): Promise<void> {
  const before = process.env.BERT_WORKBENCH_GEMM;
  if (config.gemm) process.env.BERT_WORKBENCH_GEMM = config.gemm;
  else delete process.env.BERT_WORKBENCH_GEMM;
  try {
    await initBackend(config.backend === 'cpu' ? 'wasm' : 'cpu'); // another backend first: the next one starts afresh
    await initBackend(config.backend);
  } finally {
    if (before === undefined) delete process.env.BERT_WORKBENCH_GEMM;
    else process.env.BERT_WORKBENCH_GEMM = before;
  }
  if (config.gemm === 'wasm') assert.equal(nativeProducts(), false, 'products run in wasm itself');
}

for (const config of CONFIGS) {
  const backend = config.name;
  test(`${backend}: linear equals x·W (+ b) and has stock TF.js's gradients`, async () => {
    await use(config);
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
    await use(config);
    const cases: [number[], number[]][] = [
      [[1, 5, 6], [1, 6, 3]], // one matrix
      [[4, 5, 6], [4, 6, 7]], // 3-D
      [[2, 3, 16, 8], [2, 3, 8, 16]], // attention's probs·values shape class: (B, nh, T, T)·(B, nh, T, hd)
      [[2, 2, 9, 9], [2, 2, 9, 4]],
      [[2, 2, 64, 64], [2, 2, 64, 48]], // large enough for one product per matrix on plain wasm
    ];
    for (const [aShape, bShape] of cases) {
      const [a, b] = [random(aShape), random(bShape)];
      compareWithStock(`batchMatMul (${aShape})·(${bShape})`, [a, b], (a, b) => batchMatMul(a, b), (a, b) => tf.matMul(a, b));
      tf.dispose([a, b]);
    }
  });

  test(`${backend}: batchMatMul with transposeB equals tf.matMul(a, b, false, true) and has its gradients`, async () => {
    await use(config);
    const cases: [number[], number[]][] = [
      [[1, 4, 6], [1, 5, 6]],
      [[3, 5, 6], [3, 7, 6]],
      [[2, 3, 16, 8], [2, 3, 16, 8]], // attention scores: (B, nh, T, hd)·(B, nh, T, hd)ᵀ
      [[2, 2, 64, 40], [2, 2, 72, 40]], // one product per matrix on plain wasm
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

  test(`${backend}: matMul equals tf.matMul with every pair of transpose flags`, async () => {
    await use(config);
    const shapes: [number, number, number, number][] = [
      [1, 7, 5, 3], // one matrix
      [6, 9, 4, 5], // small matrices: wasm's own loop
      [4, 64, 48, 56], // one product per matrix on plain wasm
    ];
    for (const [count, M, K, N] of shapes) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        tf.tidy(() => {
          const a = random(ta ? [count, K, M] : [count, M, K]);
          const b = random(tb ? [count, N, K] : [count, K, N]);
          assertClose(matMul(a, b, ta, tb), tf.matMul(a, b, ta, tb), `matMul ${count}×(${M}, ${K})·(${K}, ${N}) ${+ta}${+tb}`);
          if (count === 1) {
            const [a2, b2] = [a.squeeze([0]), b.squeeze([0])];
            assertClose(matMul(a2, b2, ta, tb), tf.matMul(a2, b2, ta, tb), `matMul 2-D ${+ta}${+tb}`);
          }
        });
      }
    }
  });

  test(`${backend}: columnSums equals tf.sum over the rows`, async () => {
    await use(config);
    tf.tidy(() => {
      for (const shape of [[3, 5], [2048, 40]]) {
        const x = random(shape) as tf.Tensor2D;
        assertClose(columnSums(x), tf.sum(x, 0), `columnSums (${shape})`);
        assertClose(columnSums(tf.mul(x, 2) as tf.Tensor2D, true), tf.sum(tf.mul(x, 2), 0), `columnSums (${shape}) fresh`);
        // Shared data of another shape must not confuse wasm's cache of packed operands.
        const wide = x.reshape([shape[0] / (shape[0] % 2 ? 1 : 2), -1]) as tf.Tensor2D;
        assertClose(columnSums(wide), tf.sum(wide, 0), `columnSums (${wide.shape}) of the same data`);
      }
    });
  });

  test(`${backend}: transpose2d equals tf.transpose, strip path included`, async () => {
    await use(config);
    for (const shape of [[3, 5], [300, 301], [1024, 96], [64, 2048], [2048, 256]]) {
      tf.tidy(() => {
        const x = random(shape) as tf.Tensor2D;
        assert.deepEqual(transpose2d(x).dataSync(), tf.transpose(x).dataSync(), `transpose2d (${shape})`);
      });
    }
  });

  test(`${backend}: forward and backward passes of the ops leave no tensor behind`, async () => {
    await use(config);
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

  test(`${backend}: AdamW's update in JS equals its update with TF.js ops; clipping too`, async () => {
    await use(config);
    const names = ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.0.output.dense.bias', 'bert.encoder.layer.0.output.LayerNorm.weight'];
    const initial = names.map((_, i) => random([50 + i, 3]));
    const paramsOf = () => new Map(names.map((name, i) => [name, tf.variable(tf.clone(initial[i]))]));
    const [jsParams, opsParams] = [paramsOf(), paramsOf()];
    const js = new AdamW(jsParams, { weightDecay: 0.1 });
    const ops = new AdamW(opsParams, { weightDecay: 0.1, opsOnly: true });
    const before = tf.memory().numTensors;
    // The embedding's rows 0–19 get no gradient until the third step (untouched rows only decay).
    const rows = (step: number) => tf.tensor2d(Array.from({ length: 50 }, (_, r) => (r < 20 && step < 2 ? 0 : 1)), [50, 1]);
    for (const [step, lr] of [0, 0.01, 0.02, 0.005].entries()) {
      const grads = () => new Map(names.map((name, i) => [name, tf.tidy(() => tf.mul(i === 0 ? tf.mul(initial[0], rows(step)) : initial[i], lr + 0.5 * i - 0.3))]));
      for (const [optimizer, maxNorm] of [[js, 1], [ops, 1]] as const) {
        const { grads: clipped } = clipByGlobalNorm(grads(), maxNorm);
        optimizer.apply(clipped, lr);
        tf.dispose([...clipped.values()]);
      }
    }
    assert.equal(tf.memory().numTensors, before + 2 * 2 * names.length, 'only the moments were added');
    for (const name of names) assertClose(jsParams.get(name)!, opsParams.get(name)!, `AdamW ${name}`);
    const [jsState, opsState] = [js.state(), ops.state()];
    for (const name of names) {
      assertClose(tf.tensor(jsState.m.get(name)!), tf.tensor(opsState.m.get(name)!), `m of ${name}`);
      assertClose(tf.tensor(jsState.v.get(name)!), tf.tensor(opsState.v.get(name)!), `v of ${name}`);
    }
    assert.equal(hostData(jsParams.get(names[0])!) !== undefined, true, 'wasm and cpu data is reachable from JS');
    js.dispose();
    ops.dispose();
    tf.dispose([...initial, ...jsParams.values(), ...opsParams.values()]);
  });
}

/**
 * BERT's forward pass in plain TF.js ops (with TF.js's own gradients), dropout masks drawn for the
 * sites in the order the model draws them: the reference for the model's custom backward passes
 * (attention, LayerNorm, GELU, embedding lookup) in training mode, which golden.json (evaluation
 * mode) does not cover.
 */
function referenceLogits(config: BertConfig, params: Map<string, tf.Tensor>, ids: tf.Tensor2D, mask: tf.Tensor2D, seed: number): tf.Tensor {
  const [B, T] = ids.shape;
  const H = config.hiddenSize;
  const nh = config.numAttentionHeads;
  const hd = H / nh;
  const p = (name: string) => params.get(name)!;
  let site = 0; // every dropout counts, whatever its rate
  const drop = (x: tf.Tensor, rate: number) => {
    const where = { seed, site: site++, firstRow: 0 };
    return rate > 0 ? tf.mul(x, tf.tensor(dropoutMask(x.shape, rate, where), x.shape)) : x;
  };
  const dense = (x: tf.Tensor, name: string) => {
    const w = p(`${name}.weight`) as tf.Tensor2D;
    return tf.add(tf.matMul(x.reshape([-1, w.shape[0]]), w), p(`${name}.bias`)).reshape([...x.shape.slice(0, -1), w.shape[1]]);
  };
  const norm = (x: tf.Tensor, name: string) => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const std = tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), config.layerNormEps));
    return tf.add(tf.mul(tf.div(centered, std), p(`${name}.weight`)), p(`${name}.bias`));
  };
  const lookup = (table: tf.Tensor, index: tf.Tensor) => tf.matMul(tf.oneHot(index.reshape([-1]) as tf.Tensor1D, table.shape[0]).toFloat(), table);
  const words = lookup(p('bert.embeddings.word_embeddings.weight'), ids).reshape([B, T, H]);
  const positions = lookup(p('bert.embeddings.position_embeddings.weight'), tf.range(0, T, 1, 'int32'));
  const types = lookup(p('bert.embeddings.token_type_embeddings.weight'), tf.zeros([B, T], 'int32')).reshape([B, T, H]);
  let h = drop(norm(tf.add(tf.add(words, types), positions), 'bert.embeddings.LayerNorm'), config.hiddenDropoutProb);
  const maskAdd = tf.mul(tf.sub(1, mask.toFloat()), -3.4028234663852886e38).reshape([B, 1, 1, T]);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const name = `bert.encoder.layer.${l}`;
    const heads = (part: string) => dense(h, `${name}.attention.self.${part}`).reshape([B, T, nh, hd]).transpose([0, 2, 1, 3]);
    const scores = tf.add(tf.div(tf.matMul(heads('query'), heads('key'), false, true), Math.sqrt(hd)), maskAdd);
    const probs = drop(tf.softmax(scores), config.attentionProbsDropoutProb);
    const context = tf.matMul(probs, heads('value')).transpose([0, 2, 1, 3]).reshape([B, T, H]);
    const attended = norm(tf.add(drop(dense(context, `${name}.attention.output.dense`), config.hiddenDropoutProb), h), `${name}.attention.output.LayerNorm`);
    const x = dense(attended, `${name}.intermediate.dense`);
    const intermediate = tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    h = norm(tf.add(drop(dense(intermediate, `${name}.output.dense`), config.hiddenDropoutProb), attended), `${name}.output.LayerNorm`);
  }
  const pooled = tf.tanh(dense(h.slice([0, 0, 0], [B, 1, H]).reshape([B, H]), 'bert.pooler.dense'));
  return dense(drop(pooled, config.classifierDropout), 'classifier');
}

for (const config of CONFIGS) {
  test(`${config.name}: the model's forward pass and gradients in training mode (dropout on) equal plain TF.js ops'`, async () => {
    await use(config);
    const shapes = [
      { layers: 2, hidden: 32, heads: 2, intermediate: 64, batch: 3, seq: 20 }, // tiny-bert's
      { layers: 1, hidden: 48, heads: 4, intermediate: 64, batch: 2, seq: 12 }, // √(head size) not a power of two
      { layers: 1, hidden: 64, heads: 2, intermediate: 96, batch: 2, seq: 64 }, // one product per matrix on plain wasm
    ];
    for (const s of shapes) {
      const bert = bertConfigFromJson(
        { model_type: 'bert', vocab_size: 100, hidden_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads, intermediate_size: s.intermediate, num_labels: 3 },
        '(test)',
      );
      const params = new Map(parameterSpecs(bert).map((spec) => [spec.name, tf.variable(tf.mul(random(spec.shape), spec.name.includes('LayerNorm.weight') ? 0.1 : 0.05).add(spec.name.includes('LayerNorm.weight') ? 1 : 0))]));
      const [B, T] = [s.batch, s.seq];
      const ids = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i * 37 + 1) % 100), [B, T], 'int32');
      const mask = tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < T - 3 * Math.floor(i / T) ? 1 : 0)), [B, T], 'int32'); // padded rows
      const labels = tf.tensor1d(Array.from({ length: B }, (_, i) => i % 3), 'int32');
      const model = new BertForSequenceClassification(bert, params);
      const before = tf.memory().numTensors;
      const ours = tf.variableGrads(() => crossEntropyLoss(model.forward({ inputIds: ids, attentionMask: mask, tokenTypeIds: tf.zerosLike(ids) }, { training: true, dropoutSeed: 11 }).logits, labels));
      tf.tidy(() => {
        const reference = tf.variableGrads(() => crossEntropyLoss(referenceLogits(bert, params, ids, mask, 11) as tf.Tensor2D, labels));
        assertClose(ours.value, reference.value, `loss L${s.layers}/H${s.hidden}/A${s.heads}, ${B}×${T}`);
        const byId = new Map([...params].map(([name, v]) => [v.name, name]));
        for (const [id, g] of Object.entries(ours.grads)) assertClose(g, reference.grads[id], `gradient of ${byId.get(id)}`, 1e-4);
        tf.dispose([reference.value, ...Object.values(reference.grads)]);
      });
      tf.dispose([ours.value, ...Object.values(ours.grads)]);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaks from a training-mode forward and backward pass');
      tf.dispose([...params.values(), ids, mask, labels]);
    }
  });

  test(`${config.name}: gelu's gradient is the exact derivative of x·Φ(x) to float32 precision`, async () => {
    await use(config);
    tf.tidy(() => {
      const xs = tf.linspace(-12, 12, 4801);
      const erf = (z: number) => {
        if (Math.abs(z) > 4) return Math.sign(z); // 1 − erf(4) < 2e-8; the series loses precision beyond
        let [sum, term] = [0, z];
        for (let n = 0; n < 200 && (n < 5 || Math.abs(term) > 1e-17); n++, term *= (-z * z) / n) sum += term / (2 * n + 1);
        return (2 / Math.sqrt(Math.PI)) * sum;
      };
      const exact = Array.from(xs.dataSync(), (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI));
      assertClose(tf.grad((x: tf.Tensor) => tf.sum(gelu(x)))(xs), tf.tensor1d(exact), 'gelu′', 1e-6);
    });
  });
}

test('wasm: Identity (clone, and what ops keep for their backward pass) shares the data instead of copying it', async () => {
  await use(CONFIGS[0]);
  tf.tidy(() => {
    linear(tf.ones([2, 2]), tf.ones([2, 2])); // the first product installs it
    const x = tf.ones([256, 256]);
    const buffers = tf.memory().numDataBuffers;
    const copy = tf.clone(x);
    assert.equal(tf.memory().numDataBuffers, buffers, 'no new data buffer');
    assert.deepEqual(copy.dataSync(), x.dataSync());
    x.dispose();
    assert.equal(copy.sum().dataSync()[0], 65536, 'the shared data outlives the first tensor');
  });
});

test('batchMatMul rejects operands whose batch or inner dimensions differ', async () => {
  await use(CONFIGS[2]);
  tf.tidy(() => {
    assert.throws(() => batchMatMul(tf.zeros([2, 3, 4]), tf.zeros([3, 4, 5])), /cannot multiply/);
    assert.throws(() => batchMatMul(tf.zeros([2, 3, 4]), tf.zeros([2, 5, 4])), /cannot multiply/);
    assert.throws(() => linear(tf.zeros([2, 3]), tf.zeros([4, 5])), /cannot multiply/);
  });
});
