/**
 * Dropout whose masks do not depend on how a batch is split between workers.
 *
 * Every mask element is a function of four numbers only: the forward pass's seed, the dropout site
 * (the how-manieth dropout of the forward pass), the element's global batch row (`firstRow` + the
 * row within this tensor) and its position within that row. A shard of rows [a, b) of a batch, padded
 * to the same sequence length and run with `firstRow = a`, so draws exactly the masks the whole batch
 * draws for those rows, and the shards' gradients add up to the whole batch's.
 *
 * The mask (a mulberry32 stream per site and row, one 32-bit draw per two elements) is made in JS, or
 * in WebAssembly SIMD on wasm (simd.ts, the same values), and applied with one multiply; its gradient
 * is the same multiply (the mask is a constant). For BERT L4/H256 at 16 × 128 its 14 dropouts take
 * ~16 ms on wasm where `tf.dropout`'s took ~100 ms. The host kernels (bert-kernels.ts) apply the same
 * masks inside their own passes.
 */
import * as tf from '../tf';
import { deriveSeed } from '../random';
import { hostKernels, hostTensor, f32, i32 } from './host';
import { simdKernels } from './simd';

/** Where in the batch and in the forward pass a dropout mask is drawn. */
export interface DropoutSite {
  /** The forward pass's dropout seed. */
  seed: number;
  /** The dropout's index in the forward pass (0 for the first dropout the model applies). */
  site: number;
  /** The global batch index of the tensor's first row. */
  firstRow: number;
}

function checkRate(rate: number): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: the rate ${rate} is not in [0, 1)`);
}

/**
 * The dropout mask of batch rows [0, rows) of a tensor whose rows hold `rowSize` elements, into `out`
 * (rows·rowSize): 0 with probability `rate`, else 1/(1 − rate). Element j of row b depends only on
 * (seed, site, firstRow + b, j): each row is a mulberry32 stream seeded from (seed, site, global row)
 * (random.ts's generator, inlined); each 32-bit output decides two consecutive elements, one per
 * 16-bit half, kept when the half is ≥ round(rate·2¹⁶) (so the drop probability is `rate` to within
 * 2⁻¹⁷).
 */
export function fillDropoutMask(out: Float32Array, rows: number, rowSize: number, rate: number, where: DropoutSite): Float32Array {
  checkRate(rate);
  if (out.length < rows * rowSize) throw new Error(`dropout: a mask of ${out.length} for ${rows} rows of ${rowSize}`);
  const keep = keepScale(rate);
  const threshold = Math.round(rate * 65536);
  const pairs = rowSize >> 1;
  for (let b = 0; b < rows; b++) {
    let state = deriveSeed(where.seed, where.site, where.firstRow + b) | 0;
    let i = b * rowSize;
    for (let k = 0; k < pairs; k++, i += 2) {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      t ^= t >>> 14;
      // keep·[half ≥ threshold], without a branch (a random branch mispredicts: 1.5× slower)
      out[i] = keep * ((threshold - 1 - (t & 0xffff)) >>> 31);
      out[i + 1] = keep * ((threshold - 1 - (t >>> 16)) >>> 31);
    }
    if (rowSize & 1) {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      t ^= t >>> 14;
      out[i] = keep * ((threshold - 1 - (t & 0xffff)) >>> 31);
    }
  }
  return out;
}

/** The factor a kept element is multiplied by. */
export function keepScale(rate: number): number {
  return 1 / (1 - rate);
}

/**
 * The dropout mask for a tensor of `shape` whose first axis is the batch (`fillDropoutMask`).
 */
export function dropoutMask(shape: number[], rate: number, where: DropoutSite, out?: Float32Array): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const rows = shape.length === 0 ? 1 : shape[0];
  const rowSize = rows === 0 ? 0 : size / rows;
  const mask = out ?? new Float32Array(size);
  if (mask.length !== size) throw new Error(`dropout: a mask of ${mask.length} elements for shape (${shape})`);
  return fillDropoutMask(mask, rows, rowSize, rate, where);
}

/** The mask as a tensor; where the host kernels run, written straight into the backend's memory. */
export function dropoutMaskTensor(shape: number[], rate: number, where: DropoutSite): tf.Tensor {
  if (hostKernels()) {
    const rows = shape.length === 0 ? 1 : shape[0];
    const flat = hostDropoutMask(rows, rows === 0 ? 0 : tf.util.sizeFromShape(shape) / rows, rate, where);
    const mask = flat.reshape(shape);
    flat.dispose();
    return mask;
  }
  return tf.tensor(dropoutMask(shape, rate, where), shape);
}

/**
 * The mask of (rows, rowSize) as a new flat tensor on the host backends (`fillDropoutMask`'s
 * values): on wasm in SIMD when rows hold a multiple of 8 elements.
 */
export function hostDropoutMask(rows: number, rowSize: number, rate: number, where: DropoutSite): tf.Tensor {
  checkRate(rate);
  const simd = rowSize % 8 === 0 ? simdKernels() : undefined;
  if (!simd) {
    const mask = hostTensor([rows * rowSize]);
    fillDropoutMask(f32(mask), rows, rowSize, rate, where);
    return mask;
  }
  const seeds = hostTensor([rows], 'int32');
  const seedValues = i32(seeds);
  for (let b = 0; b < rows; b++) seedValues[b] = deriveSeed(where.seed, where.site, where.firstRow + b) | 0;
  const mask = hostTensor([rows * rowSize]); // (the seeds' view is not used after this allocation)
  simd.dropoutMask(i32(seeds).byteOffset, f32(mask).byteOffset, rows, rowSize, Math.round(rate * 65536), keepScale(rate));
  seeds.dispose();
  return mask;
}

/**
 * x · mask, the mask drawn for `where` (see `dropoutMask`); its gradient is dy · mask. `x`'s first
 * axis must be the batch.
 */
export function seededDropout(x: tf.Tensor, rate: number, where: DropoutSite): tf.Tensor {
  if (rate === 0) return x;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const mask = dropoutMaskTensor(input.shape, rate, where);
    save([mask]);
    return {
      value: tf.mul(input, mask),
      gradFunc: (dy: tf.Tensor, [savedMask]: tf.Tensor[]) => tf.mul(dy, savedMask),
    };
  });
  return op(x);
}
