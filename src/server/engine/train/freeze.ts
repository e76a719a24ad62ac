/**
 * Partial fine-tuning: which parameters stay as the base model has them. The BERT paper fine-tunes
 * everything; with little data or little time, freezing the embeddings, the bottom encoder layers,
 * or everything but the head (the pooler and the classifier) trains faster and overfits less.
 */
import type { BertForSequenceClassification } from '../bert';

export interface FreezeSpec {
  /** Word, position and token-type embeddings and their LayerNorm. */
  embeddings: boolean;
  /** The bottom N encoder layers. */
  layers: number;
  /** Everything but `bert.pooler` and `classifier`. */
  allButHead: boolean;
}

export function isFrozen(name: string, spec: FreezeSpec): boolean {
  const isHead = name.startsWith('bert.pooler.') || name.startsWith('classifier.');
  if (spec.allButHead) return !isHead;
  if (spec.embeddings && name.startsWith('bert.embeddings.')) return true;
  const layer = /^bert\.encoder\.layer\.(\d+)\./.exec(name);
  return layer !== null && Number(layer[1]) < spec.layers;
}

/** Marks frozen parameters untrainable (no gradient is computed for them); returns the number of trainable values. */
export function freezeParameters(model: BertForSequenceClassification, spec: FreezeSpec): number {
  let trainable = 0;
  for (const [name, param] of model.params) {
    param.trainable = !isFrozen(name, spec);
    if (param.trainable) trainable += param.size;
  }
  return trainable;
}
