/**
 * A fine-tuned (or base) BERT classifier, loaded from a model reference and ready to predict.
 * This is what the language server, the CLI and the tests call for inference.
 */
import * as tf from './tf';
import { initBackend, type BackendChoice } from './backend';
import { BertForSequenceClassification } from './bert';
import { bertParamsFromCheckpoint } from './checkpoint/bert-weights';
import { readWeightsFolder } from './checkpoint/weights-file';
import type { ClassifierInfo, ExplainOptions, Explanation, PredictOptions, Prediction } from './classifier-api';
import { integratedGradients } from './explain/integrated-gradients';
import { CALIBRATION_FILE, softmaxWithTemperature, type Calibration } from './train/calibration';
import { mergeWordPieces } from './explain/words';
import { resolveModelRef, type HubOptions } from './hub';
import { readBertConfig } from './model-config';
import { Tokenizer, type EncodedBatch, type Encoding } from './tokenizer';
import { evaluationBatches } from './train/batches';
import type { ClassificationMetrics } from './train/metrics';
import { batchTensors, evaluate, type LabelledText } from './train/trainer';
import { cleanText, type CleanOptions } from './data';
import { UserError } from './errors';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonFile } from './model-config';

export type { ClassifierInfo, ExplainOptions, Explanation, PredictOptions, Prediction } from './classifier-api';

export interface LoadOptions extends HubOptions {
  backend?: BackendChoice;
  /** Seed for heads that have to be initialised fresh. */
  seed?: number;
}

/** A model folder read into memory: the model, its tokenizer and what loading it noted. */
export interface LoadedModel {
  modelDir: string;
  model: BertForSequenceClassification;
  tokenizer: Tokenizer;
  rawConfig: Record<string, unknown>;
  weightsFile: string;
  /** How the texts were prepared in training, so that prediction prepares them the same way. */
  preprocessing?: Preprocessing;
  /** calibration.json of a model fine-tuned here: the temperature (and threshold) predictions use. */
  calibration?: Calibration;
  warnings: string[];
}

/** `preprocessing.json` of a model fine-tuned here. */
export interface Preprocessing {
  clean: CleanOptions;
  maxLength: number;
  /** The data it was fine-tuned on (absolute) and how that was split when it had no splits of its own. */
  split?: { data: string; validationSplit?: number; testSplit?: number; seed?: number };
}

function readPreprocessing(modelDir: string): Preprocessing | undefined {
  const file = join(modelDir, 'preprocessing.json');
  return existsSync(file) ? (parseJsonFile(file) as unknown as Preprocessing) : undefined;
}

/** calibration.json, when it is there and sound; a damaged one is ignored with a warning. */
function readCalibration(modelDir: string, warnings: string[]): Calibration | undefined {
  const file = join(modelDir, CALIBRATION_FILE);
  if (!existsSync(file)) return undefined;
  const calibration = parseJsonFile(file) as unknown as Calibration;
  const { temperature, threshold } = calibration;
  const sound = typeof temperature === 'number' && temperature > 0 && Number.isFinite(temperature) &&
    (threshold === undefined || (typeof threshold === 'number' && threshold > 0 && threshold < 1));
  if (sound) return calibration;
  warnings.push(`${file} holds no usable temperature or threshold; predictions use the raw probabilities.`);
  return undefined;
}

/**
 * Reads config.json, the tokenizer and the weights of a local model folder. With `labels` (to
 * fine-tune on data with those classes), a classifier trained for other classes is replaced by a
 * fresh one; a base model's unnamed classes (LABEL_0, LABEL_1, …) are simply renamed.
 */
export async function loadModelFolder(modelDir: string, options: { seed?: number; labels?: string[] } = {}): Promise<LoadedModel> {
  const { config, raw } = readBertConfig(modelDir);
  const tokenizer = Tokenizer.load(modelDir);
  const weights = await readWeightsFolder(modelDir);
  const freshClassifier = options.labels !== undefined && classifierForOtherClasses(config.id2label, options.labels);
  if (options.labels) config.id2label = options.labels;
  const { params, warnings } = bertParamsFromCheckpoint(weights.tensors, config, weights.file, { seed: options.seed, freshClassifier });
  return {
    modelDir,
    model: new BertForSequenceClassification(config, params),
    tokenizer,
    rawConfig: raw,
    weightsFile: weights.file,
    preprocessing: readPreprocessing(modelDir),
    calibration: options.labels ? undefined : readCalibration(modelDir, warnings),
    warnings,
  };
}

/** A classifier for other named classes cannot serve the data's; a different count is caught by the shape check. */
function classifierForOtherClasses(modelLabels: string[], dataLabels: string[]): boolean {
  if (modelLabels.length !== dataLabels.length) return false;
  const unnamed = modelLabels.every((l, i) => l === `LABEL_${i}`);
  return !unnamed && modelLabels.some((l, i) => l !== dataLabels[i]);
}

export class Classifier {
  private constructor(
    readonly loaded: LoadedModel,
    readonly info: ClassifierInfo,
  ) {}

  static async load(modelRef: string, options: LoadOptions = {}): Promise<Classifier> {
    const backend = await initBackend(options.backend ?? 'auto');
    const modelDir = await resolveModelRef(modelRef, options);
    const loaded = await loadModelFolder(modelDir, { seed: options.seed });
    const { config } = loaded.model;
    return new Classifier(loaded, {
      modelDir,
      modelRef,
      labels: config.id2label,
      backend: backend.name,
      numParameters: loaded.model.numParameters,
      warnings: loaded.warnings,
    });
  }

  /** The longest input the model takes: its position table, and the tokenizer's own limit. */
  get maxLength(): number {
    const { config } = this.loaded.model;
    return Math.min(config.maxPositionEmbeddings, this.loaded.tokenizer.modelMaxLength ?? Infinity, 512);
  }

  /** Class probabilities and logits for each text. Texts are batched by length so that little padding is computed. */
  async predict(texts: string[], options: PredictOptions = {}): Promise<Prediction[]> {
    const encodings = this.encode(texts, options.maxLength);
    const logits: number[][] = new Array(texts.length);
    for (const rows of evaluationBatches(encodings.map((e) => e.inputIds.length), options.batchSize ?? 32)) {
      const batchLogits = await this.logits(this.loaded.tokenizer.pad(rows.map((i) => encodings[i])));
      rows.forEach((row, k) => (logits[row] = batchLogits[k]));
    }
    return texts.map((text, i) => this.describe(text, logits[i]));
  }

  /** Loss, accuracy, per-class scores and the confusion matrix on labelled texts (label ids in the model's order). */
  evaluate(examples: LabelledText[], options: PredictOptions = {}): ClassificationMetrics {
    const encodings = this.encode(examples.map((e) => e.text), options.maxLength);
    return evaluate(this.loaded.model, this.loaded.tokenizer, encodings, examples, this.info.labels);
  }

  /**
   * The words that pushed the text toward its predicted class (or `options.label`) and away from
   * it, by Integrated Gradients on the word embeddings. Costs about `steps` forward and backward
   * passes of the text: computed on demand, cancellable through `options.signal`.
   */
  async explain(text: string, options: ExplainOptions = {}): Promise<Explanation> {
    const { tokenizer } = this.loaded;
    const [encoding] = this.encode([text], options.maxLength);
    const [prediction] = await this.predict([text], { maxLength: options.maxLength });
    const label = options.label ?? prediction.label;
    const target = this.info.labels.indexOf(label);
    if (target < 0) throw new UserError({ kind: 'bad-argument', message: `The model has no class "${label}".`, fix: `Name one of ${this.info.labels.join(', ')}.` });
    const attributions = await integratedGradients(this.loaded.model, encoding, tokenizer.padId, [tokenizer.clsId, tokenizer.sepId], {
      target,
      steps: options.steps,
      signal: options.signal,
    });
    const seen = this.prepare(text);
    const pieces = tokenizer.tokenize(seen).slice(0, encoding.inputIds.length - 2);
    return {
      text: seen,
      label,
      probability: prediction.probs[label],
      words: mergeWordPieces(pieces, attributions.scores.slice(1, 1 + pieces.length), seen),
      scoreDifference: attributions.scoreDifference,
      completenessError: attributions.completenessError,
      steps: attributions.steps,
      tokens: encoding.inputIds.length,
    };
  }

  dispose(): void {
    for (const p of this.loaded.model.params.values()) p.dispose();
  }

  /** Prepares texts exactly as in training (the model's cleaning and max length), then tokenizes them. */
  private encode(texts: string[], maxLength?: number): Encoding[] {
    const { preprocessing, tokenizer } = this.loaded;
    const length = Math.min(maxLength ?? preprocessing?.maxLength ?? this.maxLength, this.maxLength);
    return texts.map((text) => tokenizer.encode(this.prepare(text), undefined, length));
  }

  /** The model's own cleaning of a text, as in training. */
  private prepare(text: string): string {
    const { preprocessing } = this.loaded;
    return preprocessing ? cleanText(text, preprocessing.clean) : text;
  }

  private async logits(batch: EncodedBatch): Promise<number[][]> {
    const logits = tf.tidy(() => this.loaded.model.logits(batchTensors(batch)));
    try {
      return (await logits.array()) as number[][];
    } finally {
      logits.dispose();
    }
  }

  private describe(text: string, logits: number[]): Prediction {
    const labels = this.info.labels;
    const calibration = this.loaded.calibration;
    const probs = softmaxWithTemperature(logits, calibration?.temperature ?? 1);
    const threshold = labels.length === 2 ? calibration?.threshold : undefined;
    const best = threshold !== undefined ? (probs[1] >= threshold ? 1 : 0) : probs.indexOf(Math.max(...probs));
    return { text, label: labels[best], probs: Object.fromEntries(labels.map((l, i) => [l, probs[i]])), logits };
  }
}

export function loadClassifier(modelRef: string, options: LoadOptions = {}): Promise<Classifier> {
  return Classifier.load(modelRef, options);
}

