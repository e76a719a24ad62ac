/**
 * The models the "Fine-tune" flow offers, with their sizes and an estimated time per epoch on the
 * backend this server computes on.
 *
 * Method: a quick measurement feeding a documented cost formula. The server times a few training
 * steps of three small random BERTs (about a second, once per server) and solves for three costs:
 *
 *   seconds per step ≈ a·(L + 1)  +  c·P  +  g·F
 *
 *   a  fixed cost per layer (kernel launches, small tensors)
 *   c  cost per trainable parameter (gradient, clipping and the AdamW update of every weight,
 *      embeddings included)
 *   g  cost per floating-point operation of the matrix products, where for batch B, tokens T,
 *      L layers, hidden H, feed-forward I and k classes (forward 1×, backward 2×):
 *      F = 6·B·T·L·(4H² + 2HI) + 12·L·B·T²·H + 6·B·(H² + kH)
 *
 * An epoch is ⌈n / B⌉ such steps plus a forward pass over the validation split (F/3 per batch of
 * 64, no update). Larger models run their products more efficiently than the probes do, so the
 * estimate errs long for bert-base.
 *
 * A masked-LM step of "Adapt to the dataset first" has the same encoder, no pooler or classifier,
 * and the prediction head (dense H×H, then the decoder tied to the V×H word embeddings) on the 15%
 * of tokens that are predicted: F_mlm = 6·B·T·L·(4H² + 2HI) + 12·L·B·T²·H + 6·B·⌈0.15·T⌉·(H² + HV),
 * one more layer's fixed cost, and the head's own parameters (H² + 3H + V) updated too.
 */
import * as tf from '../engine/tf';
import { randomBatch, randomBert, type BertShape } from '../engine/random-bert';
import { recommendedLearningRate } from '../engine/fine-tune';
import { AdamW } from '../engine/train/optimizer';
import { trainStep } from '../engine/train/trainer';
import type { ModelChoice } from '../../shared/protocol';

export type ModelShape = Required<BertShape>;

/** Share of tokens the masked-LM head predicts (BERT: 15%; the engine's DEFAULT_PRETRAIN_SETTINGS). */
const MLM_SHARE = 0.15;

/** The presets: the bundled pre-trained and random models, Google's compact BERTs (Turc et al. 2019), bert-base. */
export const PRESETS: { ref: string; shape: ModelShape }[] = [
  { ref: 'builtin:review-bert', shape: { layers: 2, hidden: 128, heads: 2, intermediate: 512, vocab: 10000, maxPositions: 512 } },
  { ref: 'builtin:tiny-bert', shape: { layers: 2, hidden: 32, heads: 2, intermediate: 64, vocab: 30522, maxPositions: 128 } },
  { ref: 'google/bert_uncased_L-2_H-128_A-2', shape: { layers: 2, hidden: 128, heads: 2, intermediate: 512, vocab: 30522, maxPositions: 512 } },
  { ref: 'google/bert_uncased_L-4_H-256_A-4', shape: { layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocab: 30522, maxPositions: 512 } },
  { ref: 'google/bert_uncased_L-4_H-512_A-8', shape: { layers: 4, hidden: 512, heads: 8, intermediate: 2048, vocab: 30522, maxPositions: 512 } },
  { ref: 'bert-base-uncased', shape: { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 } },
];

export const ESTIMATE_METHOD =
  'Measured: a few training steps of three small random BERTs on this backend give the cost per layer, per parameter and per ' +
  'multiply-add; an epoch is then ⌈examples / batch⌉ steps of 6·B·T·L·(4H²+2HI) + 12·L·B·T²·H operations, plus one evaluation pass.';

/** Seconds per unit of each term of the cost formula. */
export interface StepCosts {
  perLayer: number;
  perParameter: number;
  perFlop: number;
}

export interface Workload {
  trainExamples: number;
  evalExamples: number;
  tokensPerExample: number;
  batchSize: number;
  numLabels: number;
}

const EVAL_BATCH = 64;

/** Every parameter of BertForSequenceClassification: embeddings, encoder layers, pooler and classifier. */
export function parameterCount(shape: ModelShape, numLabels = 2): number {
  const { layers: L, hidden: H, intermediate: I } = shape;
  const embeddings = (shape.vocab + shape.maxPositions + 2) * H + 2 * H;
  const layer = 4 * H * H + 2 * H * I + 9 * H + I;
  return embeddings + L * layer + H * H + H + numLabels * (H + 1);
}

/** Multiply-adds ×2 of the matrix products of one training step (forward and backward). */
export function stepFlops(shape: ModelShape, batch: number, tokens: number, numLabels = 2): number {
  const { layers: L, hidden: H, intermediate: I } = shape;
  return 6 * batch * tokens * L * (4 * H * H + 2 * H * I) + 12 * L * batch * tokens * tokens * H + 6 * batch * (H * H + numLabels * H);
}

export function stepSeconds(shape: ModelShape, batch: number, tokens: number, costs: StepCosts, numLabels = 2): number {
  return (
    costs.perLayer * (shape.layers + 1) +
    costs.perParameter * parameterCount(shape, numLabels) +
    costs.perFlop * stepFlops(shape, batch, tokens, numLabels)
  );
}

/** Multiply-adds ×2 of one masked-LM training step: the encoder, and the head on the predicted tokens. */
export function maskedLMStepFlops(shape: ModelShape, batch: number, tokens: number): number {
  const { layers: L, hidden: H, intermediate: I, vocab: V } = shape;
  const predicted = Math.ceil(MLM_SHARE * tokens);
  return 6 * batch * tokens * L * (4 * H * H + 2 * H * I) + 12 * L * batch * tokens * tokens * H + 6 * batch * predicted * (H * H + H * V);
}

/** Seconds per masked-LM step of domain adaptation, for this workload's batch and typical length. */
export function maskedLMStepSeconds(shape: ModelShape, work: Workload, costs: StepCosts): number {
  const tokens = Math.min(work.tokensPerExample, shape.maxPositions);
  const batch = Math.max(1, Math.min(work.batchSize, work.trainExamples));
  const encoder = parameterCount(shape, 0) - shape.hidden * shape.hidden - shape.hidden; // no pooler
  const head = shape.hidden * shape.hidden + 3 * shape.hidden + shape.vocab;
  return costs.perLayer * (shape.layers + 2) + costs.perParameter * (encoder + head) + costs.perFlop * maskedLMStepFlops(shape, batch, tokens);
}

export function epochSeconds(shape: ModelShape, work: Workload, costs: StepCosts): number {
  const tokens = Math.min(work.tokensPerExample, shape.maxPositions);
  const batch = Math.max(1, Math.min(work.batchSize, work.trainExamples));
  const steps = Math.ceil(work.trainExamples / batch);
  const evalBatches = Math.ceil(work.evalExamples / EVAL_BATCH);
  const evalBatch = Math.min(EVAL_BATCH, Math.max(1, work.evalExamples));
  const evalSeconds = evalBatches * (costs.perLayer * (shape.layers + 1) + (costs.perFlop * stepFlops(shape, evalBatch, tokens, work.numLabels)) / 3);
  return steps * stepSeconds(shape, batch, tokens, costs, work.numLabels) + evalSeconds;
}

/** The learning rate "auto" means for a model of this shape, or the one its config.json names (the engine's own rule). */
export function autoLearningRate(shape: ModelShape, config?: Record<string, unknown>): number {
  return recommendedLearningRate(shape.hidden, config);
}

/** `config`: the model's config.json when it is on disk (a built-in model names its own learning rate). */
export function modelChoice(
  preset: { ref: string; shape: ModelShape },
  work: Workload,
  local: boolean,
  costs?: StepCosts,
  config?: Record<string, unknown>,
): ModelChoice {
  const { shape } = preset;
  return {
    ref: preset.ref,
    layers: shape.layers,
    hidden: shape.hidden,
    heads: shape.heads,
    parameters: parameterCount(shape, work.numLabels),
    maxLength: shape.maxPositions,
    learningRate: autoLearningRate(shape, config),
    local,
    ...(costs ? { secondsPerEpoch: epochSeconds(shape, work, costs), secondsPerAdaptStep: maskedLMStepSeconds(shape, work, costs) } : {}),
  };
}

// ---- the measurement ----------------------------------------------------------------------------

interface Probe {
  shape: ModelShape;
  batch: number;
  tokens: number;
}

/** Overhead-bound, parameter-bound and product-bound: each pins down one cost. */
const PROBES: Probe[] = [
  { shape: { layers: 1, hidden: 32, heads: 2, intermediate: 64, vocab: 128, maxPositions: 64 }, batch: 2, tokens: 8 },
  { shape: { layers: 1, hidden: 32, heads: 2, intermediate: 64, vocab: 30522, maxPositions: 64 }, batch: 2, tokens: 8 },
  { shape: { layers: 1, hidden: 256, heads: 4, intermediate: 1024, vocab: 128, maxPositions: 64 }, batch: 8, tokens: 64 },
];

/**
 * Times the probes on the active backend and solves for the three costs (none negative). About a
 * second or two; it yields between steps so that the server keeps answering requests.
 */
export async function measureStepCosts(): Promise<StepCosts> {
  const rows = PROBES.map((probe) => [probe.shape.layers + 1, parameterCount(probe.shape), stepFlops(probe.shape, probe.batch, probe.tokens)]);
  const seconds: number[] = [];
  for (const probe of PROBES) seconds.push(await timeProbe(probe));
  const [perLayer, perParameter, perFlop] = solve3(rows, seconds).map((x) => Math.max(x, 0));
  return { perLayer, perParameter, perFlop };
}

/** The fastest of three training steps (after one to warm up) of a random BERT of the probe's shape. */
async function timeProbe(probe: Probe): Promise<number> {
  const model = randomBert(probe.shape);
  const optimizer = new AdamW(model.params, { weightDecay: 0.01 });
  const batch = randomBatch(probe.batch, probe.tokens, probe.shape.vocab);
  const labels = Array.from({ length: probe.batch }, (_, i) => i % 2);
  try {
    let fastest = Infinity;
    for (let i = 0; i < 4; i++) {
      const start = performance.now();
      trainStep(model, optimizer, batch, labels, { lr: 1e-4, maxGradNorm: 1, dropoutSeed: i });
      if (i > 0) fastest = Math.min(fastest, (performance.now() - start) / 1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return fastest;
  } finally {
    optimizer.dispose();
    tf.dispose([...model.params.values()]);
  }
}

/** Solves the 3×3 system A·x = b (Cramer's rule; the probes keep it well conditioned). */
export function solve3(a: number[][], b: number[]): number[] {
  const det = (m: number[][]) =>
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const d = det(a);
  return [0, 1, 2].map((col) => det(a.map((row, r) => row.map((v, c) => (c === col ? b[r] : v)))) / d);
}
