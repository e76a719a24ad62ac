/**
 * Integrated Gradients (Sundararajan et al. 2017) on BERT's input word embeddings: for each token,
 * (x − x′) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα, where x are the text's word embeddings and the baseline
 * x′ puts the [PAD] embedding at every position but [CLS] and [SEP] (which keep theirs, so they get
 * no attribution). Positions, token types and the attention mask stay the text's.
 *
 * F is the explained class's logit minus the mean of the other classes' logits: what makes the class
 * win over the others, linear in the logits, so that completeness holds: the attributions add up to
 * F(x) − F(x′). The integral is taken by Gauss–Legendre quadrature; when the sum misses F(x) − F(x′)
 * by more than the tolerance, it is taken again with more nodes.
 */
import * as tf from '../tf';
import type { BertForSequenceClassification } from '../bert';
import type { Encoding } from '../tokenizer';
import { gaussLegendre } from './quadrature';

export interface IntegratedGradientsOptions {
  /** The class whose score is explained (its index). */
  target: number;
  /** Quadrature nodes of the first try (default 20). */
  steps?: number;
  /** Nodes of the second try when the first misses completeness (default 50). */
  maxSteps?: number;
  /** |Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)| accepted (default 0.05). */
  tolerance?: number;
  /** Interpolated inputs run through the model at once (default 25). */
  chunk?: number;
  signal?: AbortSignal;
}

export interface TokenAttributions {
  /** One per token of the encoding ([CLS] and [SEP] included, 0 for them). */
  scores: number[];
  /** F(x) − F(x′). */
  scoreDifference: number;
  /** Σ scores. */
  sum: number;
  /** |sum − scoreDifference| / max(|scoreDifference|, 1e-6). */
  completenessError: number;
  /** Quadrature nodes used. */
  steps: number;
}

export class ExplanationCancelled extends Error {
  constructor() {
    super('The explanation was cancelled.');
  }
}

export async function integratedGradients(model: BertForSequenceClassification, encoding: Encoding, padId: number, specialIds: number[], options: IntegratedGradientsOptions): Promise<TokenAttributions> {
  const tolerance = options.tolerance ?? 0.05;
  const first = await attempt(model, encoding, padId, specialIds, options, options.steps ?? 20);
  if (first.completenessError <= tolerance) return first;
  const more = options.maxSteps ?? 50;
  return more > first.steps ? attempt(model, encoding, padId, specialIds, options, more) : first;
}

async function attempt(model: BertForSequenceClassification, encoding: Encoding, padId: number, specialIds: number[], options: IntegratedGradientsOptions, steps: number): Promise<TokenAttributions> {
  const T = encoding.inputIds.length;
  const baselineIds = encoding.inputIds.map((id) => (specialIds.includes(id) ? id : padId));
  const inputsFor = (rows: number) => ({
    inputIds: tf.tensor2d(repeat(encoding.inputIds, rows), [rows, T], 'int32'),
    attentionMask: tf.tensor2d(repeat(encoding.inputIds.map(() => 1), rows), [rows, T], 'int32'),
    tokenTypeIds: tf.tensor2d(repeat(encoding.tokenTypeIds, rows), [rows, T], 'int32'),
  });
  const classScore = (logits: tf.Tensor2D) => classMargin(logits, options.target);
  const [x, baseline] = tf.tidy(() => [
    model.wordEmbeddings(tf.tensor2d(encoding.inputIds, [1, T], 'int32')),
    model.wordEmbeddings(tf.tensor2d(baselineIds, [1, T], 'int32')),
  ]);
  const delta = tf.sub(x, baseline) as tf.Tensor3D; // (1, T, H)
  const { nodes, weights } = gaussLegendre(steps);
  const perToken = new Float64Array(T);
  try {
    const ends = tf.tidy(() => {
      const inputs = inputsFor(2);
      return classScore(model.logitsFromWordEmbeddings(tf.concat([x, baseline]) as tf.Tensor3D, inputs));
    });
    const [atInput, atBaseline] = (await ends.data()) as Float32Array;
    ends.dispose();
    const chunk = options.chunk ?? 25;
    for (let from = 0; from < steps; from += chunk) {
      if (options.signal?.aborted) throw new ExplanationCancelled();
      const alphas = nodes.slice(from, from + chunk);
      const contribution = tf.tidy(() => {
        const alpha = tf.tensor3d(alphas, [alphas.length, 1, 1]);
        const path = tf.add(baseline, tf.mul(alpha, delta)) as tf.Tensor3D; // (k, T, H)
        const inputs = inputsFor(alphas.length);
        const gradient = tf.grad((e: tf.Tensor) => classScore(model.logitsFromWordEmbeddings(e as tf.Tensor3D, inputs)).sum())(path);
        const w = tf.tensor3d(weights.slice(from, from + chunk), [alphas.length, 1, 1]);
        return tf.sum(tf.mul(tf.mul(gradient, w), delta), [0, 2]); // (T,)
      });
      const values = (await contribution.data()) as Float32Array;
      contribution.dispose();
      values.forEach((v, t) => (perToken[t] += v));
      await new Promise((resolve) => setImmediate(resolve)); // a cancel can arrive between chunks
    }
    const scores = Array.from(perToken);
    const sum = scores.reduce((a, b) => a + b, 0);
    const scoreDifference = atInput - atBaseline;
    return { scores, scoreDifference, sum, completenessError: Math.abs(sum - scoreDifference) / Math.max(Math.abs(scoreDifference), 1e-6), steps };
  } finally {
    tf.dispose([x, baseline, delta]);
  }
}

/** The target's logit minus the mean of the others' (B,). */
export function classMargin(logits: tf.Tensor2D, target: number): tf.Tensor1D {
  const C = logits.shape[1];
  const weights = Array.from({ length: C }, (_, c) => (c === target ? 1 : -1 / (C - 1)));
  return tf.sum(tf.mul(logits, tf.tensor1d(weights)), 1) as tf.Tensor1D;
}

function repeat(values: number[], times: number): Int32Array {
  const out = new Int32Array(values.length * times);
  for (let r = 0; r < times; r++) out.set(values, r * values.length);
  return out;
}
