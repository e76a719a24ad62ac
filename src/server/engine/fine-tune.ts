/**
 * Fine-tuning from end to end, as the CLI and the language server both start it: choose the
 * backend, resolve the model, read and explain the dataset, build the model for the dataset's
 * classes, and run the training loop. The dataset summary is reported before training starts.
 */
import { describeBackend, initBackend, type BackendChoice } from './backend';
import { loadModelFolder, type Preprocessing } from './classifier';
import { loadDataset, summarizeDataset, type Dataset, type DatasetOptions, type DatasetSummary } from './data';
import { resolveModelRef, type HubOptions } from './hub';
import { Tokenizer } from './tokenizer';
import { DEFAULT_PRETRAIN_SETTINGS, runPretraining } from './mlm/pretrain';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TrainEvent } from './train/events';
import { DEFAULT_SETTINGS, checkOutputFolder, train, type TrainResult, type TrainSettings } from './train/trainer';
import { checkFreeSpace, openOutputFolder, outputError } from './train/output-folder';

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
  /**
   * Domain-adaptive pre-training (Gururangan et al. 2020): first continue masked-LM training on the
   * dataset's own text (every split's, never a label) for this many steps, then fine-tune the result.
   */
  adaptSteps?: number;
}

export type FineTuneEvent = TrainEvent | { event: 'dataset'; summary: DatasetSummary };

export interface FineTuneHooks {
  onEvent?: (event: FineTuneEvent) => void;
  signal?: AbortSignal;
}

export async function fineTune(request: FineTuneRequest, hooks: FineTuneHooks = {}): Promise<TrainResult> {
  checkOutputFolder(request.outDir, request); // before any slow work
  const output = openOutputFolder(request.outDir); // writable, and locked against a second run into it
  try {
    return await fineTuneInto(request, hooks);
  } catch (e) {
    throw outputError(e, request.outDir) ?? e; // a disk that filled up or a folder that went away during the run
  } finally {
    output.close();
  }
}

async function fineTuneInto(request: FineTuneRequest, hooks: FineTuneHooks): Promise<TrainResult> {
  const backend = await initBackend(request.backend ?? 'auto');
  const baseDir = await resolveModelRef(request.model, request.hub);
  checkFreeSpace(request.outDir, baseDir); // before the data is read, not at the first checkpoint
  const dataset = await loadDataset(request.data, request.dataset);
  // The summary first (adaptation keeps the base model's tokenizer), so that it shows while adapting.
  const baseTokenizer = Tokenizer.load(baseDir);
  const maxLength = request.settings?.maxLength ?? DEFAULT_SETTINGS.maxLength;
  const summary = summarizeDataset(dataset, { countTokens: (text) => baseTokenizer.countTokens(text), maxLength });
  hooks.onEvent?.({ event: 'dataset', summary });
  const modelDir = request.adaptSteps ? await adaptToDataset(baseDir, dataset, request, describeBackend(backend), hooks) : baseDir;
  const loaded = await loadModelFolder(modelDir, { labels: dataset.id2label, seed: request.settings?.seed });
  const settings: TrainSettings = {
    ...DEFAULT_SETTINGS,
    learningRate: recommendedLearningRate(loaded.model.config.hiddenSize, loaded.rawConfig),
    ...request.settings,
  };
  const tokenizer = loaded.tokenizer;
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
      extraFiles: { 'preprocessing.json': preprocessingRecord(request, dataset, settings.maxLength), 'dataset_summary.json': summary },
      onEvent: hooks.onEvent,
      signal: hooks.signal,
    });
  } finally {
    for (const p of loaded.model.params.values()) p.dispose();
  }
}

/** Where an adapted base model is kept, inside the run's output folder (a resumed run reuses it). */
export const ADAPTED_FOLDER = 'adapted';

/**
 * Masked-LM training of the base model on the text of every split of the dataset (labels are never
 * read), saved as `<out>/adapted`: the base model of the fine-tuning that follows. Its progress is
 * reported as events with `phase: 'mlm'`; its own end is not a `done`.
 */
async function adaptToDataset(baseDir: string, dataset: Dataset, request: FineTuneRequest, backend: string, hooks: FineTuneHooks): Promise<string> {
  const outDir = join(request.outDir, ADAPTED_FOLDER);
  if (request.resume && existsSync(join(outDir, 'config.json'))) return outDir;
  const base = await loadModelFolder(baseDir);
  const learningRate = recommendedLearningRate(base.model.config.hiddenSize, base.rawConfig);
  for (const p of base.model.params.values()) p.dispose();
  const texts = [...new Set(Object.values(dataset.splits).flatMap((rows) => rows.map((row) => row.text)))];
  const s = request.settings ?? {};
  const batchSize = Math.min(s.batchSize ?? DEFAULT_SETTINGS.batchSize, texts.length);
  await runPretraining({
    modelDir: baseDir,
    modelRef: request.model,
    backend,
    texts,
    settings: {
      ...DEFAULT_PRETRAIN_SETTINGS,
      maxSteps: request.adaptSteps,
      batchSize,
      maxLength: s.maxLength ?? DEFAULT_SETTINGS.maxLength,
      learningRate: s.learningRate ?? learningRate,
      seed: s.seed ?? DEFAULT_SETTINGS.seed,
      checkpointEverySteps: Math.max(request.adaptSteps ?? 1, 1),
    },
    outDir,
    resume: false,
    onEvent: (e) => {
      if (e.event === 'start' || e.event === 'step' || e.event === 'mlm-eval') hooks.onEvent?.(e);
    },
    signal: hooks.signal,
  });
  // Stopped while adapting: fine-tuning starts from the base model and stops at once (status
  // 'cancelled', like a run stopped at its first step); a resume adapts again.
  if (hooks.signal?.aborted) return baseDir;
  return outDir;
}

/**
 * How texts were prepared, for prediction to do the same; and how the data was split, so that
 * `eval` on the same data can measure the same validation and test rows.
 */
function preprocessingRecord(request: FineTuneRequest, dataset: Dataset, maxLength: number): Preprocessing {
  const { validationSplit, testSplit, seed } = request.dataset ?? {};
  return { clean: dataset.report.clean, maxLength, split: { data: resolve(request.data), validationSplit, testSplit, seed } };
}

function trainData(dataset: Dataset) {
  const plain = (split: keyof Dataset['splits']) => dataset.splits[split].map(({ text, label }) => ({ text, label }));
  return { labels: dataset.id2label, train: plain('train'), validation: plain('validation'), test: plain('test') };
}

/**
 * The learning rate that suits a model of this size when the user names none: the BERT paper's
 * 2e-5…5e-5 for bert-base and larger; compact BERTs (Turc et al.) want 1e-4…3e-4; tiny models
 * trained from random weights (like builtin:tiny-bert) want far more. A config.json may name its own
 * (`recommended_learning_rate`, a key of this project's that Hugging Face ignores).
 */
export function recommendedLearningRate(hiddenSize: number, config: Record<string, unknown> = {}): number {
  // A model can name its own (builtin:review-bert does: scripts/build-review-bert.sh measures it).
  const named = config.recommended_learning_rate;
  if (typeof named === 'number' && named > 0 && named <= 1) return named;
  if (hiddenSize >= 768) return 3e-5;
  if (hiddenSize >= 512) return 5e-5;
  if (hiddenSize >= 256) return 1e-4;
  if (hiddenSize >= 128) return 3e-4;
  return 3e-3;
}
