/**
 * A BERT with its masked-LM head, read from a model folder: the encoder as the classifier reads it,
 * without the pooler and the classifier (Hugging Face's `BertForMaskedLM` has neither), and the head
 * `cls.predictions` from the checkpoint when it has one, else fresh.
 */
import { BertForSequenceClassification } from '../bert';
import { bertParamsFromCheckpoint } from '../checkpoint/bert-weights';
import { readWeightsFolder } from '../checkpoint/weights-file';
import { readBertConfig } from '../model-config';
import { Tokenizer } from '../tokenizer';
import { MLM_HEAD, mlmHeadParams } from './head';

export interface LoadedMaskedLM {
  modelDir: string;
  model: BertForSequenceClassification;
  tokenizer: Tokenizer;
  rawConfig: Record<string, unknown>;
  warnings: string[];
}

const NOT_IN_A_MASKED_LM = /^(bert\.pooler\.|classifier\.)/;

export async function loadMaskedLM(modelDir: string, seed = 42): Promise<LoadedMaskedLM> {
  const { config, raw } = readBertConfig(modelDir);
  const tokenizer = Tokenizer.load(modelDir);
  const weights = await readWeightsFolder(modelDir);
  const { params } = bertParamsFromCheckpoint(weights.tensors, config, weights.file, { seed });
  for (const [name, param] of [...params]) {
    if (!NOT_IN_A_MASKED_LM.test(name)) continue;
    param.dispose();
    params.delete(name);
  }
  const head = mlmHeadParams(weights.tensors, config, seed + 1);
  for (const [name, param] of head.params) params.set(name, param);
  const warnings = head.fresh ? [`${weights.file} has no masked-LM head (${MLM_HEAD}); it was initialised fresh.`] : [];
  return { modelDir, model: new BertForSequenceClassification(config, params), tokenizer, rawConfig: raw, warnings };
}

export function disposeModel(model: BertForSequenceClassification): void {
  for (const p of model.params.values()) p.dispose();
}
