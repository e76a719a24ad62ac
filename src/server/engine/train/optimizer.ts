/**
 * AdamW (Loshchilov & Hutter), computed as PyTorch's `torch.optim.AdamW` does, which is what the
 * Hugging Face Trainer uses: decoupled weight decay applied to the weight before the Adam update,
 * bias-corrected moments, eps added to the corrected root of the second moment.
 * Weight decay follows `decaysWeight`: matrices and embeddings decay, biases and LayerNorm do not.
 */
import * as tf from '../tf';
import { decaysWeight } from '../bert';
import { hostData, ownHostData } from '../ops/matmul';
import { hostTensor } from '../ops/host';
import { simdKernels } from '../ops/simd';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Update with TF.js ops even where the data is reachable from JS (for tests of both paths). */
  opsOnly?: boolean;
}

interface Update {
  param: tf.Variable;
  grad: tf.Tensor;
  /** The gradient is used multiplied by this (a clipping coefficient). */
  gradScale: number;
  m: tf.Variable;
  v: tf.Variable;
  decay: number;
  stepSize: number;
  k1: number;
  k2: number;
}

/** The optimizer's state, for checkpoints: the step count and both moments of every parameter. */
export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  /** Updates taken so far. */
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Update with TF.js ops even where the data is reachable from JS (for tests of both paths). */
  readonly opsOnly: boolean;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Map<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.opsOnly = options.opsOnly ?? false;
  }

  /**
   * One update of every parameter that has a gradient, at learning rate `lr`:
   *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,
   *   p ← p·(1 − lr·λ) − m / (√v·k1 + k2),  k1 = 1/(√(1 − β2ᵗ)·s), k2 = eps/s, s = lr/(1 − β1ᵗ)
   * which is PyTorch's p − s·m/(√v/√(1 − β2ᵗ) + eps) with the scalars folded in. With `gradScale`,
   * every g is used multiplied by it (gradient clipping without a scaled copy of the gradients).
   *
   * Where the data is reachable from JS (wasm, cpu) this is one loop over each parameter, updating the
   * moments in place and writing the new parameter into a new tensor (a parameter's data must change
   * identity: wasm caches packed weights under it); on wasm the loop is WebAssembly SIMD (ops/simd.ts).
   * Elsewhere it is 11–12 element-wise ops, each intermediate freed as soon as it is used.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    this.step += 1;
    const t = this.step;
    const stepSize = lr / (1 - this.beta1 ** t);
    const k1 = 1 / (Math.sqrt(1 - this.beta2 ** t) * stepSize);
    const k2 = this.eps / stepSize;
    for (const [name, grad] of grads) {
      const param = this.params.get(name);
      if (!param) throw new Error(`AdamW: no parameter ${name}`);
      const m = this.moment(this.m, name, param);
      const v = this.moment(this.v, name, param);
      const decay = decaysWeight(name) ? 1 - lr * this.weightDecay : 1;
      const update = { param, grad, gradScale, m, v, decay, stepSize, k1, k2 };
      if (!this.opsOnly && this.updateInJs(update)) continue;
      this.updateWithOps(update);
    }
  }

  /**
   * Clips the gradients to global norm `maxNorm` and applies them (`clipByGlobalNorm` then `apply`,
   * without the clipped copies: the clipping coefficient scales the gradients inside the update).
   * Returns the norm before clipping. The gradients are left as they were (the caller frees them).
   */
  clipAndApply(grads: Map<string, tf.Tensor>, lr: number, maxNorm: number): { norm: number } {
    const norm = globalNorm(grads);
    this.apply(grads, lr, clipCoefficient(norm, maxNorm));
    return { norm };
  }

  private updateInJs({ param, grad, gradScale, m, v, decay, stepSize, k1, k2 }: Update): boolean {
    if (!hostData(param) || !hostData(grad) || !ownHostData(m) || !ownHostData(v)) return false;
    const next = stepSize === 0 ? undefined : hostTensor(param.shape); // allocated before the views are taken
    const [p, g, mv, vv] = [param, grad, m, v].map(hostData) as Float32Array[];
    const out = next && hostData(next)!;
    const { beta1: b1, beta2: b2 } = this;
    const [c1, c2] = [1 - b1, 1 - b2];
    const n = p.length;
    if (!out) {
      // lr 0 (the first warmup step): the moments move, the parameter does not.
      for (let i = 0; i < n; i++) {
        const gi = g[i] * gradScale;
        mv[i] = b1 * mv[i] + c1 * gi;
        vv[i] = b2 * vv[i] + c2 * gi * gi;
      }
      return true;
    }
    const simd = simdKernels();
    let from = 0;
    if (simd) {
      // Four lanes at a time on the wasm heap; the last n mod 4 elements in the loop below.
      from = n - (n % 4);
      simd.adamw(p.byteOffset, g.byteOffset, mv.byteOffset, vv.byteOffset, out.byteOffset, from / 4, b1, c1, b2, c2, decay, k1, k2, gradScale);
    }
    for (let i = from; i < n; i++) {
      const gi = g[i] * gradScale;
      if (gi === 0 && mv[i] === 0 && vv[i] === 0) {
        // What the update below gives exactly, cheaper: an embedding row no batch has used yet
        // (most of a vocabulary, early in a run) only decays.
        out[i] = p[i] * decay;
        continue;
      }
      const mi = b1 * mv[i] + c1 * gi;
      const vi = b2 * vv[i] + c2 * gi * gi;
      mv[i] = mi;
      vv[i] = vi;
      out[i] = p[i] * decay - mi / (Math.sqrt(vi) * k1 + k2);
    }
    replace(param, next!);
    return true;
  }

  private updateWithOps({ param, grad: unscaled, gradScale, m, v, decay, stepSize, k1, k2 }: Update): void {
    // A tidy for the scalars the ops make; the large intermediates are freed as soon as they are used.
    tf.tidy(() => {
      const grad = gradScale === 1 ? unscaled : tf.mul(unscaled, gradScale);
      replace(m, combine(tf.mul(grad, 1 - this.beta1), tf.mul(m, this.beta1), tf.add));
      replace(v, combine(chain(tf.square(grad), (x) => tf.mul(x, 1 - this.beta2)), tf.mul(v, this.beta2), tf.add));
      if (stepSize === 0) return; // lr 0 (the first warmup step): the moments move, the parameter does not
      const update = chain(tf.sqrt(v), (x) => tf.mul(x, k1), (x) => tf.add(x, k2), (x) => tf.div(m, x));
      const decayed = decay === 1 ? tf.clone(param) : tf.mul(param, decay); // (combine frees it)
      replace(param, combine(decayed, update, tf.sub));
    });
  }

  state(): AdamWState {
    const read = (moments: Map<string, tf.Variable>) =>
      new Map([...moments].map(([name, x]) => [name, Float32Array.from(x.dataSync() as Float32Array)]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }

  loadState(state: AdamWState): void {
    this.step = state.step;
    const write = (moments: Map<string, tf.Variable>, values: Map<string, Float32Array>) => {
      for (const [name, data] of values) {
        const param = this.params.get(name);
        if (!param) throw new Error(`AdamW state names an unknown parameter ${name}`);
        this.moment(moments, name, param).assign(tf.tensor(data, param.shape));
      }
    };
    tf.tidy(() => {
      write(this.m, state.m);
      write(this.v, state.v);
    });
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }

  private moment(moments: Map<string, tf.Variable>, name: string, param: tf.Variable): tf.Variable {
    let x = moments.get(name);
    if (!x) {
      const zeros = tf.zerosLike(param);
      x = tf.variable(zeros, false);
      zeros.dispose();
      moments.set(name, x);
    }
    return x;
  }
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`);
 * returns the norm before clipping. When it clips, the gradients given are disposed.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = globalNorm(grads);
  const coef = clipCoefficient(norm, maxNorm);
  if (coef === 1) return { grads, norm };
  const clipped = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    clipped.set(name, scaled(g, coef));
    g.dispose();
  }
  return { grads: clipped, norm };
}

/** The L2 norm of all the gradients together. */
export function globalNorm(grads: Map<string, tf.Tensor>): number {
  let sum = 0;
  for (const g of grads.values()) sum += sumOfSquares(g);
  return Math.sqrt(sum);
}

/** PyTorch's `clip_grad_norm_` coefficient: maxNorm/(norm + 1e-6) when below 1, else 1. */
export function clipCoefficient(norm: number, maxNorm: number): number {
  const coef = maxNorm / (norm + 1e-6);
  return coef < 1 ? coef : 1;
}

/** g·s as a new tensor: SIMD on the wasm heap, else tf.mul (wasm's vectorised multiply beats a JS loop). */
function scaled(g: tf.Tensor, s: number): tf.Tensor {
  const simd = g.dtype === 'float32' ? simdKernels() : undefined;
  if (!simd) return tf.mul(g, s);
  const out = hostTensor(g.shape);
  const [x, y] = [hostData(g)!, hostData(out)!];
  const n = x.length;
  const from = n - (n % 4);
  simd.scale(x.byteOffset, y.byteOffset, from / 4, s);
  for (let i = from; i < n; i++) y[i] = x[i] * s;
  return out;
}

/**
 * Σ g², where the data is reachable from JS: in SIMD on wasm (float64 sums), else one JS loop (four
 * sums: no chain of dependent adds).
 */
function sumOfSquares(g: tf.Tensor): number {
  const data = hostData(g);
  if (!data) return tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]);
  const n = data.length;
  const simd = simdKernels();
  if (simd) {
    const from = n - (n % 2);
    let sum = simd.sumSquares(data.byteOffset, from / 2);
    if (from < n) sum += data[from] * data[from];
    return sum;
  }
  let [s0, s1, s2, s3] = [0, 0, 0, 0];
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    s0 += data[i] * data[i];
    s1 += data[i + 1] * data[i + 1];
    s2 += data[i + 2] * data[i + 2];
    s3 += data[i + 3] * data[i + 3];
  }
  for (let i = end; i < n; i++) s0 += data[i] * data[i];
  return s0 + s1 + s2 + s3;
}

/** Runs `steps` in turn on `first`, freeing each intermediate result as soon as the next is made. */
function chain(first: tf.Tensor, ...steps: ((x: tf.Tensor) => tf.Tensor)[]): tf.Tensor {
  return steps.reduce((x, step) => {
    const next = step(x);
    x.dispose();
    return next;
  }, first);
}

/** f(a, b), freeing a and b. */
function combine(a: tf.Tensor, b: tf.Tensor, f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): tf.Tensor {
  const result = f(a, b);
  tf.dispose([a, b]);
  return result;
}

/** variable ← value, freeing value's own reference (the variable keeps the data). */
function replace(variable: tf.Variable, value: tf.Tensor): void {
  variable.assign(value);
  value.dispose();
}
