/**
 * BERT's masked-language-model head, as Hugging Face's `BertOnlyMLMHead` (`cls.predictions`): the
 * hidden states of the chosen positions go through a transform (dense H→H, GELU, LayerNorm) and a
 * decoder to vocabulary logits whose weight is the word-embedding matrix itself (tied, as in BERT)
 * plus a bias of its own. The head's parameters live in the model's parameter map under their
 * Hugging Face names, next to the encoder's.
 */
import * as tf from '../tf';
import { crossEntropyLoss, embeddingLookup, gelu, type BertForSequenceClassification, type BertInputs, type ParameterSpec } from '../bert';
import { columnSums, matMul } from '../ops/matmul';
import type { BertConfig } from '../model-config';
import type { CheckpointTensor } from '../checkpoint/bert-weights';

export const MLM_HEAD = 'cls.predictions';
const WORD_EMBEDDINGS = 'bert.embeddings.word_embeddings.weight';

/** The head's own parameters (the decoder's weight is the word embeddings), as held here. */
export function mlmHeadSpecs(config: BertConfig): ParameterSpec[] {
  const H = config.hiddenSize;
  return [
    { name: `${MLM_HEAD}.transform.dense.weight`, shape: [H, H], transposed: true },
    { name: `${MLM_HEAD}.transform.dense.bias`, shape: [H], transposed: false },
    { name: `${MLM_HEAD}.transform.LayerNorm.weight`, shape: [H], transposed: false },
    { name: `${MLM_HEAD}.transform.LayerNorm.bias`, shape: [H], transposed: false },
    { name: `${MLM_HEAD}.bias`, shape: [config.vocabSize], transposed: false },
  ];
}

/** Checkpoint names of the head: newer Hugging Face versions also write the decoder's bias under its own name. */
const ALIASES: Record<string, string> = { [`${MLM_HEAD}.decoder.bias`]: `${MLM_HEAD}.bias` };

/**
 * The head's parameters from a checkpoint that has them (a BertForMaskedLM or BertForPreTraining
 * one), else fresh as Hugging Face initialises them: dense normal(0, initializer_range), biases 0,
 * LayerNorm 1 and 0. Says whether it was fresh.
 */
export function mlmHeadParams(tensors: Map<string, CheckpointTensor>, config: BertConfig, seed: number): { params: Map<string, tf.Variable>; fresh: boolean } {
  const byName = new Map<string, CheckpointTensor>();
  for (const [key, tensor] of tensors) byName.set(ALIASES[key] ?? key.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias'), tensor);
  const specs = mlmHeadSpecs(config);
  const fresh = !specs.every((s) => byName.has(s.name) && sameShape(byName.get(s.name)!.shape, torchShape(s)));
  const params = new Map<string, tf.Variable>();
  for (const spec of specs) {
    const initial = fresh ? freshHeadParameter(spec, config, seed) : fromCheckpoint(byName.get(spec.name)!, spec);
    params.set(spec.name, tf.variable(initial));
    initial.dispose();
  }
  return { params, fresh };
}

/** The head's parameters in Hugging Face's layout (the tied decoder weight is not written, as Hugging Face does). */
export function mlmHeadToCheckpoint(params: Map<string, tf.Variable>, config: BertConfig): Map<string, CheckpointTensor> {
  const out = new Map<string, CheckpointTensor>();
  for (const spec of mlmHeadSpecs(config)) {
    const value = params.get(spec.name)!;
    const transposed = spec.transposed ? value.transpose() : undefined;
    out.set(spec.name, { shape: torchShape(spec), dtype: 'F32', data: Float32Array.from((transposed ?? value).dataSync() as Float32Array) });
    transposed?.dispose();
  }
  return out;
}

/** Vocabulary logits (M, V) for hidden states (M, H). */
export function maskedLMLogits(model: BertForSequenceClassification, hidden: tf.Tensor2D): tf.Tensor2D {
  const transformed = model.layerNorm(gelu(model.dense(hidden, `${MLM_HEAD}.transform.dense`)), `${MLM_HEAD}.transform.LayerNorm`) as tf.Tensor2D;
  return tiedDecoder(transformed, param(model, WORD_EMBEDDINGS) as tf.Tensor2D, param(model, `${MLM_HEAD}.bias`) as tf.Tensor1D);
}

export interface MaskedLMTargets {
  /** Flat indices (row · seqLen + position) of the predicted tokens. */
  positions: Int32Array;
  /** The original tokens there. */
  targets: Int32Array;
}

/** The logits at the chosen positions of a (corrupted) batch: the encoder, then the head on those rows only. */
export function maskedLMForward(model: BertForSequenceClassification, inputs: BertInputs, positions: Int32Array, options: { training: boolean; dropoutSeed?: number }): tf.Tensor2D {
  const hidden = model.lastHiddenState(inputs, options); // (B, T, H)
  const flat = hidden.reshape([-1, model.config.hiddenSize]) as tf.Tensor2D;
  return maskedLMLogits(model, embeddingLookup(flat, tf.tensor1d(positions, 'int32')));
}

/** Mean cross-entropy over the predicted tokens (Hugging Face's loss with -100 everywhere else). */
export function maskedLMLoss(model: BertForSequenceClassification, inputs: BertInputs, targets: MaskedLMTargets, options: { training: boolean; dropoutSeed?: number }): tf.Scalar {
  const logits = maskedLMForward(model, inputs, targets.positions, options);
  return crossEntropyLoss(logits, tf.tensor1d(targets.targets, 'int32'));
}

/**
 * x·Eᵀ + b with E the (V, H) word embeddings: one op with its own backward pass, so that the products
 * take the forms the backend runs fastest (ops/matmul.ts) and E's gradient adds to the embedding
 * lookup's, as tying does in PyTorch.
 */
function tiedDecoder(x: tf.Tensor2D, embeddings: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, table, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([input, table]);
    return {
      value: tf.add(matMul(input, table, false, true), b),
      gradFunc: (dy: tf.Tensor, [sx, se]: tf.Tensor[]) =>
        tf.tidy(() => [matMul(dy, se), matMul(dy, sx, true, false), columnSums(dy as tf.Tensor2D)]),
    };
  });
  return op(x, embeddings, bias) as tf.Tensor2D;
}

function param(model: BertForSequenceClassification, name: string): tf.Variable {
  const p = model.params.get(name);
  if (!p) throw new Error(`BERT parameter ${name} is missing`);
  return p;
}

function freshHeadParameter(spec: ParameterSpec, config: BertConfig, seed: number): tf.Tensor {
  if (spec.name.endsWith('LayerNorm.weight')) return tf.ones(spec.shape);
  if (spec.name.endsWith('.bias')) return tf.zeros(spec.shape);
  return tf.randomNormal(spec.shape, 0, config.initializerRange, 'float32', seed);
}

function fromCheckpoint(tensor: CheckpointTensor, spec: ParameterSpec): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(tensor.data, tensor.shape, 'float32');
    return spec.transposed ? t.transpose() : t;
  });
}

function torchShape(spec: ParameterSpec): number[] {
  return spec.transposed ? [...spec.shape].reverse() : spec.shape;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
