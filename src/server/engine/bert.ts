/**
 * BERT for sequence classification, as in Devlin et al. (2019) and Hugging Face's
 * `BertForSequenceClassification`: embeddings (word + position + token type, LayerNorm), a post-LN
 * encoder with exact (erf) GELU, the tanh pooler over [CLS], dropout while training only, and a
 * linear classifier.
 *
 * Parameters are named as in Hugging Face's state dict. One difference of layout: a Linear weight is
 * held as [in, out] (PyTorch stores [out, in] and computes x·Wᵀ), so every product here is a plain
 * x·W, the form the wasm backend runs fastest. The checkpoint mapping transposes those on load/save.
 *
 * Shapes in comments: B batch, T sequence length, H hidden size, nh heads, hd head size (H / nh),
 * I intermediate size, C classes.
 */
import * as tf from './tf';
import { batchMatMul, linear } from './ops/matmul';
import type { BertConfig } from './model-config';

export interface ParameterSpec {
  name: string;
  /** Shape as held here. */
  shape: number[];
  /** A Linear weight: PyTorch's shape is `shape` reversed. */
  transposed: boolean;
}

/** Every parameter of BertForSequenceClassification, in state-dict order. */
export function parameterSpecs(config: BertConfig): ParameterSpec[] {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const specs: ParameterSpec[] = [];
  const embedding = (name: string, rows: number) => specs.push({ name: `${name}.weight`, shape: [rows, H], transposed: false });
  const linear = (name: string, inDim: number, outDim: number) => {
    specs.push({ name: `${name}.weight`, shape: [inDim, outDim], transposed: true });
    specs.push({ name: `${name}.bias`, shape: [outDim], transposed: false });
  };
  const layerNorm = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [H], transposed: false });
    specs.push({ name: `${name}.bias`, shape: [H], transposed: false });
  };

  embedding('bert.embeddings.word_embeddings', config.vocabSize);
  embedding('bert.embeddings.position_embeddings', config.maxPositionEmbeddings);
  embedding('bert.embeddings.token_type_embeddings', config.typeVocabSize);
  layerNorm('bert.embeddings.LayerNorm');
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const layer = `bert.encoder.layer.${l}`;
    linear(`${layer}.attention.self.query`, H, H);
    linear(`${layer}.attention.self.key`, H, H);
    linear(`${layer}.attention.self.value`, H, H);
    linear(`${layer}.attention.output.dense`, H, H);
    layerNorm(`${layer}.attention.output.LayerNorm`);
    linear(`${layer}.intermediate.dense`, H, I);
    linear(`${layer}.output.dense`, I, H);
    layerNorm(`${layer}.output.LayerNorm`);
  }
  linear('bert.pooler.dense', H, H);
  linear('classifier', H, config.id2label.length);
  return specs;
}

/** AdamW's rule (BERT's, and nanoGPT's): weight matrices and embeddings decay; biases and LayerNorm do not. */
export function decaysWeight(name: string): boolean {
  return name.endsWith('.weight') && !name.includes('LayerNorm');
}

export interface BertInputs {
  inputIds: tf.Tensor2D; // (B, T) int32
  attentionMask: tf.Tensor2D; // (B, T) int32, 1 = real token
  tokenTypeIds: tf.Tensor2D; // (B, T) int32
}

export interface BertOutputs {
  embeddingOutput: tf.Tensor3D; // (B, T, H)
  /** The output of each encoder layer. */
  layerOutputs: tf.Tensor3D[]; // L × (B, T, H)
  pooledOutput: tf.Tensor2D; // (B, H)
  logits: tf.Tensor2D; // (B, C)
}

export interface ForwardOptions {
  /** Dropout on (training) or off (evaluation, prediction). */
  training: boolean;
  /** Seed of the dropout masks of this forward pass (training only). */
  dropoutSeed?: number;
}

/** Hugging Face's additive mask value: the most negative float32, so masked keys get exactly 0 weight. */
const MASKED = -3.4028234663852886e38;

export class BertForSequenceClassification {
  constructor(
    readonly config: BertConfig,
    /** Parameters by Hugging Face name, laid out as `parameterSpecs` says. */
    readonly params: Map<string, tf.Variable>,
  ) {}

  get numLabels(): number {
    return this.config.id2label.length;
  }

  /** Runs the model. The caller owns the returned tensors (wrap calls in `tf.tidy`). */
  forward(inputs: BertInputs, options: ForwardOptions): BertOutputs {
    const dropout = dropoutFn(options);
    const embeddingOutput = this.embeddings(inputs, dropout);
    const maskAdd = attentionMaskAdd(inputs.attentionMask);
    const layerOutputs: tf.Tensor3D[] = [];
    let hidden = embeddingOutput;
    for (let l = 0; l < this.config.numHiddenLayers; l++) {
      hidden = this.encoderLayer(hidden, maskAdd, l, dropout);
      layerOutputs.push(hidden);
    }
    const pooledOutput = this.pooler(hidden);
    const logits = this.dense(dropout(pooledOutput, this.config.classifierDropout), 'classifier') as tf.Tensor2D;
    return { embeddingOutput, layerOutputs, pooledOutput, logits };
  }

  /** Class logits only, for prediction and evaluation. */
  logits(inputs: BertInputs): tf.Tensor2D {
    return tf.tidy(() => this.forward(inputs, { training: false }).logits);
  }

  private embeddings(inputs: BertInputs, dropout: Dropout): tf.Tensor3D {
    const [B, T] = inputs.inputIds.shape;
    const H = this.config.hiddenSize;
    const positionIds = tf.range(0, T, 1, 'int32');
    const words = embeddingLookup(this.p('bert.embeddings.word_embeddings.weight'), inputs.inputIds.reshape([-1])); // (B·T, H)
    const tokenTypes = embeddingLookup(this.p('bert.embeddings.token_type_embeddings.weight'), inputs.tokenTypeIds.reshape([-1]));
    const positions = embeddingLookup(this.p('bert.embeddings.position_embeddings.weight'), positionIds); // (T, H)
    const summed = tf.add(tf.add(words, tokenTypes).reshape([B, T, H]), positions); // (B, T, H)
    return dropout(this.layerNorm(summed, 'bert.embeddings.LayerNorm'), this.config.hiddenDropoutProb) as tf.Tensor3D;
  }

  private encoderLayer(x: tf.Tensor3D, maskAdd: tf.Tensor, l: number, dropout: Dropout): tf.Tensor3D {
    const layer = `bert.encoder.layer.${l}`;
    const context = this.selfAttention(x, maskAdd, `${layer}.attention.self`, dropout);
    const attended = this.addAndNorm(context, x, `${layer}.attention.output`, dropout);
    const intermediate = gelu(this.dense(attended, `${layer}.intermediate.dense`)); // (B, T, I)
    return this.addAndNorm(intermediate, attended, `${layer}.output`, dropout);
  }

  /** Multi-head scaled dot-product attention; padded keys are masked out. */
  private selfAttention(x: tf.Tensor3D, maskAdd: tf.Tensor, name: string, dropout: Dropout): tf.Tensor3D {
    const [B, T, H] = x.shape;
    const nh = this.config.numAttentionHeads;
    const hd = H / nh;
    const heads = (t: tf.Tensor) => t.reshape([B, T, nh, hd]).transpose([0, 2, 1, 3]); // (B, nh, T, hd)
    const q = heads(this.dense(x, `${name}.query`));
    const k = heads(this.dense(x, `${name}.key`));
    const v = heads(this.dense(x, `${name}.value`));
    const scores = tf.add(tf.div(batchMatMul(q, k, true), Math.sqrt(hd)), maskAdd); // (B, nh, T, T)
    const probs = dropout(tf.softmax(scores), this.config.attentionProbsDropoutProb);
    const context = batchMatMul(probs, v); // (B, nh, T, hd)
    return context.transpose([0, 2, 1, 3]).reshape([B, T, H]);
  }

  /** BertSelfOutput / BertOutput: dense, dropout, then LayerNorm of the residual sum (post-LN). */
  private addAndNorm(x: tf.Tensor, residual: tf.Tensor3D, name: string, dropout: Dropout): tf.Tensor3D {
    const projected = dropout(this.dense(x, `${name}.dense`), this.config.hiddenDropoutProb);
    return this.layerNorm(tf.add(projected, residual), `${name}.LayerNorm`) as tf.Tensor3D;
  }

  private pooler(hidden: tf.Tensor3D): tf.Tensor2D {
    const [B, , H] = hidden.shape;
    const cls = hidden.slice([0, 0, 0], [B, 1, H]).reshape([B, H]); // (B, H), the [CLS] position
    return tf.tanh(this.dense(cls, 'bert.pooler.dense')) as tf.Tensor2D;
  }

  /** x·W + b over the last axis, computed as one 2-D product. */
  private dense(x: tf.Tensor, name: string): tf.Tensor {
    const weight = this.p(`${name}.weight`); // (in, out)
    const [inDim, outDim] = weight.shape;
    const flat = x.reshape([-1, inDim]) as tf.Tensor2D;
    const y = linear(flat, weight as tf.Tensor2D, this.p(`${name}.bias`) as tf.Tensor1D);
    return y.reshape([...x.shape.slice(0, -1), outDim]);
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centered), -1, true); // biased, as torch.nn.LayerNorm
    const normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, this.config.layerNormEps)));
    return tf.add(tf.mul(normalized, this.p(`${name}.weight`)), this.p(`${name}.bias`));
  }

  private p(name: string): tf.Variable {
    const param = this.params.get(name);
    if (!param) throw new Error(`BERT parameter ${name} is missing`);
    return param;
  }
}

/** The exact GELU of BERT: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
}

/** (B, T) mask of 1/0 → (B, 1, 1, T) additive mask over the key axis. */
function attentionMaskAdd(attentionMask: tf.Tensor2D): tf.Tensor {
  const [B, T] = attentionMask.shape;
  return tf.mul(tf.sub(1, attentionMask.toFloat()), MASKED).reshape([B, 1, 1, T]);
}

/** Mean cross-entropy of the logits against integer labels, optionally weighted per class. */
export function crossEntropyLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights?: tf.Tensor1D): tf.Scalar {
  const numClasses = logits.shape[1];
  const oneHot = tf.oneHot(labels, numClasses).toFloat(); // (B, C)
  const nll = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)); // (B,)
  if (!classWeights) return tf.mean(nll);
  const weights = tf.sum(tf.mul(oneHot, classWeights), -1); // (B,), as PyTorch's weighted mean
  return tf.div(tf.sum(tf.mul(nll, weights)), tf.sum(weights));
}

type Dropout = (x: tf.Tensor, rate: number) => tf.Tensor;

/** Dropout that is the identity at evaluation time and draws a fresh, seeded mask per call while training. */
function dropoutFn(options: ForwardOptions): Dropout {
  if (!options.training) return (x) => x;
  let seed = options.dropoutSeed ?? Math.floor(Math.random() * 2 ** 31);
  return (x, rate) => (rate > 0 ? tf.dropout(x, rate, undefined, seed++) : x);
}

/**
 * Row lookup (`gather`) whose gradient sums the incoming rows into a table-shaped tensor. TF.js's own
 * gather gradient needs `UnsortedSegmentSum`, which the wasm backend lacks; `ScatterNd` sums
 * repeated indices the same way and is there.
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor2D {
  // TF.js passes the inputs then the save function, all through one rest parameter.
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t as tf.Tensor2D, i),
      gradFunc: (dy: tf.Tensor, [savedIds]: tf.Tensor[]) => [tf.scatterND(savedIds.expandDims(1), dy, t.shape), tf.zerosLike(savedIds)],
    };
  });
  return lookup(table, ids) as tf.Tensor2D;
}
