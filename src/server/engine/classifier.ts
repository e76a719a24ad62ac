/**
 * A fine-tuned (or base) BERT classifier, loaded from a model reference and ready to predict.
 * This is what the language server, the CLI and the tests call for inference.
 */
import * as tf from './tf';
import { initBackend, type BackendChoice } from './backend';
import { BertForSequenceClassification } from './bert';
import { bertParamsFromCheckpoint } from './checkpoint/bert-weights';
import { readWeightsFolder } from './checkpoint/weights-file';
import type { ClassifierInfo, PredictOptions, Prediction } from './classifier-api';
import { resolveModelRef, type HubOptions } from './hub';
import { readBertConfig } from './model-config';
import { Tokenizer, type EncodedBatch, type Encoding } from './tokenizer';
import { evaluationBatches } from './train/batches';
import type { ClassificationMetrics } from './train/metrics';
import { batchTensors, evaluate, type LabelledText } from './train/trainer';
import { cleanText, type CleanOptions } from './data';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonFile } from './model-config';

export type { ClassifierInfo, PredictOptions, Prediction } from './classifier-api';

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
  warnings: string[];
}

/** `preprocessing.json` of a model fine-tuned here. */
export interface Preprocessing {
  clean: CleanOptions;
  maxLength: number;
}

function readPreprocessing(modelDir: string): Preprocessing | undefined {
  const file = join(modelDir, 'preprocessing.json');
  return existsSync(file) ? (parseJsonFile(file) as unknown as Preprocessing) : undefined;
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

  dispose(): void {
    for (const p of this.loaded.model.params.values()) p.dispose();
  }

  /** Prepares texts exactly as in training (the model's cleaning and max length), then tokenizes them. */
  private encode(texts: string[], maxLength?: number): Encoding[] {
    const { preprocessing, tokenizer } = this.loaded;
    const length = Math.min(maxLength ?? preprocessing?.maxLength ?? this.maxLength, this.maxLength);
    const prepare = (text: string) => (preprocessing ? cleanText(text, preprocessing.clean) : text);
    return texts.map((text) => tokenizer.encode(prepare(text), undefined, length));
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
    const probs = softmax(logits);
    const best = probs.indexOf(Math.max(...probs));
    return { text, label: labels[best], probs: Object.fromEntries(labels.map((l, i) => [l, probs[i]])), logits };
  }
}

export function loadClassifier(modelRef: string, options: LoadOptions = {}): Promise<Classifier> {
  return Classifier.load(modelRef, options);
}

function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
