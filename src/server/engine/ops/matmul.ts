/**
 * Matrix products, as fast as the backend allows.
 *
 * Where every form of product is fast — the native TensorFlow backend, or wasm with ONNX Runtime's
 * GEMM serving its product kernels (ort-gemm.ts) — these are `tf.matMul` with transpose flags and
 * TF.js's own gradients.
 *
 * On plain wasm only one form is fast: one matrix times one matrix, neither transposed, which goes to
 * XNNPACK (21–38 GFLOP/s); `transposeA`, `transposeB` and batched products fall to a naive loop
 * (1–3 GFLOP/s), and TF.js's own gradient of `matMul` uses exactly those forms (ENGINE-NOTES.md).
 * There, transposes are explicit ops and a batched product is one 2-D product per matrix, except for
 * small matrices, for which the loop costs less than a call to XNNPACK.
 *
 * Also for wasm: its `Identity` kernel copies the data, and TF.js calls it for every tensor an op keeps
 * for its backward pass; `shareIdentityOnWasm` makes it share the data as the other backends do. And
 * `hostData`: a tensor's data as a JS view, for the element-wise loops that run faster in JS.
 */
import * as tf from '../tf';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ortGemmInstalled } from './ort-gemm';

/** x·W (+ b): x (N, in), W (in, out), b (out) → (N, out). */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new Error(`linear: cannot multiply (${x.shape}) by (${w.shape})`);
  }
  shareIdentityOnWasm();
  return (bias ? linearWithBias(x, w, bias) : linearNoBias(x, w)) as tf.Tensor2D;
}

/**
 * Batched product over equal leading axes: a (…, M, K) · b (…, K, N) → (…, M, N); with
 * `transposeB`, b is (…, N, K) and the product is a·bᵀ (attention scores: q·kᵀ).
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
  checkBatchShapes(a, b, false, transposeB);
  shareIdentityOnWasm();
  if (nativeProducts()) return tf.matMul(a, b, false, transposeB);
  return (transposeB ? batchMatMulBt : batchMatMulPlain)(a, b);
}

/**
 * op(a)·op(b) over equal leading axes, op being a transpose of the last two axes when asked, in the
 * fastest form the backend has. It has no gradient of its own: it is for the insides of custom
 * gradients (on plain wasm it may read the operands back to JS and build new tensors). Off wasm it is
 * `tf.matMul`.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  checkBatchShapes(a, b, transposeA, transposeB);
  shareIdentityOnWasm();
  if (nativeProducts() || tf.getBackend() !== 'wasm') return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() => {
    const [M, K] = matrixShape(a, transposeA);
    const N = matrixShape(b, transposeB)[1];
    const outShape = [...a.shape.slice(0, -2), M, N];
    const count = tf.util.sizeFromShape(a.shape.slice(0, -2));
    if (count === 1) {
      const a2 = a.reshape(a.shape.slice(-2)) as tf.Tensor2D;
      const b2 = b.reshape(b.shape.slice(-2)) as tf.Tensor2D;
      return mm(transposeA ? transpose2d(a2) : a2, transposeB ? transpose2d(b2) : ownData(b2)).reshape(outShape);
    }
    // One call per matrix costs about as much as 50k multiply-adds on the loop.
    if (M * K * N < PER_MATRIX_MIN_WORK) return tf.matMul(a, b, transposeA, transposeB);
    return perMatrixProduct(a, b, transposeA, transposeB, outShape);
  });
}

/** Σ over the rows of x (R, C) → (C): a bias gradient. With `fresh`, x's data is known to be its own. */
export function columnSums(x: tf.Tensor2D, fresh = false): tf.Tensor1D {
  shareIdentityOnWasm();
  if (nativeProducts() || tf.getBackend() !== 'wasm') return tf.sum(x, 0);
  // wasm's Sum over a leading axis transposes first (slow); 1ᵀ·x is one fast product.
  const [R, C] = x.shape;
  return tf.tidy(() => mm(tf.ones([1, R]), fresh ? x : ownData(x)).reshape([C]));
}

/**
 * A 2-D transpose. wasm's Transpose writes a large matrix column by column (a cache miss per
 * element: 24 ms for 2048×1024); moving 8-float strips first and then transposing each
 * (R, 8) strip is 2–4× faster for every matrix size a BERT step has.
 */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [R, C] = x.shape;
  const strip = 8;
  if (C % strip !== 0 || x.size < 65536) return tf.transpose(x); // small ones stay in cache anyway
  return tf.tidy(() =>
    x
      .reshape([R, C / strip, strip])
      .transpose([1, 0, 2]) // (C/8, R, 8)
      .transpose([0, 2, 1]) // (C/8, 8, R)
      .reshape([C, R]),
  );
}

/** Whether every form of product is fast here: the native backend, or wasm with ONNX Runtime's GEMM. */
export function nativeProducts(): boolean {
  const backend = tf.getBackend();
  return backend === 'tensorflow' || (backend === 'wasm' && ortGemmInstalled());
}

/**
 * The float32 data of t where the backend keeps it: a view of the wasm heap, or the cpu backend's
 * own array; undefined on other backends. For element-wise loops that run faster in JS than as a
 * chain of TF.js ops (one pass instead of one per op, no intermediates). Only write into tensors
 * whose data nothing else shares. On wasm the view is lost when the heap grows: allocate first.
 */
export function hostData(t: tf.Tensor): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const backend = tf.getBackend();
  if (backend === 'wasm') return (tf.backend() as BackendWasm).typedArrayFromHeap(t) as Float32Array;
  if (backend === 'cpu') return (tf.backend() as MathBackendCPU).data.get(t.dataId)?.values as Float32Array | undefined;
  return undefined;
}

/** hostData(t) when no other tensor shares t's data (so that it may be written in place), else undefined. */
export function ownHostData(t: tf.Tensor): Float32Array | undefined {
  return tf.backend().refCount(t.dataId) === 1 ? hostData(t) : undefined;
}

// ---------------------------------------------------------------------------------------------
// wasm's Identity

let identityShared = false;

/**
 * Makes wasm's `Identity` share its input's data (reference-counted, as the cpu and native backends
 * do) instead of copying it. TF.js runs `Identity` (through `clone`) on every tensor an op saves for
 * its backward pass, so with the copying kernel a training step holds a second copy of most of its
 * activations (about 0.7 GB of the 1.9 GB peak of BERT L4/H256 at 16 × 128) and spends ~0.1 s a step
 * copying. Sharing is safe: no kernel writes into its inputs, Reshape already shares data this way, and
 * the engine's own writes in place (AdamW's moments) first check that nothing shares the data
 * (`ownHostData`). Installed once, the first time a product runs on wasm.
 */
export function shareIdentityOnWasm(): void {
  if (identityShared || tf.getBackend() !== 'wasm') return;
  const stock = tf.getKernel(tf.Identity, 'wasm');
  if (!stock) return;
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({
    ...stock,
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      (backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  identityShared = true;
}

/**
 * x with data of its own. wasm caches a product's packed right operand under the operand's data id and
 * trusts the shape it was first given; a tensor that shares its data with one of another shape (a
 * reshape, an add's gradient) must not be a right operand, so it gets copied first.
 */
function ownData(x: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === 'wasm' ? tf.mul(x, 1) : x;
}

/** The one form wasm runs fast: (M, K)·(K, N), neither operand transposed, no batch. */
function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

// ---------------------------------------------------------------------------------------------
// linear

/** TF.js passes the inputs then the save function, all through one rest parameter. */
type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

const linearNoBias = tf.customGrad((...args: CustomGradArgs) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: mm(x, w),
    gradFunc: (dy: tf.Tensor, [savedX, savedW]: tf.Tensor[]) =>
      tf.tidy(() => linearGrads(dy as tf.Tensor2D, savedX as tf.Tensor2D, savedW as tf.Tensor2D, false)),
  };
});

const linearWithBias = tf.customGrad((...args: CustomGradArgs) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }), // the bias is added inside the same XNNPACK call
    gradFunc: (dy: tf.Tensor, [savedX, savedW]: tf.Tensor[]) =>
      tf.tidy(() => linearGrads(dy as tf.Tensor2D, savedX as tf.Tensor2D, savedW as tf.Tensor2D, true)),
  };
});

/**
 * [dX, dW] (and db with a bias) of y = x·W (+ b): dX = dY·Wᵀ, dW = xᵀ·dY, db = Σₙ dY[n, :]. No
 * gradient of its own: for the insides of custom gradients. (TF.js's own gradient of a fused product
 * would also keep y until the end of the backward pass.)
 *
 * Where products are native, these are products with transpose flags.
 * What a product costs on wasm beyond its arithmetic is packing its right operand (about 5 ns a
 * float, every call, as these operands are new each step), so the (N, ·) operand that becomes the
 * right one is the narrower of x and dY; transposing the wider one costs less.
 */
export function linearGrads(dy: tf.Tensor2D, x: tf.Tensor2D, w: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  shareIdentityOnWasm();
  if (nativeProducts() || tf.getBackend() !== 'wasm') {
    const grads = [tf.matMul(dy, w, false, true), tf.matMul(x, dy, true, false)];
    return withBias ? [...grads, tf.sum(dy, 0)] : grads;
  }
  const [inDim, outDim] = w.shape;
  const dx = mm(dy, transpose2d(w)); // (N, out)·(out, in)
  const grads = inDim < outDim ? weightGradsRightX(dy, x, withBias) : weightGradsRightDy(dy, x, withBias);
  return [dx, ...grads];
}

/** dW = (dYᵀ·x)ᵀ and db = dYᵀ·1: x (N, in) and 1 (N, 1) are the packed operands. */
function weightGradsRightX(dy: tf.Tensor2D, x: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  const [N, outDim] = dy.shape;
  const dyT = transpose2d(dy); // (out, N)
  const dw = transpose2d(mm(dyT, ownData(x))); // ((out, N)·(N, in))ᵀ
  return withBias ? [dw, mm(dyT, tf.ones([N, 1])).reshape([outDim])] : [dw];
}

/** dW = xᵀ·dY and db = 1ᵀ·dY: dY (N, out) is the packed operand, packed once for both. */
function weightGradsRightDy(dy: tf.Tensor2D, x: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  const [N, outDim] = dy.shape;
  const dyOwn = ownData(dy);
  const dw = mm(transpose2d(x), dyOwn); // (in, N)·(N, out)
  return withBias ? [dw, mm(tf.ones([1, N]), dyOwn).reshape([outDim])] : [dw]; // (1, N)·(N, out)
}

// ---------------------------------------------------------------------------------------------
// batched products on plain wasm

/** Below this many multiply-adds per matrix, wasm's own batched loop beats a call per matrix. */
const PER_MATRIX_MIN_WORK = 48 * 1024;

/** c = a·b: a (…, M, K), b (…, K, N). */
const batchMatMulPlain = tf.customGrad((...args: CustomGradArgs) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: matMul(a, b),
    gradFunc: (dc: tf.Tensor, [savedA, savedB]: tf.Tensor[]) =>
      tf.tidy(() => [
        matMul(dc, savedB, false, true), // dA = dC·bᵀ
        matMul(savedA, dc, true, false), // dB = aᵀ·dC
      ]),
  };
});

/** c = a·bᵀ: a (…, M, K), b (…, N, K). */
const batchMatMulBt = tf.customGrad((...args: CustomGradArgs) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: matMul(a, b, false, true),
    gradFunc: (dc: tf.Tensor, [savedA, savedB]: tf.Tensor[]) =>
      tf.tidy(() => [
        matMul(dc, savedB), // dA = dC·b
        matMul(dc, savedA, true, false), // dB = dCᵀ·a
      ]),
  };
});

/**
 * op(a)·op(b) as one plain 2-D product per matrix. The operands are transposed whole (one op each),
 * then read once and cut on the JS side: wasm's Slice (and so unstack and split) copies the whole
 * source tensor on every call, its Gather goes element by element, and its Concat copies three times;
 * all are far slower than this for attention-sized tensors.
 */
function perMatrixProduct(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean, outShape: number[]): tf.Tensor {
  const as = matrices(transposeA ? swapLastAxes(a) : a);
  const bs = matrices(transposeB ? swapLastAxes(b) : b);
  const [M, N] = outShape.slice(-2);
  const out = tf.fill(outShape, 0);
  as.forEach((ai, i) => {
    const product = mm(ai, bs[i]); // (M, K)·(K, N)
    hostData(out)!.set(hostData(product)!, i * M * N); // heap to heap (views taken after the product's allocation)
    tf.dispose([product, ai, bs[i]]);
  });
  return out;
}

/** The matrices of a (…, R, C) tensor, in order, as new tensors. */
function matrices(x: tf.Tensor): tf.Tensor2D[] {
  const [R, C] = x.shape.slice(-2);
  const size = R * C;
  const data = x.dataSync() as Float32Array;
  return Array.from({ length: x.size / size }, (_, i) => tf.tensor2d(data.subarray(i * size, (i + 1) * size), [R, C]));
}

/** (…, R, C) → (…, C, R). */
function swapLastAxes(x: tf.Tensor): tf.Tensor {
  const perm = [...x.shape.keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/** The (rows, columns) of op(x)'s matrices. */
function matrixShape(x: tf.Tensor, transpose: boolean): [number, number] {
  const [R, C] = x.shape.slice(-2);
  return transpose ? [C, R] : [R, C];
}

function checkBatchShapes(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): void {
  const sameBatch = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (a.rank < 2 || !sameBatch || matrixShape(a, transposeA)[1] !== matrixShape(b, transposeB)[0]) {
    const op = (t: boolean) => (t ? 'ᵀ' : '');
    throw new Error(`batchMatMul: cannot multiply (${a.shape})${op(transposeA)} by (${b.shape})${op(transposeB)}`);
  }
}
