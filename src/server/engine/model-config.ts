/**
 * The model's `config.json`, in Hugging Face's layout, read into the few numbers BERT needs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors';

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: 'gelu';
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  /** Dropout before the classifier; Hugging Face falls back to hiddenDropoutProb when null. */
  classifierDropout: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  initializerRange: number;
  padTokenId: number;
  /** Class names by id; `LABEL_0`, `LABEL_1` when the config names none (Hugging Face's default). */
  id2label: string[];
}

/** Model families whose checkpoints have BERT's exact layout. */
const SUPPORTED_MODEL_TYPES = ['bert'];

export function readBertConfig(modelDir: string): { config: BertConfig; raw: Record<string, unknown> } {
  const file = join(modelDir, 'config.json');
  if (!existsSync(file)) {
    throw new UserError({
      kind: 'missing-file',
      message: `No config.json in the model folder ${modelDir}.`,
      file,
      fix: 'Point the model setting at a Hugging Face model folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json or vocab.txt), or at a Hub id.',
    });
  }
  const raw = parseJsonFile(file);
  return { config: bertConfigFromJson(raw, file), raw };
}

export function bertConfigFromJson(raw: Record<string, unknown>, file: string): BertConfig {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !SUPPORTED_MODEL_TYPES.includes(modelType)) {
    throw new UserError({
      kind: 'unsupported-model',
      message: `model_type ${JSON.stringify(modelType)} is not supported; this engine runs ${SUPPORTED_MODEL_TYPES.join(', ')} models.`,
      file,
      fix: 'Choose a BERT checkpoint (model_type "bert"), e.g. google/bert_uncased_L-4_H-256_A-4 or bert-base-uncased.',
    });
  }
  const act = raw.hidden_act ?? 'gelu';
  if (act !== 'gelu') {
    throw new UserError({
      kind: 'unsupported-model',
      message: `hidden_act ${JSON.stringify(act)} is not supported (only the exact "gelu").`,
      file,
      fix: 'Choose a standard BERT checkpoint.',
    });
  }
  const positionType = raw.position_embedding_type ?? 'absolute';
  if (positionType !== 'absolute') {
    throw new UserError({
      kind: 'unsupported-model',
      message: `position_embedding_type ${JSON.stringify(positionType)} is not supported (only "absolute").`,
      file,
      fix: 'Choose a standard BERT checkpoint.',
    });
  }
  const num = (key: string, fallback?: number): number => numberField(raw, key, file, fallback);
  const hiddenDropoutProb = num('hidden_dropout_prob', 0.1);
  const config: BertConfig = {
    vocabSize: num('vocab_size'),
    hiddenSize: num('hidden_size'),
    numHiddenLayers: num('num_hidden_layers'),
    numAttentionHeads: num('num_attention_heads'),
    intermediateSize: num('intermediate_size'),
    hiddenAct: 'gelu',
    hiddenDropoutProb,
    attentionProbsDropoutProb: num('attention_probs_dropout_prob', 0.1),
    classifierDropout: raw.classifier_dropout == null ? hiddenDropoutProb : num('classifier_dropout'),
    maxPositionEmbeddings: num('max_position_embeddings', 512),
    typeVocabSize: num('type_vocab_size', 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
    initializerRange: num('initializer_range', 0.02),
    padTokenId: num('pad_token_id', 0),
    id2label: labelsFromConfig(raw, file),
  };
  if (config.hiddenSize % config.numAttentionHeads !== 0) {
    throw new UserError({
      kind: 'bad-config',
      message: `hidden_size ${config.hiddenSize} is not a multiple of num_attention_heads ${config.numAttentionHeads}.`,
      file,
      fix: 'Fix config.json.',
    });
  }
  return config;
}

function labelsFromConfig(raw: Record<string, unknown>, file: string): string[] {
  const id2label = raw.id2label as Record<string, unknown> | undefined;
  if (id2label && typeof id2label === 'object' && Object.keys(id2label).length > 0) {
    const ids = Object.keys(id2label).map(Number).sort((a, b) => a - b);
    if (ids.some((id, i) => id !== i)) {
      throw new UserError({
        kind: 'bad-config',
        message: `id2label must number its classes 0..${ids.length - 1}, found ids ${ids.join(', ')}.`,
        file,
        fix: 'Fix id2label in config.json.',
      });
    }
    return ids.map((id) => String(id2label[String(id)]));
  }
  const numLabels = typeof raw.num_labels === 'number' ? raw.num_labels : 2;
  return Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
}

function numberField(raw: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new UserError({
      kind: 'bad-config',
      message: `config.json has no valid "${key}" (found ${JSON.stringify(raw[key])}).`,
      file,
      fix: `Add "${key}" to config.json.`,
    });
  }
  return value;
}

/** Parses a JSON file, turning a syntax error into a UserError with its line. */
export function parseJsonFile(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    throw new SyntaxError('expected a JSON object');
  } catch (e) {
    const message = (e as Error).message;
    const position = /position (\d+)/.exec(message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
    throw new UserError({ kind: 'bad-config', message: `Invalid JSON: ${message}.`, file, line, fix: 'Fix the JSON syntax.' });
  }
}

/** The config.json Hugging Face writes for a fine-tuned BertForSequenceClassification. */
export function bertConfigToJson(config: BertConfig, base: Record<string, unknown> = {}): Record<string, unknown> {
  const id2label = Object.fromEntries(config.id2label.map((name, id) => [String(id), name]));
  const label2id = Object.fromEntries(config.id2label.map((name, id) => [name, id]));
  return {
    ...base,
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    intermediate_size: config.intermediateSize,
    hidden_act: config.hiddenAct,
    hidden_dropout_prob: config.hiddenDropoutProb,
    attention_probs_dropout_prob: config.attentionProbsDropoutProb,
    max_position_embeddings: config.maxPositionEmbeddings,
    type_vocab_size: config.typeVocabSize,
    initializer_range: config.initializerRange,
    layer_norm_eps: config.layerNormEps,
    pad_token_id: config.padTokenId,
    position_embedding_type: 'absolute',
    id2label,
    label2id,
    problem_type: 'single_label_classification',
  };
}
