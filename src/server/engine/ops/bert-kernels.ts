/**
 * BERT's element-wise work as host kernels (host.ts): one pass each way where TF.js would run a
 * chain of ops. On wasm the loops are WebAssembly SIMD (simd.ts); elsewhere (the cpu backend, odd
 * widths) the same loops in JS, in double precision. Each is tested against the stock TF.js
 * composition it replaces (test/unit/engine/bert-kernels.test.ts):
 *
 * - `embeddingsHost`: word + token type + position lookup, sum, LayerNorm, dropout; its gradient
 *   scatters into the three tables (the word table's gradient is dense, as PyTorch's is);
 * - `addNormHost`: dropout(x) + residual, then LayerNorm (BertSelfOutput / BertOutput);
 * - `geluHost`: x·Φ(x) and its derivative Φ(x) + x·φ(x) (tables in math.ts);
 * - `attentionProbsHost` / `attentionScoresGradHost`: the masked softmax of the attention scores
 *   with dropout, and the softmax's backward pass (for the inside of the attention's custom gradient).
 *
 * Dropout masks are float32 tensors of 0 and 1/(1 − rate) from `hostDropoutMask` (dropout.ts), the
 * same masks `dropoutMask` gives for the same site.
 */
import * as tf from '../tf';
import { f32, heapConstant, hostTensor, i32 } from './host';
import { hostDropoutMask, type DropoutSite } from './dropout';
import { EXP_POW, EXP_SCALE, EXP_STEP, GELU_GRAD_TABLE, GELU_RANGE, GELU_STEPS, GELU_TABLE } from './math';
import { simdKernels, type SimdKernels } from './simd';

/** A dropout to apply inside a kernel: the rate and where its mask is drawn; undefined for none. */
export interface KernelDropout {
  rate: number;
  where: DropoutSite;
}

type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

/** Scratch rows for the JS loops, reused between calls (JS is one thread). */
let scratch = new Float64Array(1024);
function scratchRow(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

/** The dropout mask of a (rows, rowSize) tensor, or undefined without dropout. */
function maskTensor(rows: number, rowSize: number, dropout: KernelDropout | undefined): tf.Tensor | undefined {
  if (!dropout || dropout.rate === 0) return undefined;
  return hostDropoutMask(rows, rowSize, dropout.rate, dropout.where);
}

/** The SIMD kernels when they can take rows of `width` (a multiple of 4). */
function simdFor(width: number): SimdKernels | undefined {
  return width % 4 === 0 ? simdKernels() : undefined;
}

const ptr = (t: tf.Tensor | undefined): number => (t ? f32(t).byteOffset : 0);

// ---------------------------------------------------------------------------------------------
// LayerNorm

interface NormBuffers {
  y: tf.Tensor;
  xHat: tf.Tensor; // (N, H)
  rstd: tf.Tensor; // (N)
}

/**
 * LayerNorm rows of s = a (·m) (+ r): y = (x̂·γ + β) (·om), x̂ and 1/σ kept for the backward pass.
 * `a` may be `xHat` itself (the sum already written there).
 */
function layerNormRows(
  a: tf.Tensor,
  m: tf.Tensor | undefined,
  r: tf.Tensor | undefined,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  om: tf.Tensor | undefined,
  eps: number,
  N: number,
  H: number,
  out: NormBuffers,
): void {
  const simd = simdFor(H);
  if (simd) {
    const kernel = simd.layerNorm({ mask: !!m, residual: !!r, outMask: !!om });
    kernel(ptr(a), ptr(m), ptr(r), ptr(gamma), ptr(beta), ptr(out.y), ptr(out.xHat), ptr(out.rstd), N, H, eps, ptr(om));
    return;
  }
  const [av, gv, bv, yv, xh, rs] = [a, gamma, beta, out.y, out.xHat, out.rstd].map(f32);
  const [mv, rv, omv] = [m, r, om].map((t) => t && f32(t));
  const s = scratchRow(H);
  for (let row = 0; row < N; row++) {
    const o = row * H;
    for (let j = 0; j < H; j++) s[j] = av[o + j] * (mv ? mv[o + j] : 1) + (rv ? rv[o + j] : 0);
    let sum = 0;
    for (let j = 0; j < H; j++) sum += s[j];
    const mean = sum / H;
    let squares = 0;
    for (let j = 0; j < H; j++) {
      const d = s[j] - mean;
      s[j] = d;
      squares += d * d;
    }
    const rstd = 1 / Math.sqrt(squares / H + eps); // biased variance, as torch.nn.LayerNorm
    rs[row] = rstd;
    for (let j = 0; j < H; j++) {
      const x = s[j] * rstd;
      xh[o + j] = x;
      yv[o + j] = (x * gv[j] + bv[j]) * (omv ? omv[o + j] : 1);
    }
  }
}

interface NormGrads {
  ds: tf.Tensor; // (N, H)
  dx?: tf.Tensor; // ds·m
  dGamma: tf.Tensor;
  dBeta: tf.Tensor;
}

/**
 * LayerNorm's backward pass: with dz = dy (·om) and ĝ = dz·γ, ds = (ĝ − mean ĝ − x̂·mean(ĝx̂))/σ,
 * dγ = Σ dz·x̂, dβ = Σ dz; dx = ds·m when asked.
 */
function layerNormRowsGrad(
  dy: tf.Tensor,
  om: tf.Tensor | undefined,
  xHat: tf.Tensor,
  rstd: tf.Tensor,
  gamma: tf.Tensor,
  m: tf.Tensor | undefined,
  withDx: boolean,
  N: number,
  H: number,
): NormGrads {
  const grads: NormGrads = {
    ds: hostTensor([N, H]),
    dx: withDx ? hostTensor([N, H]) : undefined,
    dGamma: hostTensor([H]),
    dBeta: hostTensor([H]),
  };
  const simd = simdFor(H);
  if (simd) {
    f32(grads.dGamma).fill(0);
    f32(grads.dBeta).fill(0);
    const kernel = simd.layerNormGrad({ outMask: !!om, dx: withDx });
    kernel(ptr(dy), ptr(om), ptr(xHat), ptr(rstd), ptr(gamma), ptr(grads.dGamma), ptr(grads.dBeta), ptr(grads.ds), ptr(m), ptr(grads.dx), N, H);
    return grads;
  }
  const [dyv, xh, rs, gv, dsv, dg32, db32] = [dy, xHat, rstd, gamma, grads.ds, grads.dGamma, grads.dBeta].map(f32);
  const [omv, mv, dxv] = [om, m, grads.dx].map((t) => t && f32(t));
  const acc = new Float64Array(2 * H);
  const [dGamma, dBeta] = [acc.subarray(0, H), acc.subarray(H)];
  for (let row = 0; row < N; row++) {
    const o = row * H;
    let sumG = 0;
    let sumGx = 0;
    for (let j = 0; j < H; j++) {
      const dz = dyv[o + j] * (omv ? omv[o + j] : 1);
      const x = xh[o + j];
      const g = dz * gv[j];
      sumG += g;
      sumGx += g * x;
      dGamma[j] += dz * x;
      dBeta[j] += dz;
    }
    const [meanG, meanGx, r] = [sumG / H, sumGx / H, rs[row]];
    for (let j = 0; j < H; j++) {
      const dz = dyv[o + j] * (omv ? omv[o + j] : 1);
      const d = (dz * gv[j] - meanG - xh[o + j] * meanGx) * r;
      dsv[o + j] = d;
      if (dxv) dxv[o + j] = d * (mv ? mv[o + j] : 1);
    }
  }
  dg32.set(dGamma);
  db32.set(dBeta);
  return grads;
}

function normBuffers(shape: number[], N: number, H: number): NormBuffers {
  return { y: hostTensor(shape), xHat: hostTensor([N, H]), rstd: hostTensor([N]) };
}

// ---------------------------------------------------------------------------------------------
// embeddings

export interface EmbeddingInputs {
  inputIds: tf.Tensor2D; // (B, T) int32
  tokenTypeIds: tf.Tensor2D; // (B, T) int32
}

/**
 * LayerNorm(words[ids] + tokenTypes[typeIds] + positions[0..T)), then dropout: (B, T, H). The
 * gradient goes to the three tables and to γ, β (not to the ids).
 */
export function embeddingsHost(
  inputs: EmbeddingInputs,
  wordTable: tf.Tensor,
  typeTable: tf.Tensor,
  positionTable: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  dropout: KernelDropout | undefined,
): tf.Tensor3D {
  const [B, T] = inputs.inputIds.shape;
  const [V, H] = wordTable.shape;
  const [typeRows] = typeTable.shape;
  const [positionRows] = positionTable.shape;
  if (T > positionRows) throw new Error(`embeddings: ${T} tokens, but only ${positionRows} positions`);
  const ids = Int32Array.from(inputs.inputIds.dataSync());
  const typeIds = Int32Array.from(inputs.tokenTypeIds.dataSync());
  checkIds(ids, V, 'token id', 'the vocabulary');
  checkIds(typeIds, typeRows, 'token type id', 'the token types');
  const N = B * T;

  const simd = simdFor(H);

  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [words, types, positions, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // For the SIMD kernels, the ids on the heap (in range: checked above), kept for the backward pass.
    const idTensors = simd ? [tf.tensor1d(ids, 'int32'), tf.tensor1d(typeIds, 'int32')] : [];
    const mask = maskTensor(B, T * H, dropout);
    const out = normBuffers([B, T, H], N, H);
    // The sums, into x̂ (normalised there in place).
    if (simd) {
      const [idp, typep] = idTensors.map((t) => i32(t).byteOffset);
      simd.embeddingSum(idp, typep, ptr(words), ptr(types), ptr(positions), ptr(out.xHat), N, T, H);
    } else {
      const [w, ty, p, s] = [words, types, positions, out.xHat].map(f32);
      for (let r = 0; r < N; r++) {
        const [wo, to, po, so] = [ids[r] * H, typeIds[r] * H, (r % T) * H, r * H];
        for (let j = 0; j < H; j++) s[so + j] = w[wo + j] + ty[to + j] + p[po + j];
      }
    }
    layerNormRows(out.xHat, undefined, undefined, g, b, mask, eps, N, H, out);
    save([out.xHat, out.rstd, g, ...idTensors, ...(mask ? [mask] : [])]);
    return {
      value: out.y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, rstd, savedGamma] = saved;
        const savedIds = saved.slice(3, 3 + idTensors.length);
        const savedMask = saved[3 + idTensors.length];
        const { ds, dGamma, dBeta } = layerNormRowsGrad(dy, savedMask, xHat, rstd, savedGamma, undefined, false, N, H);
        const dWords = hostTensor([V, H]);
        const dTypes = hostTensor([typeRows, H]);
        const dPositions = hostTensor([positionRows, H]);
        const [dw, dt, dp, dsv] = [dWords, dTypes, dPositions, ds].map(f32);
        dw.fill(0);
        dt.fill(0);
        dp.fill(0);
        if (simd) {
          const [idp, typep] = savedIds.map((t) => i32(t).byteOffset);
          simd.embeddingGrad(ptr(ds), idp, typep, ptr(dWords), ptr(dTypes), ptr(dPositions), N, T, H);
        } else {
          for (let r = 0; r < N; r++) {
            const [wo, to, po, so] = [ids[r] * H, typeIds[r] * H, (r % T) * H, r * H];
            for (let j = 0; j < H; j++) {
              const d = dsv[so + j];
              dw[wo + j] += d;
              dt[to + j] += d;
              dp[po + j] += d;
            }
          }
        }
        ds.dispose();
        return [dWords, dTypes, dPositions, dGamma, dBeta];
      },
    };
  });
  return op(wordTable, typeTable, positionTable, gamma, beta) as tf.Tensor3D;
}

function checkIds(ids: Int32Array, rows: number, what: string, table: string): void {
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < rows)) throw new Error(`embeddings: ${what} ${ids[i]} is outside ${table} (${rows} rows)`);
  }
}

// ---------------------------------------------------------------------------------------------
// dropout, residual, LayerNorm

/**
 * LayerNorm(dropout(x) + residual) over the last axis, x and residual of the same shape (…, H),
 * batch first. The gradient goes to x, residual, γ and β.
 */
export function addNormHost(x: tf.Tensor, residual: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, dropout: KernelDropout | undefined): tf.Tensor {
  if (!tf.util.arraysEqual(x.shape, residual.shape)) throw new Error(`addNorm: shapes (${x.shape}) and (${residual.shape}) differ`);
  const H = x.shape[x.rank - 1];
  const N = x.size / H;
  const B = x.shape[0];

  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, res, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const mask = maskTensor(B, x.size / B, dropout);
    const out = normBuffers(x.shape, N, H);
    layerNormRows(input, mask, res, g, b, undefined, eps, N, H, out);
    save(mask ? [out.xHat, out.rstd, g, mask] : [out.xHat, out.rstd, g]);
    return {
      value: out.y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, rstd, savedGamma, savedMask] = saved;
        const { ds, dx, dGamma, dBeta } = layerNormRowsGrad(dy, undefined, xHat, rstd, savedGamma, savedMask, true, N, H);
        return [dx!.reshape(x.shape), ds.reshape(x.shape), dGamma, dBeta];
      },
    };
  });
  return op(x, residual, gamma, beta);
}

// ---------------------------------------------------------------------------------------------
// GELU

/** The exact GELU x·Φ(x); its gradient Φ(x) + x·φ(x), from the tables of math.ts. */
export function geluHost(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: CustomGradArgs) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const y = hostTensor(input.shape);
    geluPass(input, undefined, y, false);
    save([input]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => {
        const dx = hostTensor(saved.shape);
        geluPass(saved, dy, dx, true);
        return dx;
      },
    };
  });
  return op(x);
}

/** The float32 copies of the GELU tables on the wasm heap, for the SIMD kernels. */
const geluTableOnHeap = (grad: boolean) => heapConstant(grad ? 'gelu-grad' : 'gelu', () => Float32Array.from(grad ? GELU_GRAD_TABLE : GELU_TABLE));

/** out = GELU(x), or dy·GELU′(x): SIMD for the multiple of 4, JS for the rest. */
function geluPass(x: tf.Tensor, dy: tf.Tensor | undefined, out: tf.Tensor, grad: boolean): void {
  const n = x.size;
  let from = 0;
  const simd = simdKernels();
  const table = simd && geluTableOnHeap(grad); // (allocated before the views are taken)
  if (simd && table !== undefined) {
    from = n - (n % 4);
    if (grad) simd.geluGrad(ptr(x), ptr(dy), ptr(out), from / 4, table);
    else simd.gelu(ptr(x), ptr(out), from / 4, table);
  }
  geluTable(f32(x), f32(out), grad ? GELU_GRAD_TABLE : GELU_TABLE, dy && f32(dy), from);
}

/**
 * out[from..] = f(x) (times dy when given), f the cubic pieces of `table` about k/32 (math.ts);
 * outside (−8, 8), f(x) = x, or 1 for the derivative table, above, and 0 below. NaN stays NaN.
 * (Imported constants are copied to locals: a bundler may leave each use an accessor call.)
 */
function geluTable(x: Float32Array, out: Float32Array, table: Float64Array, dy: Float32Array | undefined, from: number): void {
  const [range, steps] = [GELU_RANGE, GELU_STEPS];
  const middle = range * steps;
  const derivative = table === GELU_GRAD_TABLE;
  const n = x.length;
  for (let i = from; i < n; i++) {
    const v = x[i];
    let f: number;
    if (v > -range && v < range) {
      const j = (v * steps + middle + 0.5) | 0; // the nearest centre, (j − 256)/32
      const t = v * steps - (j - middle);
      const o = j << 2;
      f = table[o] + t * (table[o + 1] + t * (table[o + 2] + t * table[o + 3]));
    } else {
      f = v >= range ? (derivative ? 1 : v) : v * 0;
    }
    out[i] = dy ? dy[i] * f : f;
  }
}

// ---------------------------------------------------------------------------------------------
// attention probabilities

/**
 * softmax(scores + mask) over the last axis of scores (B, nh, T, T), keys whose `keyValid[b·T + j]`
 * is 0 getting exactly 0 (as with Hugging Face's float32-min mask; a row with no valid key is uniform,
 * as there too), then dropout with batch rows of nh·T·T. Returns [probs, dropped] (dropped is probs
 * without dropout). No gradient: for the forward pass of the attention's custom gradient.
 */
export function attentionProbsHost(scores: tf.Tensor, keyValid: Uint8Array, dropout: KernelDropout | undefined): tf.Tensor[] {
  const [B, nh, T, T2] = scores.shape;
  if (scores.rank !== 4 || T !== T2 || keyValid.length !== B * T) throw new Error(`attention: scores (${scores.shape}) and a key mask of ${keyValid.length}`);
  const rowSize = nh * T * T;
  const mask = maskTensor(B, rowSize, dropout);
  const probs = hostTensor(scores.shape);
  const dropped = mask ? hostTensor(scores.shape) : undefined;
  let everyRowHasKeys = true;
  for (let b = 0; b < B && everyRowHasKeys; b++) everyRowHasKeys = keyValid.subarray(b * T, (b + 1) * T).includes(1);
  const simd = everyRowHasKeys ? simdFor(T) : undefined;
  if (simd) {
    const add = hostTensor([B, T]);
    const addv = f32(add);
    for (let i = 0; i < B * T; i++) addv[i] = keyValid[i] ? 0 : -Infinity;
    simd.softmax(ptr(scores), ptr(add), ptr(probs), ptr(dropped), ptr(mask), B, nh * T, T);
    add.dispose();
  } else {
    softmaxRows(f32(scores), keyValid, f32(probs), dropped && f32(dropped), mask && f32(mask), B, nh, T);
  }
  mask?.dispose(); // the backward pass needs only probs and dropped
  return dropped ? [probs, dropped] : [probs];
}

/** `attentionProbsHost`'s loops in JS (any T, rows without keys). */
function softmaxRows(sv: Float32Array, keyValid: Uint8Array, pv: Float32Array, dv: Float32Array | undefined, mv: Float32Array | undefined, B: number, nh: number, T: number): void {
  const rowSize = nh * T * T;
  const e = scratchRow(T);
  const keys = new Int32Array(T);
  const [pow, expScale, expStep] = [EXP_POW, EXP_SCALE, EXP_STEP];
  const maxW = pow.length - 1;
  for (let b = 0; b < B; b++) {
    let count = 0;
    for (let j = 0; j < T; j++) if (keyValid[b * T + j]) keys[count++] = j;
    for (let row = 0; row < nh * T; row++) {
      const o = b * rowSize + row * T;
      e.fill(count === 0 ? 1 : 0, 0, T);
      let sum = count === 0 ? T : 0;
      let max = -Infinity;
      for (let k = 0; k < count; k++) if (sv[o + keys[k]] > max) max = sv[o + keys[k]];
      for (let k = 0; k < count; k++) {
        const j = keys[k];
        const w = (max - sv[o + j]) * expScale; // ≥ 0, in units of ln2/64 (NaN propagates)
        let x = w === w ? 0 : NaN;
        if (w < maxW) {
          const q = (w + 0.5) | 0;
          const r = (q - w) * expStep;
          x = pow[q] * (1 + r * (1 + r * (0.5 + r * (1 / 6))));
        }
        e[j] = x;
        sum += x;
      }
      const inv = 1 / sum;
      for (let j = 0; j < T; j++) {
        const p = e[j] * inv;
        pv[o + j] = p;
        if (dv && mv) dv[o + j] = p * mv[o + j];
      }
    }
  }
}

/**
 * The scores' gradient from the dropped probabilities' (softmax's backward through the dropout):
 * dScores = t − p·Σⱼ t, t = dDropped ⊙ dropped (= p ⊙ dp with dp = dDropped ⊙ mask).
 */
export function attentionScoresGradHost(dDropped: tf.Tensor, dropped: tf.Tensor, probs: tf.Tensor): tf.Tensor {
  const T = probs.shape[probs.rank - 1];
  const rows = probs.size / T;
  const out = hostTensor(probs.shape);
  const simd = simdFor(T);
  if (simd) {
    simd.softmaxGrad(ptr(dDropped), ptr(dropped), ptr(probs), ptr(out), rows, T);
    return out;
  }
  const [dd, dr, pv, ov] = [dDropped, dropped, probs, out].map(f32);
  for (let r = 0; r < rows; r++) {
    const o = r * T;
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const t = dd[o + j] * dr[o + j];
      ov[o + j] = t;
      sum += t;
    }
    for (let j = 0; j < T; j++) ov[o + j] -= pv[o + j] * sum;
  }
  return out;
}

