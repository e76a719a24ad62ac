/**
 * How a step's batch is split over data-parallel workers. Each worker gets a contiguous run of
 * rows, padded to the whole batch's length, and a loss scale that makes the shards' gradients add
 * up to the whole batch's: the batch loss is Σ wᵢ·lossᵢ / Σ wᵢ (wᵢ = 1 without class weights), so a
 * shard's share is its own weighted mean times (its Σ wᵢ) / (the batch's Σ wᵢ).
 */
import type { EncodedBatch } from '../../tokenizer';

export interface Shard {
  /** The global index of the shard's first row. */
  firstRow: number;
  batch: EncodedBatch;
  labels: number[];
  lossScale: number;
}

/** Splits rows 0…batchSize−1 into at most `workers` contiguous runs of near-equal size (larger first). */
export function shardRanges(batchSize: number, workers: number): [number, number][] {
  const count = Math.max(1, Math.min(workers, batchSize));
  const base = Math.floor(batchSize / count);
  const extra = batchSize % count;
  const ranges: [number, number][] = [];
  let start = 0;
  for (let k = 0; k < count; k++) {
    const end = start + base + (k < extra ? 1 : 0);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

export function shardBatch(batch: EncodedBatch, labels: number[], workers: number, classWeights?: number[]): Shard[] {
  const weightOf = (label: number) => (classWeights ? classWeights[label] : 1);
  const total = labels.reduce((sum, label) => sum + weightOf(label), 0);
  const T = batch.seqLen;
  return shardRanges(batch.batchSize, workers).map(([start, end]) => {
    const rows = (ids: Int32Array) => ids.slice(start * T, end * T);
    const shardLabels = labels.slice(start, end);
    return {
      firstRow: start,
      batch: {
        batchSize: end - start,
        seqLen: T,
        inputIds: rows(batch.inputIds),
        attentionMask: rows(batch.attentionMask),
        tokenTypeIds: rows(batch.tokenTypeIds),
      },
      labels: shardLabels,
      lossScale: shardLabels.reduce((sum, label) => sum + weightOf(label), 0) / total,
    };
  });
}
