/**
 * What a training run reports while it runs. The language server forwards these to the extension
 * and the panel, and the CLI prints them with --json: declared once here.
 */
import type { ClassificationMetrics } from './metrics';

/** What a run trains: the classifier (fine-tuning), or the masked-LM head and encoder (pre-training, adaptation). */
export type TrainPhase = 'fine-tune' | 'mlm';

export interface TrainStartEvent {
  event: 'start';
  /** Left out: 'fine-tune'. */
  phase?: TrainPhase;
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
  /** Left out: 'fine-tune'. */
  phase?: TrainPhase;
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

/** Masked-LM loss and accuracy (of the predicted tokens) on held-out text, with a fixed masking. */
export interface MaskedLMMetrics {
  loss: number;
  accuracy: number;
  /** Tokens predicted. */
  tokens: number;
}

export interface MaskedLMEvalEvent {
  event: 'mlm-eval';
  step: number;
  epoch: number;
  metrics: MaskedLMMetrics;
}

export interface TrainCheckpointEvent {
  event: 'checkpoint';
  step: number;
  dir: string;
}

export type TrainStatus = 'completed' | 'early-stopped' | 'cancelled';

/** One thing to try when a model did not learn (see learning-check.ts); `message` is for the CLI and logs. */
export interface LearningAdvice {
  kind: 'train-longer' | 'pretrained-model' | 'adapt' | 'more-data';
  message: string;
  /** train-longer: the epochs to try. */
  epochs?: number;
  /** pretrained-model: a pre-trained model to start from. */
  model?: string;
  /** adapt: the masked-LM steps to try (`--adapt-steps`). */
  adaptSteps?: number;
}

/**
 * The small-data guard's finding: the kept model's validation accuracy is not clearly above the
 * accuracy of always answering the validation split's most frequent class.
 */
export interface LearningCheck {
  kind: 'no-learning';
  /** The kept model's validation accuracy. */
  best: number;
  /** Always answering `baselineLabel`: its share of the validation split. */
  baseline: number;
  baselineLabel: string;
  /** How far above the baseline counts as learning (see learningMargin). */
  margin: number;
  numTrain: number;
  numValidation: number;
  /** Set when the model answers this one class for every validation text. */
  singleClass?: string;
  message: string;
  advice: LearningAdvice[];
}

/** How a run ended: reported in the last event and returned by `train`. */
export interface TrainOutcome {
  status: TrainStatus;
  modelDir: string;
  steps: number;
  /** The step whose weights were kept (the best validation result), if any evaluation ran. */
  bestStep?: number;
  best?: ClassificationMetrics;
  test?: ClassificationMetrics;
  /** Pre-training and adaptation: the masked-LM metrics on held-out text at the end. */
  maskedLM?: MaskedLMMetrics;
  /** Fine-tuning: set when the model did not learn (validation accuracy at the majority-class baseline). */
  learning?: LearningCheck;
  /** Fine-tuning: temperature scaling fitted on validation (the full report is the model's calibration.json). */
  calibration?: { temperature: number; eceBefore: number; eceAfter: number };
  elapsedSec: number;
}

export interface TrainDoneEvent extends TrainOutcome {
  event: 'done';
}

export type TrainEvent = TrainStartEvent | TrainStepEvent | TrainEvalEvent | MaskedLMEvalEvent | TrainCheckpointEvent | TrainDoneEvent;
