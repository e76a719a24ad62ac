/**
 * What the training thread and its gradient workers say to each other (worker_threads messages),
 * declared once for both ends. Each worker answers its messages in the order they came.
 */
import type { BertConfig } from '../../model-config';
import type { EncodedBatch } from '../../tokenizer';
import type { AdamWOptions, AdamWState } from '../optimizer';

/** Where each trainable parameter's gradient sits in a worker's slot of the shared gradient buffer. */
export interface GradientLayout {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /**
   * The word-embedding table: only the rows of the step's token ids can have a gradient, so only
   * those rows are exchanged (exact: the others are zero).
   */
  rowsOfTokens?: boolean;
}

export interface ParameterData {
  name: string;
  shape: number[];
  data: Float32Array;
  trainable: boolean;
}

/** The worker's `workerData`: a replica of the model and optimizer, and its place in the group. */
export interface WorkerInit {
  index: number;
  workers: number;
  /** `workers` slots of `floatsPerSlot` float32 each: worker k writes its gradients into slot k. */
  gradients: SharedArrayBuffer;
  floatsPerSlot: number;
  layout: GradientLayout[];
  config: BertConfig;
  params: ParameterData[];
  optimizer: { options: AdamWOptions; state: AdamWState };
}

export type ToWorker =
  | {
      type: 'gradients';
      batch: EncodedBatch;
      /** The distinct token ids of the whole batch, ascending (see GradientLayout.rowsOfTokens). */
      tokenRows: Int32Array;
      labels: number[];
      firstRow: number;
      dropoutSeed: number;
      lossScale: number;
      classWeights?: number[];
    }
  /** Sum every slot, clip to the global norm, AdamW: every worker does the same, so replicas stay equal. */
  | { type: 'apply'; lr: number; maxGradNorm: number; tokenRows: Int32Array }
  | { type: 'state' };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'gradients'; loss: number }
  | { type: 'applied'; gradNorm: number; numTensors: number }
  | { type: 'state'; params: ParameterData[]; optimizer: AdamWState }
  | { type: 'failed'; message: string; stack?: string };
