/**
 * The engine's public face for inference, as used by the language server, the CLI and tests.
 * (Declared first so that the server can be written against it; implemented in classifier.ts.)
 */

export interface Prediction {
  text: string;
  /** The predicted class name (from the model's id2label). */
  label: string;
  /** Every class's probability, keyed by class name, in id order. */
  probs: Record<string, number>;
  logits: number[];
}

export interface ClassifierInfo {
  /** The folder the model was read from (for a Hub id, its cache folder). */
  modelDir: string;
  /** What the user asked for: a path or a Hub id. */
  modelRef: string;
  labels: string[];
  /** The TF.js backend in use: 'tensorflow' (tfjs-node/-gpu), 'wasm' or 'cpu'. */
  backend: string;
  numParameters: number;
  /** Notes made while loading, e.g. "classifier head initialised randomly". */
  warnings: string[];
}

export interface PredictOptions {
  /** Truncate to this many tokens including [CLS] and [SEP] (default: the model's, at most 512). */
  maxLength?: number;
  batchSize?: number;
}
