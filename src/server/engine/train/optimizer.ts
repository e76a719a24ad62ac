/**
 * AdamW (Loshchilov & Hutter), computed as PyTorch's `torch.optim.AdamW` does, which is what the
 * Hugging Face Trainer uses: decoupled weight decay applied to the weight before the Adam update,
 * bias-corrected moments, eps added to the corrected root of the second moment.
 * Weight decay follows `decaysWeight`: matrices and embeddings decay, biases and LayerNorm do not.
 */
import * as tf from '../tf';
import { decaysWeight } from '../bert';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
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
  }

  /** One update of every parameter that has a gradient, at learning rate `lr`. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const t = this.step;
    const stepSize = lr / (1 - this.beta1 ** t);
    const correction2Sqrt = Math.sqrt(1 - this.beta2 ** t);
    for (const [name, grad] of grads) {
      const param = this.params.get(name);
      if (!param) throw new Error(`AdamW: no parameter ${name}`);
      const m = this.moment(this.m, name, param);
      const v = this.moment(this.v, name, param);
      tf.tidy(() => {
        const decay = decaysWeight(name) ? 1 - lr * this.weightDecay : 1;
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(grad, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(grad), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), correction2Sqrt), this.eps);
        const decayed = decay === 1 ? param : tf.mul(param, decay);
        m.assign(mNew);
        v.assign(vNew);
        param.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), stepSize)));
      });
    }
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

/** Scales gradients so that their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`); returns the norm before clipping. */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return { grads, norm };
  const clipped = new Map([...grads].map(([name, g]) => [name, tf.mul(g, coef)]));
  tf.dispose([...grads.values()]);
  return { grads: clipped, norm };
}
