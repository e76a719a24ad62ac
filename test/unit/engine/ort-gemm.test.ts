import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';
import { installOrtGemm, ortGemmInstalled, uninstallOrtGemm } from '../../../src/server/engine/ops/ort-gemm';
import {
  bindingShapeProblem,
  loadOrtBinding,
  ortTensor,
  OrtSession,
  PINNED_ORT_VERSION,
} from '../../../src/server/engine/ops/ort-binding';
import { encodeSingleNodeModel } from '../../../src/server/engine/ops/ort-onnx';

const requireHere = createRequire(__filename);
const ortPackage = dirname(requireHere.resolve('onnxruntime-node/package.json'));

/** Counts the ORT runs, to tell which cases the provider served and which went to stock kernels. */
let ortRuns = 0;
const run = OrtSession.prototype.run;
OrtSession.prototype.run = function (this: OrtSession, ...args: Parameters<typeof run>) {
  ortRuns++;
  return run.apply(this, args);
};

before(async () => {
  delete process.env.BERT_WORKBENCH_GEMM;
  const report = await initBackend('wasm');
  assert.equal(report.gemm, 'onnxruntime', `the provider did not install: ${report.gemmNote}`);
});
after(() => uninstallOrtGemm());

let seed = 1;
const random = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

interface Evaluation {
  shape: number[];
  value: Float32Array;
  grads: Float32Array[];
}

/** The value of f and, unless `noGrads`, the gradients of Σ(f·dy) with respect to every input. */
function evaluate(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor | undefined): Evaluation {
  return tf.tidy(() => {
    const y = f(...inputs);
    const grads = dy ? tf.grads((...xs: tf.Tensor[]) => f(...xs))(inputs, dy) : [];
    return { shape: y.shape, value: y.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

/** The same computation with the stock wasm kernels, for reference. */
function withStockKernels<T>(f: () => T): T {
  uninstallOrtGemm();
  try {
    return f();
  } finally {
    assert.ok(installOrtGemm().installed);
  }
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: size`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  assert.ok(diff <= 2e-6 * scale, `${what}: max abs diff ${diff} at scale ${scale}`);
}

interface CompareOptions {
  /** Compare gradients too (default true). */
  grads?: boolean;
  /** Whether ORT is expected to run (default true). */
  ort?: boolean;
  /** What the stock kernels compute for reference (default f itself). */
  reference?: (...xs: tf.Tensor[]) => tf.Tensor;
}

/** Forward values and gradients with the provider equal the stock kernels'; ORT ran (or did not). */
function compareWithStock(name: string, inputs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor, options: CompareOptions = {}) {
  const dy = options.grads === false ? undefined : tf.tidy(() => random(f(...inputs).shape));
  const expected = withStockKernels(() => evaluate(options.reference ?? f, inputs, dy));
  const runsBefore = ortRuns;
  const actual = evaluate(f, inputs, dy);
  assert.equal(ortRuns > runsBefore, options.ort ?? true, `${name}: ORT ${options.ort === false ? 'ran' : 'did not run'}`);
  assert.deepEqual(actual.shape, expected.shape, `${name}: shape`);
  assertClose(actual.value, expected.value, `${name} forward`);
  actual.grads.forEach((g, i) => assertClose(g, expected.grads[i], `${name} gradient ${i}`));
  dy?.dispose();
}

/** Operand shapes for op(a)·op(b) = (…, M, N) with inner size K. */
function operands(batchA: number[], batchB: number[], [M, K, N]: number[], transposeA: boolean, transposeB: boolean): tf.Tensor[] {
  return [random([...batchA, ...(transposeA ? [K, M] : [M, K])]), random([...batchB, ...(transposeB ? [N, K] : [K, N])])];
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

const BATCHES: [string, number[], number[]][] = [
  ['2-D', [], []],
  ['batched 3-D', [4], [4]],
  ['batched 4-D', [2, 3], [2, 3]],
  ['b broadcast (rank 2)', [2, 3], []],
  ['b broadcast (batch 1)', [3], [1]],
  ['a broadcast', [1], [3]],
  ['both broadcast', [2, 1], [1, 3]],
  ['rank 3 by rank 4', [3], [2, 3]],
  ['batch of one', [1], [1]],
];

test('BatchMatMul: every shape class and transpose, forward and gradients, equals the stock kernel', () => {
  const numTensors = tf.memory().numTensors;
  for (const [batchName, batchA, batchB] of BATCHES) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      const name = `${batchName}, transposeA ${transposeA}, transposeB ${transposeB}`;
      const inputs = operands(batchA, batchB, [6, 5, 7], transposeA, transposeB);
      const product = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, transposeA, transposeB);
      // Stock wasm broadcasts one side only: the reference broadcasts explicitly. And TF.js's gradient
      // of BatchMatMul does not sum over broadcast axes: there are no gradients to compare then.
      const broadcast = batchA.join() !== batchB.join();
      const reference = (a: tf.Tensor, b: tf.Tensor) => product(...broadcastBatch(a, b));
      compareWithStock(name, inputs, product, { grads: !broadcast, reference });
      tf.dispose(inputs);
    }
  }
  assert.equal(tf.memory().numTensors, numTensors);
});

test('BatchMatMul: the shapes of a BERT step (large, attention) equal the stock kernel', () => {
  const cases: [string, number[], number[], number[], boolean, boolean][] = [
    ['dense x·W', [], [], [512, 64, 96], false, false],
    ['weight gradient xᵀ·dY', [], [], [96, 512, 64], true, false],
    ['input gradient dY·Wᵀ', [], [], [512, 96, 64], false, true],
    ['attention scores q·kᵀ', [4, 2], [4, 2], [32, 16, 32], false, true],
    ['attention context p·v', [4, 2], [4, 2], [32, 32, 16], false, false],
  ];
  for (const [name, batchA, batchB, dims, transposeA, transposeB] of cases) {
    const inputs = operands(batchA, batchB, dims, transposeA, transposeB);
    compareWithStock(name, inputs, (a, b) => tf.matMul(a, b, transposeA, transposeB));
    tf.dispose(inputs);
  }
});

test('_FusedMatMul: bias and every activation, 2-D and batched, equal the stock kernel', () => {
  const numTensors = tf.memory().numTensors;
  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
  for (const [batchName, batchA, batchB] of [BATCHES[0], BATCHES[1], BATCHES[3]]) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      for (const activation of activations) {
        for (const biasSize of [7, 1, 0]) {
          const name = `${batchName}, transposeA ${transposeA}, transposeB ${transposeB}, ${activation}, bias [${biasSize}]`;
          const [a, b] = operands(batchA, batchB, [6, 5, 7], transposeA, transposeB);
          const bias = biasSize > 0 ? random([biasSize]) : undefined;
          const alpha = activation === 'prelu' ? random([7]) : undefined;
          const fused = (a: tf.Tensor, b: tf.Tensor, bias?: tf.Tensor) =>
            tf.fused.matMul({ a, b, transposeA, transposeB, bias, activation, preluActivationWeights: alpha, leakyreluAlpha: 0.3 });
          // The same unfused: stock wasm's fused kernel reads a bias of size 1 as if it had N values.
          const unfused = (a: tf.Tensor, b: tf.Tensor, bias?: tf.Tensor) => {
            const product = tf.matMul(a, b, transposeA, transposeB);
            return activate(bias ? tf.add(product, bias) : product, activation, alpha);
          };
          // TF.js has gradients of fused products for linear and relu only, and not when broadcasting.
          const grads = (activation === 'linear' || activation === 'relu') && batchA.join() === batchB.join();
          compareWithStock(name, bias ? [a, b, bias] : [a, b], fused, { grads, reference: unfused });
          tf.dispose([a, b, bias, alpha].filter((t): t is tf.Tensor => t !== undefined));
        }
      }
    }
  }
  assert.equal(tf.memory().numTensors, numTensors);
});

/** a and b with their batch axes broadcast to the product's. */
function broadcastBatch(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const rank = Math.max(a.rank, b.rank);
  const batchOf = (t: tf.Tensor) => [...new Array<number>(rank - t.rank).fill(1), ...t.shape.slice(0, -2)];
  const batch = batchOf(a).map((d, i) => Math.max(d, batchOf(b)[i]));
  return [tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]), tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)])];
}

function activate(x: tf.Tensor, activation: string, alpha?: tf.Tensor): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'elu':
      return tf.elu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'leakyrelu':
      return tf.leakyRelu(x, 0.3);
    case 'prelu':
      return tf.prelu(x, alpha!);
    default:
      return x;
  }
}

test('Sum over leading axes runs on ORT; other sums stay on the stock kernel', () => {
  const x2 = random([33, 7]);
  const x4 = random([2, 3, 4, 5]);
  compareWithStock('Σ axis 0', [x2], (x) => tf.sum(x, 0));
  compareWithStock('Σ axes 0, 1', [x4], (x) => tf.sum(x, [1, 0]));
  compareWithStock('Σ axes 0..2, keepDims', [x4], (x) => tf.sum(x, [0, 1, 2], true));
  compareWithStock('Σ axis -4', [x4], (x) => tf.sum(x, -4));
  compareWithStock('Σ axis 1', [x4], (x) => tf.sum(x, 1), { ort: false });
  compareWithStock('Σ everything', [x4], (x) => tf.sum(x), { ort: false });
  const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
  const runsBefore = ortRuns;
  assert.deepEqual(Array.from(tf.sum(ints, 0).dataSync()), [9, 12]);
  assert.equal(ortRuns, runsBefore, 'an int32 sum went to ORT');
  tf.dispose([x2, x4, ints]);
});

test('empty products and shape errors are left to the stock kernels', () => {
  const empty = tf.tidy(() => tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4])));
  assert.deepEqual(empty.shape, [3, 4]);
  empty.dispose();
  const runsBefore = ortRuns;
  assert.throws(() => tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 2]))), /inner shapes|must match/);
  assert.throws(() => tf.tidy(() => tf.matMul(tf.ones([2, 2, 3]), tf.ones([3, 3, 2]))), /broadcast|Operands could not/i);
  assert.equal(ortRuns, runsBefore);
});

test('no tensor leak and no native memory growth over 2,000 rounds of products', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const [x, w, bias] = [random([128, 64]), random([64, 96]), random([96])];
  const [q, k] = [random([4, 2, 32, 16]), random([4, 2, 32, 16])];
  const round = () =>
    tf.tidy(() => {
      const y = tf.fused.matMul({ a: x, b: w, bias, activation: 'relu' });
      tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.fused.matMul({ a: x, b: w, bias }))([x, w], y);
      tf.matMul(q, k, false, true);
      tf.matMul(q, k, true, false);
      tf.sum(y, 0);
    });
  for (let i = 0; i < 300; i++) round(); // sessions, ORT's arena and V8's heap reach their working size
  gc();
  const numTensors = tf.memory().numTensors;
  const rssBefore = process.memoryUsage().rss;
  const runsBefore = ortRuns;
  for (let i = 0; i < 2000; i++) round();
  gc();
  const growthMB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.equal(tf.memory().numTensors, numTensors);
  assert.ok(ortRuns - runsBefore >= 2000 * 6, `only ${ortRuns - runsBefore} ORT runs`);
  // RSS moves by up to ~25 MB either way as malloc keeps or returns freed pages; keeping what one
  // run allocates (its output alone is 12–48 kB) would add hundreds of MB here.
  assert.ok(growthMB < 40, `RSS grew by ${growthMB.toFixed(1)} MB over ${ortRuns - runsBefore} ORT runs`);
  tf.dispose([x, w, bias, q, k]);
});

test(`the pinned onnxruntime-node ${PINNED_ORT_VERSION} and the shape of its synchronous binding`, () => {
  const { version } = JSON.parse(readFileSync(join(ortPackage, 'package.json'), 'utf8'));
  assert.equal(
    version,
    PINNED_ORT_VERSION,
    `onnxruntime-node is now ${version}: check its native binding (dist/binding.d.ts, src/inference_session_wrap.cc) ` +
      'against ops/ort-binding.ts, then update PINNED_ORT_VERSION and the package.json pin',
  );
  // What ops/ort-binding.ts relies on, as the package declares it.
  const declared = readFileSync(join(ortPackage, 'dist/binding.d.ts'), 'utf8');
  for (const signature of [
    'loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: SessionOptions): void;',
    'run(feeds: FeedsType, fetches: FetchesType, options: RunOptions): ReturnType;',
    'dispose(): void;',
    'initOrtOnce: (logLevel: number, tensorConstructor: TensorConstructor, isMainThread: boolean) => void;',
  ]) {
    assert.ok(declared.includes(signature), `onnxruntime-node's binding no longer declares ${signature}`);
  }
  assert.match(readFileSync(join(ortPackage, 'dist/binding.js'), 'utf8'), /\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node/);
  const { binding, version: loadedVersion } = loadOrtBinding();
  assert.equal(loadedVersion, PINNED_ORT_VERSION);
  assert.equal(bindingShapeProblem(binding), undefined);
  assert.equal(bindingShapeProblem({ ...binding, initOrtOnce: undefined }), 'has no initOrtOnce()');
  class Changed {
    loadModel() {}
  }
  assert.equal(bindingShapeProblem({ initOrtOnce() {}, InferenceSession: Changed }), 'InferenceSession has no run, dispose()');
});

test('the binding runs synchronously, reads inputs and writes a preallocated output in place (wasm memory)', () => {
  const { binding } = loadOrtBinding();
  const model = encodeSingleNodeModel({
    opType: 'Gemm',
    opset: 13,
    attributes: [
      { name: 'transB', value: 1 },
      { name: 'alpha', value: 0.5 },
    ],
    inputs: [
      { name: 'A', rank: 2 },
      { name: 'B', rank: 2 },
    ],
    outputs: [{ name: 'Y', rank: 2 }],
  });
  const session = new OrtSession(binding, model, 1);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const a = new Float32Array(memory.buffer, 0, 6);
  const b = new Float32Array(memory.buffer, 64, 6);
  const y = new Float32Array(memory.buffer, 128, 4);
  a.set([1, 2, 3, 4, 5, 6]); // (2, 3)
  b.set([1, 0, 0, 0, 1, 1]); // (2, 3), used transposed
  session.run({ A: ortTensor(a, [2, 3]), B: ortTensor(b, [2, 3]) }, 'Y', ortTensor(y, [2, 2]));
  assert.deepEqual(Array.from(y), [0.5, 2.5, 2, 5.5]); // 0.5·A·Bᵀ
  assert.throws(() => session.run({ A: ortTensor(a, [2, 3]), B: ortTensor(b, [3, 2]) }, 'Y', ortTensor(y, [2, 2])));
  session.dispose();
});

test('BERT_WORKBENCH_GEMM=wasm keeps the stock kernels and says so; unset, the provider is back', async () => {
  try {
    process.env.BERT_WORKBENCH_GEMM = 'wasm';
    await initBackend('cpu');
    const report = await initBackend('wasm');
    assert.equal(report.gemm, 'wasm');
    assert.match(report.gemmNote ?? '', /BERT_WORKBENCH_GEMM=wasm/);
    assert.equal(ortGemmInstalled(), false);
    const runsBefore = ortRuns;
    tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])).dataSync());
    assert.equal(ortRuns, runsBefore);

    process.env.BERT_WORKBENCH_GEMM = 'fast';
    await initBackend('cpu');
    await assert.rejects(initBackend('wasm'), (e: any) => e.kind === 'bad-argument' && /BERT_WORKBENCH_GEMM/.test(e.message));
  } finally {
    delete process.env.BERT_WORKBENCH_GEMM;
  }
  await initBackend('cpu');
  const report = await initBackend('wasm');
  assert.equal(report.gemm, 'onnxruntime');
  assert.match(report.gemmNote ?? '', new RegExp(`onnxruntime-node ${PINNED_ORT_VERSION.replace(/\./g, '\\.')}, 1 thread`));
});

test('when the native binding cannot load, the engine stays on pure wasm and says why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ort-fallback-'));
  // Makes loading any onnxruntime binding fail, as a missing or foreign binary would.
  writeFileSync(
    join(dir, 'no-ort.cjs'),
    `const Module = require('node:module');
const load = Module._extensions['.node'];
Module._extensions['.node'] = (module, file) => {
  if (file.endsWith('onnxruntime_binding.node')) throw new Error('simulated: wrong ELF class');
  return load(module, file);
};`,
  );
  const backend = resolve(__dirname, '../../../src/server/engine/backend.ts');
  const tfModule = resolve(__dirname, '../../../src/server/engine/tf.ts');
  writeFileSync(
    join(dir, 'child.ts'),
    `import * as tf from ${JSON.stringify(tfModule)};
import { initBackend } from ${JSON.stringify(backend)};
initBackend('wasm').then((report) => {
  const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2]), true, false);
  console.log(JSON.stringify({ report, product: Array.from(product.dataSync()) }));
});`,
  );
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--require', join(dir, 'no-ort.cjs'), join(dir, 'child.ts')], {
    encoding: 'utf8',
    env: { ...process.env, BERT_WORKBENCH_GEMM: '' },
  });
  assert.equal(child.status, 0, child.stderr);
  const { report, product } = JSON.parse(child.stdout.trim().split('\n').pop()!);
  assert.equal(report.name, 'wasm');
  assert.equal(report.gemm, 'wasm');
  assert.match(report.gemmNote, /simulated: wrong ELF class/);
  assert.deepEqual(product, [1, 3, 2, 4]);
});
