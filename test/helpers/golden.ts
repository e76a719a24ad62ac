/** The tiny-bert fixture and its golden outputs from Hugging Face's reference implementation. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(__dirname, '..', 'fixtures');
export const TINY_BERT = join(FIXTURES, 'tiny-bert');

type Nested = number | Nested[];

export interface Golden {
  max_length: number;
  samples: { text: string; tokens: string[]; input_ids: number[]; input_ids_truncated_16: number[] }[];
  batch: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[]; max_length: number };
  outputs: {
    embedding_output: Nested;
    layer_0_output: Nested;
    last_hidden_state: Nested;
    pooler_output: Nested;
    logits: number[][];
    probs: number[][];
    loss: number;
  };
  gradients: {
    'classifier.weight': number[][];
    'bert.pooler.dense.bias': number[];
    'bert.encoder.layer.1.output.LayerNorm.weight': number[];
    'bert.embeddings.word_embeddings.weight': Record<string, number[]>;
  };
}

export function loadGolden(): Golden {
  return JSON.parse(readFileSync(join(TINY_BERT, 'golden.json'), 'utf8'));
}

/** Largest absolute difference between two equally shaped nested arrays (flattened). */
export function maxAbsDiff(actual: ArrayLike<number>, expected: Nested): number {
  const flat = [expected].flat(Infinity as 1) as number[];
  if (flat.length !== actual.length) throw new Error(`length ${actual.length} ≠ expected ${flat.length}`);
  let max = 0;
  for (let i = 0; i < flat.length; i++) max = Math.max(max, Math.abs(actual[i] - flat[i]));
  return max;
}
