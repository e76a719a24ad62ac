/**
 * BERT's masked-LM corruption (Devlin et al. 2019, §3.1; Hugging Face's
 * `DataCollatorForLanguageModeling`): each real, non-special token is chosen with probability 15%;
 * a chosen token becomes [MASK] 80% of the time, a random token 10%, and stays itself 10%. The model
 * is asked to predict the original token at every chosen position.
 */
import { Random } from '../random';
import type { EncodedBatch } from '../tokenizer';

export interface MaskingOptions {
  /** Share of the tokens chosen for prediction (BERT: 0.15). */
  probability: number;
  maskTokenId: number;
  vocabSize: number;
  /** [CLS], [SEP], [PAD]…: never chosen. */
  specialTokenIds: ReadonlySet<number>;
}

export interface MaskedBatch {
  /** The batch with the chosen tokens corrupted. */
  batch: EncodedBatch;
  /** Flat indices (row · seqLen + position) of the chosen tokens, in order. */
  positions: Int32Array;
  /** The original token at each chosen position: the labels. */
  targets: Int32Array;
}

/** Corrupts a padded batch; the same `random` state always chooses the same tokens. */
export function maskTokens(batch: EncodedBatch, random: Random, options: MaskingOptions): MaskedBatch {
  const inputIds = Int32Array.from(batch.inputIds);
  const candidates: number[] = [];
  const chosen: number[] = [];
  for (let i = 0; i < inputIds.length; i++) {
    if (batch.attentionMask[i] === 0 || options.specialTokenIds.has(inputIds[i])) continue;
    candidates.push(i);
    if (random.next() < options.probability) chosen.push(i);
  }
  // A batch of very short texts may draw no token at all: predict one, so every step has a loss.
  if (chosen.length === 0 && candidates.length > 0) chosen.push(candidates[random.int(candidates.length)]);
  const targets = Int32Array.from(chosen, (i) => inputIds[i]);
  for (const i of chosen) {
    const r = random.next();
    if (r < 0.8) inputIds[i] = options.maskTokenId;
    else if (r < 0.9) inputIds[i] = random.int(options.vocabSize);
  }
  return { batch: { ...batch, inputIds }, positions: Int32Array.from(chosen), targets };
}
