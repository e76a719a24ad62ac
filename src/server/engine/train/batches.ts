/**
 * Batches for training and evaluation. Training batches group examples of similar length (as the
 * Hugging Face Trainer's `group_by_length`), so that padding each batch to its own longest member
 * (dynamic padding) wastes little work, while the order stays random from epoch to epoch.
 */
import { Random, deriveSeed } from '../random';

/** Examples per "megabatch" that is sorted by length before being cut into batches (the Trainer's factor). */
const MEGABATCH_BATCHES = 50;

/**
 * Index batches for one epoch: shuffle, sort by length within megabatches, cut into batches, and
 * shuffle the batch order. The same seed and epoch always give the same batches.
 */
export function trainingBatches(lengths: number[], batchSize: number, seed: number, epoch: number): number[][] {
  const random = new Random(deriveSeed(seed, epoch));
  const order = random.shuffle(lengths.map((_, i) => i));
  const megabatch = batchSize * MEGABATCH_BATCHES;
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += megabatch) {
    const group = order.slice(start, start + megabatch).sort((a, b) => lengths[b] - lengths[a]);
    for (let b = 0; b < group.length; b += batchSize) batches.push(group.slice(b, b + batchSize));
  }
  return random.shuffle(batches);
}

/** Evaluation batches: sorted by length for the least padding; order does not matter. */
export function evaluationBatches(lengths: number[], batchSize: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b]);
  const batches: number[][] = [];
  for (let b = 0; b < order.length; b += batchSize) batches.push(order.slice(b, b + batchSize));
  return batches;
}
