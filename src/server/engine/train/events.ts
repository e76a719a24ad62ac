/**
 * What a training run reports while it runs. The language server forwards these to the extension
 * and the panel, and the CLI prints them with --json: declared once here.
 */
import type { ClassificationMetrics } from './metrics';

export interface TrainStartEvent {
  event: 'start';
  runId: string;
  modelRef: string;
  /** What computed, for people: e.g. "wasm + ONNX Runtime GEMM" or "tensorflow (@tensorflow/tfjs-node-gpu)". */
  backend: string;
  /** Data-parallel worker threads that computed the gradients (1: the engine's own thread). */
  workers: number;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  labels: string[];
  numParameters: number;
  trainableParameters: number;
  /** Set when the run continues an interrupted one. */
  resumedFromStep?: number;
}

export interface TrainStepEvent {
  event: 'step';
  step: number;
  totalSteps: number;
  /** Fractional epoch, e.g. 1.25. */
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  samplesPerSec: number;
  elapsedSec: number;
  etaSec: number;
}

export interface TrainEvalEvent {
  event: 'eval';
  step: number;
  epoch: number;
  split: 'validation' | 'test';
  metrics: ClassificationMetrics;
  /** The best validation result so far (by the run's metric). */
  isBest: boolean;
}

export interface TrainCheckpointEvent {
  event: 'checkpoint';
  step: number;
  dir: string;
}

export type TrainStatus = 'completed' | 'early-stopped' | 'cancelled';

/** How a run ended: reported in the last event and returned by `train`. */
export interface TrainOutcome {
  status: TrainStatus;
  modelDir: string;
  steps: number;
  /** The step whose weights were kept (the best validation result), if any evaluation ran. */
  bestStep?: number;
  best?: ClassificationMetrics;
  test?: ClassificationMetrics;
  elapsedSec: number;
}

export interface TrainDoneEvent extends TrainOutcome {
  event: 'done';
}

export type TrainEvent = TrainStartEvent | TrainStepEvent | TrainEvalEvent | TrainCheckpointEvent | TrainDoneEvent;
