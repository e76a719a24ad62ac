/**
 * From the tensors of a checkpoint file to BERT's parameters, and back.
 *
 * Checkpoints name the same tensors in several ways: with or without the `bert.` prefix (a
 * BertForSequenceClassification checkpoint vs a BertModel one), legacy `LayerNorm.gamma`/`beta`
 * (from TensorFlow conversions), with pre-training heads (`cls.*`) and buffers (`position_ids`) that
 * a classifier does not use. Names are normalised here by a short table of rules; every shape is
 * checked against the model's own list (`parameterSpecs`).
 */
import * as tf from '../tf';
import { parameterSpecs, type ParameterSpec } from '../bert';
import type { BertConfig } from '../model-config';
import { UserError } from '../errors';
import type { WeightTensor } from './safetensors';

export type CheckpointTensor = WeightTensor;

/** Parts of a checkpoint that a sequence classifier does not use. */
const IGNORED = [/^cls\./, /(^|\.)position_ids$/, /^bert\.embeddings\.position_ids$/];

/** Renames, applied in order, that turn a checkpoint key into a Hugging Face BertForSequenceClassification name. */
const RENAMES: [RegExp, string][] = [
  [/^(embeddings|encoder|pooler)\./, 'bert.$1.'], // BertModel checkpoints have no `bert.` prefix
  [/\.gamma$/, '.weight'], // legacy LayerNorm names
  [/\.beta$/, '.bias'],
];

/** Heads a base model may not have: initialised fresh (as Hugging Face does), with a warning. */
const FRESH_HEADS = ['bert.pooler.dense', 'classifier'];

export function normaliseKey(key: string): string | undefined {
  if (IGNORED.some((re) => re.test(key))) return undefined;
  return RENAMES.reduce((name, [re, replacement]) => name.replace(re, replacement), key);
}

export interface LoadedParams {
  params: Map<string, tf.Variable>;
  /** What the user should know: heads initialised fresh, keys ignored. */
  warnings: string[];
}

/**
 * Builds BERT's parameters from checkpoint tensors. A missing or differently shaped pooler or
 * classifier is initialised fresh (normal(0, initializer_range), zero bias); any other missing or
 * misshapen tensor is an error that names it.
 */
export function bertParamsFromCheckpoint(
  tensors: Map<string, CheckpointTensor>,
  config: BertConfig,
  file: string,
  options: { seed?: number; freshClassifier?: boolean } = {},
): LoadedParams {
  const seed = options.seed ?? 42;
  const byName = new Map<string, CheckpointTensor>();
  const unknown: string[] = [];
  const specs = parameterSpecs(config);
  const known = new Set(specs.map((s) => s.name));
  for (const [key, tensor] of tensors) {
    const name = normaliseKey(key);
    if (name === undefined) continue;
    if (known.has(name)) byName.set(name, tensor);
    else unknown.push(key);
  }

  const warnings: string[] = [];
  if (unknown.length > 0) {
    warnings.push(`Ignored ${unknown.length} tensor(s) a sequence classifier does not use: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}.`);
  }
  const fresh = freshHeads(specs, byName, file, warnings);
  if (options.freshClassifier && !fresh.has('classifier')) {
    fresh.add('classifier');
    warnings.push(`The classifier was initialised randomly for the classes ${config.id2label.join(', ')}.`);
  }
  const missing = specs.filter((s) => !byName.has(s.name) && !fresh.has(headOf(s.name)!));
  if (missing.length > 0) {
    throw new UserError({
      kind: 'bad-weights',
      message: `The weights in ${file} lack ${missing.length} BERT tensor(s): ${missing.slice(0, 5).map((s) => s.name).join(', ')}${missing.length > 5 ? ', …' : ''}.`,
      file,
      fix: 'Check that the folder holds a BERT checkpoint whose config.json matches its weights.',
    });
  }

  const params = new Map<string, tf.Variable>();
  let headSeed = seed;
  for (const spec of specs) {
    const tensor = byName.get(spec.name);
    const initial = tensor && !fresh.has(headOf(spec.name) ?? '') ? toModelLayout(tensor, spec) : freshParameter(spec, config, headSeed++);
    params.set(spec.name, tf.variable(initial));
    initial.dispose();
  }
  return { params, warnings };
}

/** The heads to initialise fresh: absent from the checkpoint, or shaped for another number of classes. */
function freshHeads(specs: ParameterSpec[], byName: Map<string, CheckpointTensor>, file: string, warnings: string[]): Set<string> {
  const fresh = new Set<string>();
  for (const head of FRESH_HEADS) {
    const headSpecs = specs.filter((s) => headOf(s.name) === head);
    const present = headSpecs.filter((s) => byName.has(s.name));
    if (present.length === 0) {
      fresh.add(head);
      warnings.push(`${head} is not in ${file}; it was initialised randomly and needs fine-tuning.`);
    } else if (head === 'classifier' && present.some((s) => !sameShape(byName.get(s.name)!.shape, torchShape(s)))) {
      fresh.add(head);
      warnings.push(`The classifier in ${file} has another number of classes; it was initialised randomly for ${headSpecs[1].shape[0]} classes.`);
    }
  }
  for (const spec of specs) {
    const tensor = byName.get(spec.name);
    if (!tensor || fresh.has(headOf(spec.name) ?? '')) continue;
    if (!sameShape(tensor.shape, torchShape(spec))) {
      throw new UserError({
        kind: 'shape-mismatch',
        message: `Tensor ${spec.name} in ${file} has shape [${tensor.shape.join(', ')}], but config.json implies [${torchShape(spec).join(', ')}].`,
        file,
        fix: 'The weights do not belong to this config.json: use the config.json that came with them.',
      });
    }
  }
  return fresh;
}

function headOf(name: string): string | undefined {
  return FRESH_HEADS.find((head) => name.startsWith(`${head}.`));
}

/** The shape PyTorch stores: Linear weights are [out, in]. */
function torchShape(spec: ParameterSpec): number[] {
  return spec.transposed ? [...spec.shape].reverse() : spec.shape;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function toModelLayout(tensor: CheckpointTensor, spec: ParameterSpec): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(tensor.data, tensor.shape, 'float32');
    return spec.transposed ? t.transpose() : t;
  });
}

/** Hugging Face's `_init_weights`: Linear weights normal(0, initializer_range), biases zero. */
function freshParameter(spec: ParameterSpec, config: BertConfig, seed: number): tf.Tensor {
  if (spec.name.endsWith('.bias')) return tf.zeros(spec.shape);
  return tf.randomNormal(spec.shape, 0, config.initializerRange, 'float32', seed);
}

/** The parameters in Hugging Face's layout and names, ready for `writeSafetensors`. */
export function bertParamsToCheckpoint(params: Map<string, tf.Variable>, config: BertConfig): Map<string, CheckpointTensor> {
  const out = new Map<string, CheckpointTensor>();
  for (const spec of parameterSpecs(config)) {
    const value = params.get(spec.name);
    if (!value) continue; // a masked language model has no pooler and no classifier
    // Not inside tf.tidy: a tidy walks a returned typed array element by element (0.5 s for a vocabulary).
    const transposed = spec.transposed ? value.transpose() : undefined;
    const data = Float32Array.from((transposed ?? value).dataSync() as Float32Array);
    transposed?.dispose();
    out.set(spec.name, { shape: torchShape(spec), dtype: 'F32', data });
  }
  return out;
}
