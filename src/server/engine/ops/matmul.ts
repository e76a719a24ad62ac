/**
 * Matrix products whose forward and backward passes are made only of plain 2-D products: one
 * matrix times one matrix, neither transposed. That is the only form the wasm backend hands to
 * XNNPACK (21–38 GFLOP/s); `transposeA`, `transposeB` and batched products fall to a naive loop
 * (1–3 GFLOP/s), and TF.js's own gradient of `matMul` uses exactly those forms (ENGINE-NOTES.md).
 * Here transposes are explicit ops and a batched product is one 2-D product per matrix.
 *
 * On the native TensorFlow backend every form is fast, so there these fall back to `tf.matMul`.
 */
import * as tf from '../tf';

/** x·W (+ b): x (N, in), W (in, out), b (out) → (N, out). */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new Error(`linear: cannot multiply (${x.shape}) by (${w.shape})`);
  }
  if (isNativeBackend()) return (bias ? tf.add(tf.matMul(x, w), bias) : tf.matMul(x, w)) as tf.Tensor2D;
  return (bias ? linearWithBias(x, w, bias) : linearNoBias(x, w)) as tf.Tensor2D;
}

/**
 * Batched product over equal leading axes: a (…, M, K) · b (…, K, N) → (…, M, N); with
 * `transposeB`, b is (…, N, K) and the product is a·bᵀ (attention scores: q·kᵀ).
 */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
  checkBatchShapes(a, b, transposeB);
  if (isNativeBackend()) return tf.matMul(a, b, false, transposeB);
  return (transposeB ? batchMatMulBt : batchMatMulPlain)(a, b);
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
 * dX = dY·Wᵀ, dW = xᵀ·dY and, with a bias, db = Σₙ dY[n, :], for y = x·W (+ b).
 *
 * What a product costs on wasm beyond its arithmetic is packing its right operand (about 5 ns a
 * float, every call, as these operands are new each step), so the (N, ·) operand that becomes the
 * right one is the narrower of x and dY; transposing the wider one costs less.
 */
function linearGrads(dy: tf.Tensor2D, x: tf.Tensor2D, w: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  const [inDim, outDim] = w.shape;
  const dx = mm(dy, transpose2d(w)); // (N, out)·(out, in)
  const grads = inDim < outDim ? weightGradsRightX(dy, x, withBias) : weightGradsRightDy(dy, x, withBias);
  return [dx, ...grads];
}

/** dW = (dYᵀ·x)ᵀ and db = dYᵀ·1: x (N, in) and 1 (N, 1) are the packed operands. */
function weightGradsRightX(dy: tf.Tensor2D, x: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  const [N, outDim] = dy.shape;
  const dyT = transpose2d(dy); // (out, N)
  const dw = transpose2d(mm(dyT, x)); // ((out, N)·(N, in))ᵀ
  return withBias ? [dw, mm(dyT, tf.ones([N, 1])).reshape([outDim])] : [dw];
}

/** dW = xᵀ·dY and db = 1ᵀ·dY: dY (N, out) is the packed operand, packed once for both. */
function weightGradsRightDy(dy: tf.Tensor2D, x: tf.Tensor2D, withBias: boolean): tf.Tensor[] {
  const [N, outDim] = dy.shape;
  // wasm caches a product's packed right operand under its data id and trusts the shape it was
  // first given; dY may share its data with a tensor of another shape, so it gets its own copy.
  const dyOwn = tf.clone(dy);
  const dw = mm(transpose2d(x), dyOwn); // (in, N)·(N, out)
  return withBias ? [dw, mm(tf.ones([1, N]), dyOwn).reshape([outDim])] : [dw]; // (1, N)·(N, out)
}

// ---------------------------------------------------------------------------------------------
// batchMatMul

/** c = a·b: a (…, M, K), b (…, K, N). */
const batchMatMulPlain = tf.customGrad((...args: CustomGradArgs) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: perMatrixProduct(a, b),
    gradFunc: (dc: tf.Tensor, [savedA, savedB]: tf.Tensor[]) =>
      tf.tidy(() => [
        perMatrixProduct(dc, swapLastAxes(savedB)), // dA = dC·bᵀ: (…, M, N)·(…, N, K)
        perMatrixProduct(swapLastAxes(savedA), dc), // dB = aᵀ·dC: (…, K, M)·(…, M, N)
      ]),
  };
});

/** c = a·bᵀ: a (…, M, K), b (…, N, K). */
const batchMatMulBt = tf.customGrad((...args: CustomGradArgs) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: perMatrixProduct(a, swapLastAxes(b)), // (…, M, K)·(…, K, N)
    gradFunc: (dc: tf.Tensor, [savedA, savedB]: tf.Tensor[]) =>
      tf.tidy(() => [
        perMatrixProduct(dc, savedB), // dA = dC·b: (…, M, N)·(…, N, K)
        perMatrixProduct(swapLastAxes(dc), savedA), // dB = dCᵀ·a: (…, N, M)·(…, M, K)
      ]),
  };
});

/** x (…, M, K) · y (…, K, N) → (…, M, N), as one plain 2-D product per matrix. */
function perMatrixProduct(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const outShape = [...x.shape.slice(0, -1), y.shape[y.rank - 1]];
  return tf.tidy(() => {
    const xs = matrices(x);
    const ys = matrices(y);
    const products = xs.map((xi, i) => mm(xi, ys[i])); // (M, K)·(K, N)
    return (products.length === 1 ? products[0] : tf.concat(products)).reshape(outShape);
  });
}

/**
 * The matrices of a (…, R, C) tensor, in order. Read once and cut on the JS side: wasm's Slice
 * (and so unstack and split) copies the whole source tensor on every call, and its Gather is
 * element by element; both are 20–100× slower than this for attention-sized tensors.
 */
function matrices(x: tf.Tensor): tf.Tensor2D[] {
  const [R, C] = x.shape.slice(-2);
  const count = x.size / (R * C);
  if (count === 1) return [tf.clone(x).reshape([R, C])]; // a copy: see linearGrads on shared data
  const data = x.dataSync() as Float32Array;
  return Array.from({ length: count }, (_, i) => tf.tensor2d(data.subarray(i * R * C, (i + 1) * R * C), [R, C]));
}

/** (…, R, C) → (…, C, R). */
function swapLastAxes(x: tf.Tensor): tf.Tensor {
  const perm = [...x.shape.keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

function checkBatchShapes(a: tf.Tensor, b: tf.Tensor, transposeB: boolean): void {
  const inner = (t: tf.Tensor, last: boolean) => t.shape[t.rank - (last ? 1 : 2)];
  const sameBatch = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (a.rank < 2 || !sameBatch || inner(a, true) !== inner(b, transposeB)) {
    throw new Error(`batchMatMul: cannot multiply (${a.shape}) by (${b.shape})${transposeB ? 'ᵀ' : ''}`);
  }
}

function isNativeBackend(): boolean {
  return tf.getBackend() === 'tensorflow';
}
