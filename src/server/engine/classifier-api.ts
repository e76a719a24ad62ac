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

/** Why the model gave a text its class: Integrated Gradients over its words (engine/explain). */
export interface Explanation {
  /** The text as the model saw it (after the model's cleaning and truncation to whole pieces). */
  text: string;
  /** The class explained (the predicted one unless another was asked for) and its probability. */
  label: string;
  probability: number;
  /** In reading order: > 0 pushed toward `label`, < 0 away from it. */
  words: { word: string; score: number; start?: number; end?: number }[];
  /** The explained class's logit minus the others' mean, at the text minus at the [PAD] baseline. */
  scoreDifference: number;
  /** |Σ scores − scoreDifference| / |scoreDifference|: Integrated Gradients' completeness, ≤ 0.05 when converged. */
  completenessError: number;
  /** Quadrature nodes (steps of the path integral) used. */
  steps: number;
  /** Tokens of the input, [CLS] and [SEP] included. */
  tokens: number;
}

export interface ExplainOptions {
  /** Explain this class instead of the predicted one. */
  label?: string;
  /** Quadrature nodes of the first try (default 20; 50 when it does not converge). */
  steps?: number;
  maxLength?: number;
  signal?: AbortSignal;
}
