/**
 * A randomly initialised BERT of a given shape, and a batch of random token ids for it: what the
 * benchmarks and the time-per-epoch estimate run, where only the shape matters.
 */
import * as tf from './tf';
import { BertForSequenceClassification, parameterSpecs, type ParameterSpec } from './bert';
import { bertConfigFromJson, type BertConfig } from './model-config';
import { Random } from './random';
import type { EncodedBatch } from './tokenizer';

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  /** Position embeddings (default 512). */
  maxPositions?: number;
}

/** A two-class BERT config of the shape, checked as a config.json would be. */
export function configForShape(shape: BertShape): BertConfig {
  return bertConfigFromJson(
    {
      model_type: 'bert',
      vocab_size: shape.vocab,
      hidden_size: shape.hidden,
      num_hidden_layers: shape.layers,
      num_attention_heads: shape.heads,
      intermediate_size: shape.intermediate,
      max_position_embeddings: shape.maxPositions ?? 512,
      num_labels: 2,
    },
    '(model shape)',
  );
}

/** Hugging Face's `_init_weights`: matrices normal(0, initializer_range), biases 0, LayerNorm weights 1. */
export function randomBert(shape: BertShape, seed = 42): BertForSequenceClassification {
  const config = configForShape(shape);
  const params = new Map<string, tf.Variable>();
  parameterSpecs(config).forEach((spec, i) => {
    const initial = initialValue(spec, config, seed + i);
    params.set(spec.name, tf.variable(initial));
    initial.dispose();
  });
  return new BertForSequenceClassification(config, params);
}

function initialValue(spec: ParameterSpec, config: BertConfig, seed: number): tf.Tensor {
  if (spec.name.endsWith('.bias')) return tf.zeros(spec.shape);
  if (spec.name.includes('LayerNorm')) return tf.ones(spec.shape);
  return tf.randomNormal(spec.shape, 0, config.initializerRange, 'float32', seed);
}

/** Random token ids (never [PAD] = 0), no padding, one segment. */
export function randomBatch(batchSize: number, seqLen: number, vocab: number, seed = 42): EncodedBatch {
  const random = new Random(seed);
  const size = batchSize * seqLen;
  return {
    batchSize,
    seqLen,
    inputIds: Int32Array.from({ length: size }, () => 1 + random.int(vocab - 1)),
    attentionMask: new Int32Array(size).fill(1),
    tokenTypeIds: new Int32Array(size),
  };
}
