/**
 * One optimizer step, in the two halves data-parallel training needs apart:
 * `computeGradients` (forward, cross-entropy, backward on some rows of the batch) and the update
 * (clip to the global norm, AdamW). `trainStep` is both on one thread.
 */
import * as tf from '../tf';
import { crossEntropyLoss, type BertForSequenceClassification, type BertInputs } from '../bert';
import type { EncodedBatch } from '../tokenizer';
import type { AdamW } from './optimizer';

export interface GradientOptions {
  /** Seed of the step's dropout masks. */
  dropoutSeed: number;
  /** The global row index of this batch's first row (a worker's shard of the step's batch). */
  firstRow?: number;
  classWeights?: number[];
  /**
   * The loss is multiplied by this: a shard's share of the batch's mean, so that the shards'
   * gradients add up to the whole batch's (see parallel/shards.ts).
   */
  lossScale?: number;
}

export interface StepOptions extends GradientOptions {
  lr: number;
  maxGradNorm: number;
}

/** Gradients of the (scaled) mean cross-entropy by parameter name, for the trainable parameters. */
export function computeGradients(
  model: BertForSequenceClassification,
  batch: EncodedBatch,
  labels: number[],
  options: GradientOptions,
): { loss: number; grads: Map<string, tf.Tensor> } {
  const nameOf = new Map([...model.params].filter(([, p]) => p.trainable).map(([name, p]) => [p.name, name]));
  const { value, grads } = tf.tidy(() => {
    const inputs = batchTensors(batch);
    const labelTensor = tf.tensor1d(labels, 'int32');
    const weights = options.classWeights ? tf.tensor1d(options.classWeights) : undefined;
    return tf.variableGrads(() => {
      const { logits } = model.forward(inputs, { training: true, dropoutSeed: options.dropoutSeed, firstRow: options.firstRow ?? 0 });
      const loss = crossEntropyLoss(logits, labelTensor, weights);
      return options.lossScale === undefined || options.lossScale === 1 ? loss : tf.mul(loss, options.lossScale);
    });
  });
  const loss = value.dataSync()[0];
  value.dispose();
  return { loss, grads: new Map(Object.entries(grads).map(([id, g]) => [nameOf.get(id)!, g])) };
}

/** One optimizer step on one batch: forward, loss, backward, clip, AdamW. Returns the loss and the gradient norm. */
export function trainStep(
  model: BertForSequenceClassification,
  optimizer: AdamW,
  batch: EncodedBatch,
  labels: number[],
  options: StepOptions,
): { loss: number; gradNorm: number } {
  const { loss, grads } = computeGradients(model, batch, labels, options);
  const { norm } = optimizer.clipAndApply(grads, options.lr, options.maxGradNorm);
  tf.dispose([...grads.values()]);
  return { loss, gradNorm: norm };
}

export function batchTensors(batch: EncodedBatch): BertInputs {
  const shape: [number, number] = [batch.batchSize, batch.seqLen];
  return {
    inputIds: tf.tensor2d(batch.inputIds, shape, 'int32'),
    attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32'),
    tokenTypeIds: tf.tensor2d(batch.tokenTypeIds, shape, 'int32'),
  };
}
