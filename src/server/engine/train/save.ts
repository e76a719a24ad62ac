/**
 * Writing a model folder in Hugging Face's layout, so that `from_pretrained` in Python and this
 * engine both load it: config.json (with id2label/label2id), model.safetensors (Hugging Face key
 * names and [out, in] Linear weights), the tokenizer files of the base model, and whatever extra
 * JSON/text files the caller adds (training_args.json, metrics.json, README.md).
 *
 * Every file is written to a temporary name in the same folder and renamed into place, so a crash
 * or a full disk never leaves a half-written file under a real name.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BertForSequenceClassification } from '../bert';
import { bertParamsToCheckpoint } from '../checkpoint/bert-weights';
import { writeSafetensors } from '../checkpoint/safetensors';
import { bertConfigToJson } from '../model-config';
import { MLM_HEAD, mlmHeadToCheckpoint } from '../mlm/head';
import type { Tokenizer } from '../tokenizer';

/** Tokenizer files copied from the base model when present. */

export interface ModelFolderContents {
  model: BertForSequenceClassification;
  tokenizer: Tokenizer;
  /** The base model's config.json, whose other fields are kept. */
  baseConfig?: Record<string, unknown>;
  /** Extra files by name: objects are written as JSON, strings as they are. */
  extraFiles?: Record<string, object | string>;
}

export async function saveModelFolder(dir: string, contents: ModelFolderContents): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const { model, tokenizer } = contents;
  const maskedLM = model.params.has(`${MLM_HEAD}.bias`) && !model.params.has('classifier.weight');
  const tensors = bertParamsToCheckpoint(model.params, model.config);
  if (maskedLM) for (const [name, tensor] of mlmHeadToCheckpoint(model.params, model.config)) tensors.set(name, tensor);
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
  writeFileAtomic(join(dir, 'config.json'), json(maskedLM ? maskedLMConfig(model.config, contents.baseConfig) : bertConfigToJson(model.config, contents.baseConfig)));
  for (const [name, content] of tokenizer.files) writeFileAtomic(join(dir, name), content);
  for (const [name, content] of Object.entries(contents.extraFiles ?? {})) {
    writeFileAtomic(join(dir, name), typeof content === 'string' ? content : json(content));
  }
}

/** A BertForMaskedLM's config.json: a base model, with no classes of its own. */
function maskedLMConfig(config: BertForSequenceClassification['config'], base?: Record<string, unknown>): Record<string, unknown> {
  const { id2label, label2id, problem_type, ...rest } = bertConfigToJson(config, base);
  void [id2label, label2id, problem_type];
  return { ...rest, architectures: ['BertForMaskedLM'] };
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const temp = tempName(file);
  try {
    writeFileSync(temp, content, { flush: true });
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}

function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}
