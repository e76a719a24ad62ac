/**
 * Fine-tuning from end to end, as the CLI and the language server both start it: choose the
 * backend, resolve the model, read and explain the dataset, build the model for the dataset's
 * classes, and run the training loop. The dataset summary is reported before training starts.
 */
import { describeBackend, initBackend, type BackendChoice } from './backend';
import { loadModelFolder } from './classifier';
import { loadDataset, summarizeDataset, type Dataset, type DatasetOptions, type DatasetSummary } from './data';
import { resolveModelRef, type HubOptions } from './hub';
import type { TrainEvent } from './train/events';
import { DEFAULT_SETTINGS, checkOutputFolder, train, type TrainResult, type TrainSettings } from './train/trainer';

export interface FineTuneRequest {
  /** A dataset file or folder. */
  data: string;
  dataset?: DatasetOptions;
  /** A model folder, a Hub id, or builtin:tiny-bert. */
  model: string;
  outDir: string;
  /** Settings left out take the defaults; `learningRate` left out is chosen for the model's size. */
  settings?: Partial<TrainSettings>;
  backend?: BackendChoice;
  /** Data-parallel worker threads; 0 or left out: as many as the machine can spare (see train/parallel/workers.ts). */
  workers?: number;
  hub?: HubOptions;
  resume?: boolean;
  overwrite?: boolean;
}

export type FineTuneEvent = TrainEvent | { event: 'dataset'; summary: DatasetSummary };

export interface FineTuneHooks {
  onEvent?: (event: FineTuneEvent) => void;
  signal?: AbortSignal;
}

export async function fineTune(request: FineTuneRequest, hooks: FineTuneHooks = {}): Promise<TrainResult> {
  checkOutputFolder(request.outDir, request); // before any slow work
  const backend = await initBackend(request.backend ?? 'auto');
  const modelDir = await resolveModelRef(request.model, request.hub);
  const dataset = await loadDataset(request.data, request.dataset);
  const loaded = await loadModelFolder(modelDir, { labels: dataset.id2label, seed: request.settings?.seed });
  const settings: TrainSettings = {
    ...DEFAULT_SETTINGS,
    learningRate: recommendedLearningRate(loaded.model.config.hiddenSize),
    ...request.settings,
  };
  const tokenizer = loaded.tokenizer;
  const summary = summarizeDataset(dataset, { countTokens: (text) => tokenizer.countTokens(text), maxLength: settings.maxLength });
  hooks.onEvent?.({ event: 'dataset', summary });
  try {
    return await train({
      model: loaded.model,
      tokenizer,
      baseConfig: loaded.rawConfig,
      modelRef: request.model,
      backend: describeBackend(backend),
      workers: request.workers ?? 0,
      data: trainData(dataset),
      settings,
      outDir: request.outDir,
      resume: request.resume,
      overwrite: request.overwrite,
      extraFiles: { 'preprocessing.json': { clean: dataset.report.clean, maxLength: settings.maxLength }, 'dataset_summary.json': summary },
      onEvent: hooks.onEvent,
      signal: hooks.signal,
    });
  } finally {
    for (const p of loaded.model.params.values()) p.dispose();
  }
}

function trainData(dataset: Dataset) {
  const plain = (split: keyof Dataset['splits']) => dataset.splits[split].map(({ text, label }) => ({ text, label }));
  return { labels: dataset.id2label, train: plain('train'), validation: plain('validation'), test: plain('test') };
}

/**
 * The learning rate that suits a model of this size when the user names none: the BERT paper's
 * 2e-5…5e-5 for bert-base and larger; compact BERTs (Turc et al.) want 1e-4…3e-4; tiny models
 * trained from random weights (like builtin:tiny-bert) want far more.
 */
export function recommendedLearningRate(hiddenSize: number): number {
  if (hiddenSize >= 768) return 3e-5;
  if (hiddenSize >= 512) return 5e-5;
  if (hiddenSize >= 256) return 1e-4;
  if (hiddenSize >= 128) return 3e-4;
  return 3e-3;
}
