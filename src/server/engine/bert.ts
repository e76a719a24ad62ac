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
import { columnSums, hostData, linear, linearGrads, matMul } from './ops/matmul';
import { seededDropout } from './ops/dropout';
import { hostKernels } from './ops/host';
import {
  addNormHost,
  attentionProbsHost,
  attentionScoresGradHost,
  embeddingsHost,
  geluHost,
  type KernelDropout,
} from './ops/bert-kernels';
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
  /** Seed of the dropout masks of this forward pass (training only); left out, a random one. */
  dropoutSeed?: number;
  /**
   * The global batch index of these inputs' first row (default 0). Dropout masks depend only on the
   * seed, the dropout's place in the forward pass, the global row and the position within the row
   * (ops/dropout.ts), so a shard of a batch (padded to the batch's sequence length) run with its
   * `firstRow` draws the same masks as the whole batch does for those rows.
   */
  firstRow?: number;
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

  /** Weights and biases, trainable or not. */
  get numParameters(): number {
    return [...this.params.values()].reduce((n, p) => n + p.size, 0);
  }

  /** Runs the model. The caller owns the returned tensors (wrap calls in `tf.tidy`). */
  forward(inputs: BertInputs, options: ForwardOptions): BertOutputs {
    const dropout = dropoutFn(options);
    const { embeddingOutput, layerOutputs } = this.encoder(inputs, dropout);
    const pooledOutput = this.pooler(layerOutputs[layerOutputs.length - 1]);
    const logits = this.dense(dropout(pooledOutput, this.config.classifierDropout), 'classifier') as tf.Tensor2D;
    return { embeddingOutput, layerOutputs, pooledOutput, logits };
  }

  /**
   * The last encoder layer's output (BertModel's `last_hidden_state`), without the pooler and the
   * classifier: what a pre-training head reads. Dropout masks are those `forward` draws.
   */
  lastHiddenState(inputs: BertInputs, options: ForwardOptions): tf.Tensor3D {
    const { layerOutputs } = this.encoder(inputs, dropoutFn(options));
    return layerOutputs[layerOutputs.length - 1];
  }

  /**
   * Class logits with the word embeddings (B, T, H) given instead of looked up from `inputIds`
   * (positions, token types and the attention mask still come from `inputs`), without dropout: the
   * function that Integrated Gradients differentiates with respect to its input.
   */
  logitsFromWordEmbeddings(wordEmbeddings: tf.Tensor3D, inputs: BertInputs): tf.Tensor2D {
    const noDropout = dropoutFn({ training: false });
    const embeddingOutput = this.embeddingsFrom(wordEmbeddings, inputs, noDropout);
    const { layerOutputs } = this.encoder(inputs, noDropout, embeddingOutput);
    return this.dense(this.pooler(layerOutputs[layerOutputs.length - 1]), 'classifier') as tf.Tensor2D;
  }

  /** The rows of the word-embedding table for `inputIds`: (B, T, H). */
  wordEmbeddings(inputIds: tf.Tensor2D): tf.Tensor3D {
    const [B, T] = inputIds.shape;
    const words = embeddingLookup(this.p('bert.embeddings.word_embeddings.weight'), inputIds.reshape([-1]));
    return words.reshape([B, T, this.config.hiddenSize]);
  }

  private encoder(inputs: BertInputs, dropout: Dropout, given?: tf.Tensor3D): { embeddingOutput: tf.Tensor3D; layerOutputs: tf.Tensor3D[] } {
    // Where the host kernels run (wasm, cpu), LayerNorm, GELU, the attention softmax and dropout
    // are one pass each (ops/bert-kernels.ts: WebAssembly SIMD on wasm); elsewhere, stock TF.js ops.
    const host = hostKernels();
    const embeddingOutput = given ?? (host ? this.embeddingsOnHost(inputs, dropout) : this.embeddings(inputs, dropout));
    const keyMask: KeyMask = host ? { valid: keyValidity(inputs.attentionMask) } : { add: attentionMaskAdd(inputs.attentionMask) };
    const layerOutputs: tf.Tensor3D[] = [];
    let hidden = embeddingOutput;
    for (let l = 0; l < this.config.numHiddenLayers; l++) {
      hidden = this.encoderLayer(hidden, keyMask, l, dropout);
      layerOutputs.push(hidden);
    }
    return { embeddingOutput, layerOutputs };
  }

  /** Class logits only, for prediction and evaluation. */
  logits(inputs: BertInputs): tf.Tensor2D {
    return tf.tidy(() => this.forward(inputs, { training: false }).logits);
  }

  private embeddings(inputs: BertInputs, dropout: Dropout): tf.Tensor3D {
    return this.embeddingsFrom(this.wordEmbeddings(inputs.inputIds), inputs, dropout);
  }

  /** Word embeddings (B, T, H) plus token-type and position embeddings, LayerNorm, dropout. */
  private embeddingsFrom(words: tf.Tensor3D, inputs: BertInputs, dropout: Dropout): tf.Tensor3D {
    const [B, T] = inputs.inputIds.shape;
    const H = this.config.hiddenSize;
    const positionIds = tf.range(0, T, 1, 'int32');
    const tokenTypes = embeddingLookup(this.p('bert.embeddings.token_type_embeddings.weight'), inputs.tokenTypeIds.reshape([-1]));
    const positions = embeddingLookup(this.p('bert.embeddings.position_embeddings.weight'), positionIds); // (T, H)
    const summed = tf.add(tf.add(words, tokenTypes.reshape([B, T, H])), positions); // (B, T, H)
    return dropout(this.layerNorm(summed, 'bert.embeddings.LayerNorm'), this.config.hiddenDropoutProb) as tf.Tensor3D;
  }

  /** The same as `embeddings`, as one host kernel each way. */
  private embeddingsOnHost(inputs: BertInputs, dropout: Dropout): tf.Tensor3D {
    const e = (name: string) => this.p(`bert.embeddings.${name}`);
    return embeddingsHost(
      inputs,
      e('word_embeddings.weight'),
      e('token_type_embeddings.weight'),
      e('position_embeddings.weight'),
      e('LayerNorm.weight'),
      e('LayerNorm.bias'),
      this.config.layerNormEps,
      dropout.site(this.config.hiddenDropoutProb),
    );
  }

  private encoderLayer(x: tf.Tensor3D, keyMask: KeyMask, l: number, dropout: Dropout): tf.Tensor3D {
    const layer = `bert.encoder.layer.${l}`;
    const context = this.selfAttention(x, keyMask, `${layer}.attention.self`, dropout);
    const attended = this.addAndNorm(context, x, `${layer}.attention.output`, dropout);
    const intermediate = gelu(this.dense(attended, `${layer}.intermediate.dense`)); // (B, T, I)
    return this.addAndNorm(intermediate, attended, `${layer}.output`, dropout);
  }

  /**
   * Multi-head scaled dot-product attention; padded keys are masked out. One op with its own backward
   * pass: it keeps x, q, k, v and the probabilities before and after dropout, and none of the projections,
   * head transposes, (B, nh, T, T) intermediates and their gradients that TF.js would keep to the end
   * of the backward pass.
   */
  private selfAttention(x: tf.Tensor3D, keyMask: KeyMask, name: string, dropout: Dropout): tf.Tensor3D {
    const [B, T, H] = x.shape;
    const nh = this.config.numAttentionHeads;
    const hd = H / nh;
    const rate = this.config.attentionProbsDropoutProb;
    // The 1/√hd of the scores is folded into the query's weights and bias: an (H, H) and an (H)
    // multiplication instead of one over the (B, nh, T, T) scores; exact when √hd is a power of two.
    const scale = 1 / Math.sqrt(hd);
    const heads = (t: tf.Tensor) => t.reshape([B, T, nh, hd]).transpose([0, 2, 1, 3]); // (B, nh, T, hd)
    const rows = (t: tf.Tensor) => t.transpose([0, 2, 1, 3]).reshape([B * T, H]) as tf.Tensor2D; // heads⁻¹, as (B·T, H)

    const attention = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      type Args = [tf.Tensor, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
      const [input, wq, bq, wk, bk, wv, bv, save] = args as Args;
      const flat = input.reshape([B * T, H]) as tf.Tensor2D;
      const wqScaled = tf.mul(wq, scale) as tf.Tensor2D;
      const q = heads(linear(flat, wqScaled, tf.mul(bq, scale) as tf.Tensor1D));
      const k = heads(linear(flat, wk, bk));
      const v = heads(linear(flat, wv, bv));
      const scores = matMul(q, k, false, true); // (B, nh, T, T)
      let probs: tf.Tensor;
      let dropped: tf.Tensor; // probs itself when dropout is off
      if (keyMask.valid) {
        // With the host kernels: the masked softmax and the dropout are one pass.
        const out = attentionProbsHost(scores, keyMask.valid, dropout.site(rate));
        [probs, dropped] = [out[0], out[1] ?? out[0]];
      } else {
        probs = tf.softmax(tf.add(scores, keyMask.add!));
        dropped = dropout(probs, rate);
      }
      save([flat, wqScaled, wk, wv, q, k, v, probs, dropped]);
      return {
        value: rows(matMul(dropped, v)).reshape([B, T, H]),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const [sx, swq, swk, swv, sq, sk, sv, sp, sd] = saved as tf.Tensor2D[];
            const dContext = heads(dy); // (B, nh, T, hd)
            const dDropped = matMul(dContext, sv, false, true); // (B, nh, T, T)
            const dv = matMul(sd, dContext, true, false);
            // Softmax's backward, dScores = p ⊙ (dp − Σ dp ⊙ p), with dp = dDropped ⊙ mask, so that
            // p ⊙ dp = dDropped ⊙ dropped: the mask itself is never needed.
            const dScores = keyMask.valid ? attentionScoresGradHost(dDropped, sd, sp) : softmaxDropoutGrad(dDropped, sd, sp);
            const dq = matMul(dScores, sk); // with respect to the scaled query
            const dk = matMul(dScores, sq, true, false);
            const [dxq, dwq, dbq] = linearGrads(rows(dq), sx, swq, true);
            const [dxk, dwk, dbk] = linearGrads(rows(dk), sx, swk, true);
            const [dxv, dwv, dbv] = linearGrads(rows(dv), sx, swv, true);
            const dx = tf.addN([dxq, dxk, dxv]).reshape([B, T, H]);
            return [dx, tf.mul(dwq, scale), tf.mul(dbq, scale), dwk, dbk, dwv, dbv];
          }),
      };
    });
    const p = (part: string, kind: string) => this.p(`${name}.${part}.${kind}`);
    return attention(x, p('query', 'weight'), p('query', 'bias'), p('key', 'weight'), p('key', 'bias'), p('value', 'weight'), p('value', 'bias')) as tf.Tensor3D;
  }

  /** BertSelfOutput / BertOutput: dense, dropout, then LayerNorm of the residual sum (post-LN). */
  private addAndNorm(x: tf.Tensor, residual: tf.Tensor3D, name: string, dropout: Dropout): tf.Tensor3D {
    if (hostKernels()) {
      const ln = (kind: string) => this.p(`${name}.LayerNorm.${kind}`);
      const site = dropout.site(this.config.hiddenDropoutProb);
      return addNormHost(this.dense(x, `${name}.dense`), residual, ln('weight'), ln('bias'), this.config.layerNormEps, site) as tf.Tensor3D;
    }
    const projected = dropout(this.dense(x, `${name}.dense`), this.config.hiddenDropoutProb);
    return this.layerNorm(tf.add(projected, residual), `${name}.LayerNorm`) as tf.Tensor3D;
  }

  private pooler(hidden: tf.Tensor3D): tf.Tensor2D {
    const [B, , H] = hidden.shape;
    const cls = hidden.slice([0, 0, 0], [B, 1, H]).reshape([B, H]); // (B, H), the [CLS] position
    return tf.tanh(this.dense(cls, 'bert.pooler.dense')) as tf.Tensor2D;
  }

  /** x·W + b over the last axis, computed as one 2-D product, with the parameters `<name>.weight`, `<name>.bias`. */
  dense(x: tf.Tensor, name: string): tf.Tensor {
    const weight = this.p(`${name}.weight`); // (in, out)
    const [inDim, outDim] = weight.shape;
    const flat = x.reshape([-1, inDim]) as tf.Tensor2D;
    const y = linear(flat, weight as tf.Tensor2D, this.p(`${name}.bias`) as tf.Tensor1D);
    return y.reshape([...x.shape.slice(0, -1), outDim]);
  }

  /** LayerNorm over the last axis with the parameters `<name>.weight`, `<name>.bias`. */
  layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const eps = this.config.layerNormEps;
    // One op with its own backward pass, which keeps only x̂ and 1/σ (TF.js's would keep every
    // intermediate, and take the gradient of rsqrt with the slow Pow).
    const norm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const centered = tf.sub(input, tf.mean(input, -1, true));
      const variance = tf.mean(tf.square(centered), -1, true); // biased, as torch.nn.LayerNorm
      const rstd = tf.rsqrt(tf.add(variance, eps));
      const normalized = tf.mul(centered, rstd);
      save([normalized, rstd, gamma]);
      return {
        value: tf.add(tf.mul(normalized, gamma), beta),
        gradFunc: (dy: tf.Tensor, [xHat, r, g]: tf.Tensor[]) =>
          tf.tidy(() => {
            const size = g.shape[0];
            const rows = (dy: tf.Tensor) => dy.reshape([-1, size]) as tf.Tensor2D;
            const dGamma = columnSums(rows(tf.mul(dy, xHat)), true);
            const dBeta = columnSums(rows(dy));
            // dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / σ with ĝ = dy·γ
            const dNormalized = tf.mul(dy, g);
            const projection = tf.mul(xHat, tf.mean(tf.mul(dNormalized, xHat), -1, true));
            const dx = tf.mul(tf.sub(tf.sub(dNormalized, tf.mean(dNormalized, -1, true)), projection), r);
            return [dx, dGamma, dBeta];
          }),
      };
    });
    return norm(x, this.p(`${name}.weight`), this.p(`${name}.bias`));
  }

  private p(name: string): tf.Variable {
    const param = this.params.get(name);
    if (!param) throw new Error(`BERT parameter ${name} is missing`);
    return param;
  }
}

/** The exact GELU of BERT: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return hostKernels() ? geluHost(x) : geluStock(x);
}

/** `gelu` in stock TF.js ops (the backends whose data JS cannot reach). */
export function geluStock(x: tf.Tensor): tf.Tensor {
  // Its own backward pass: d/dx x·Φ(x) = Φ(x) + x·φ(x), with Φ(x) kept from the forward pass (no
  // second erf) and φ(x) = exp(−x²/2)/√(2π) computed as s/(1 − s) with s = sigmoid(−x²/2): wasm's
  // Exp is scalar, its Sigmoid vectorised (2.5× faster for the three ops).
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const cdf = tf.mul(tf.add(1, tf.erf(tf.div(input, Math.SQRT2))), 0.5); // Φ(x)
    save([input, cdf]);
    return {
      value: tf.mul(input, cdf), // = (0.5·x)·(1 + erf): halving is exact
      gradFunc: (dy: tf.Tensor, [xs, cdf]: tf.Tensor[]) =>
        tf.tidy(() => {
          // Each (B·T, I) intermediate is freed as soon as it is used.
          const then = (t: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor) => {
            const next = f(t);
            t.dispose();
            return next;
          };
          const s = then(then(tf.square(xs), (t) => tf.mul(t, -0.5)), tf.sigmoid);
          const complement = tf.sub(1, s);
          let g = tf.div(s, complement); // exp(−x²/2)
          tf.dispose([s, complement]);
          g = then(g, (t) => tf.mul(t, 1 / Math.sqrt(2 * Math.PI))); // φ(x)
          g = then(g, (t) => tf.mul(xs, t));
          g = then(g, (t) => tf.add(cdf, t)); // Φ(x) + x·φ(x)
          return then(g, (t) => tf.mul(dy, t));
        }),
    };
  });
  return op(x);
}

/** The attention's key mask: additive (stock ops), or one flag per key (host kernels). */
interface KeyMask {
  add?: tf.Tensor;
  valid?: Uint8Array;
}

/** (B, T) mask of 1/0 → (B·T) flags, 1 for a real token. */
function keyValidity(attentionMask: tf.Tensor2D): Uint8Array {
  const mask = attentionMask.dataSync();
  return Uint8Array.from(mask, (m) => (m !== 0 ? 1 : 0));
}

/** Softmax's backward pass through dropout, dScores = t − p·Σ t with t = dDropped ⊙ dropped, in stock ops. */
function softmaxDropoutGrad(dDropped: tf.Tensor, dropped: tf.Tensor, probs: tf.Tensor): tf.Tensor {
  const t = tf.mul(dDropped, dropped);
  return tf.sub(t, tf.mul(probs, tf.sum(t, -1, true)));
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

/**
 * The dropouts of one forward pass, in order: called on a tensor, applies the next site's mask;
 * `site` hands the next site to a kernel that applies the mask itself. Either way every dropout
 * counts as a site, whatever its rate, so that the sites keep their indices on every path.
 */
interface Dropout {
  (x: tf.Tensor, rate: number): tf.Tensor;
  site(rate: number): KernelDropout | undefined;
}

/**
 * Dropout that is the identity at evaluation time and, while training, draws each site's mask from
 * (seed, the site's index in the forward pass, global row, position in the row): see ops/dropout.ts.
 */
function dropoutFn(options: ForwardOptions): Dropout {
  if (!options.training) return Object.assign((x: tf.Tensor) => x, { site: () => undefined });
  const seed = options.dropoutSeed ?? Math.floor(Math.random() * 2 ** 31);
  const firstRow = options.firstRow ?? 0;
  if (!(Number.isInteger(firstRow) && firstRow >= 0)) throw new Error(`forward: firstRow ${firstRow} is not a row index`);
  let next = 0;
  const site = (rate: number): KernelDropout | undefined => {
    const where = { seed, site: next++, firstRow };
    return rate > 0 ? { rate, where } : undefined;
  };
  return Object.assign(
    (x: tf.Tensor, rate: number) => {
      const d = site(rate);
      return d ? seededDropout(x, d.rate, d.where) : x;
    },
    { site },
  );
}

/**
 * Row lookup (`gather`) whose gradient sums the incoming rows into a table-shaped tensor. TF.js's own
 * gather gradient needs `UnsortedSegmentSum`, which the wasm backend lacks; `ScatterNd` sums
 * repeated indices the same way and is there.
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor2D {
  const [rows, width] = table.shape;
  // Where the data is reachable from JS (wasm, cpu), the rows are copied, and their gradients added,
  // in JS: wasm's Gather and ScatterNd go element by element (8 ms and 3 ms for 2048 rows of 256).
  const inRange = (index: Int32Array) => index.every((id) => id >= 0 && id < rows);
  const gather = (t: tf.Tensor, i: tf.Tensor): tf.Tensor => {
    const index = i.dataSync() as Int32Array;
    const source = inRange(index) ? hostData(t) : undefined;
    if (!source) return tf.gather(t, i);
    const out = new Float32Array(index.length * width);
    index.forEach((id, k) => out.set(source.subarray(id * width, (id + 1) * width), k * width));
    return tf.tensor2d(out, [index.length, width]);
  };
  const scatterAdd = (i: tf.Tensor, dy: tf.Tensor, table: tf.Tensor): tf.Tensor => {
    const index = i.dataSync() as Int32Array;
    const grad = tf.zerosLike(table); // (a kernel's fill, not a JS array copied in) before the views are taken
    const [g, d] = [hostData(grad), hostData(dy)];
    if (!g || !d || !inRange(index)) {
      grad.dispose();
      return tf.scatterND(i.expandDims(1), dy, [rows, width]);
    }
    index.forEach((id, k) => {
      for (let j = 0, to = id * width, from = k * width; j < width; j++) g[to + j] += d[from + j];
    });
    return grad;
  };
  // TF.js passes the inputs then the save function, all through one rest parameter.
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: gather(t, i),
      gradFunc: (dy: tf.Tensor, [savedIds]: tf.Tensor[]) => [scatterAdd(savedIds, dy, t), tf.zerosLike(savedIds)],
    };
  });
  return lookup(table, ids) as tf.Tensor2D;
}
