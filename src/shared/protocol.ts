/**
 * The custom messages between the extension, the language server and the training panel, each
 * declared once with its payload types. Client and server both import this file, so the compiler
 * checks both ends of every request.
 *
 * A mistake the user made (a missing model folder, a bad file) travels as a `ResponseError` whose
 * `data` is `UserError.toJSON()`; anything else is a bug in the server.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { BackendChoice } from '../server/engine/backend';
import type { ClassifierInfo, Explanation, Prediction } from '../server/engine/classifier-api';
import type { DatasetCandidate, DatasetSummary } from '../server/engine/data';
import { describeUserError, type UserError } from '../server/engine/errors';
import type { FineTuneEvent, FineTuneRequest } from '../server/engine/fine-tune';
import type { LearningCheck, TrainPhase } from '../server/engine/train/events';
import type { ReviewedRow } from '../server/engine/explain/misclassified';
import type { Calibration, Reliability, ReliabilityBin, ThresholdMetrics } from '../server/engine/train/calibration';
import type { ClassificationMetrics } from '../server/engine/train/metrics';
import type { RunStatus } from './run-status';

export type { ClassifierInfo, Prediction, LearningCheck, TrainPhase };

// ---- extension ⇄ language server --------------------------------------------------------------

/** Sent by the client as LSP `initializationOptions`. */
export interface ServerInitOptions {
  /** Changing it restarts the server: TF.js has one backend per process. */
  backend: BackendChoice;
  /** Where models downloaded from the Hugging Face Hub are cached. */
  cacheDir?: string;
  /** Extra folders where the optional `@tensorflow/tfjs-node(-gpu)` packages may be installed. */
  nativeSearchPaths?: string[];
  /** Where the server keeps each training run's event history, so it outlives a server restart. */
  runsDir?: string;
}

export interface PredictParams {
  /** A model folder, a Hub id, or a built-in model (`builtin:review-bert`, `builtin:tiny-bert`). */
  model: string;
  texts: string[];
  /** Truncate each text to this many tokens, [CLS] and [SEP] included. */
  maxLength?: number;
}

export interface PredictResult {
  /** One per text, in order. */
  predictions: Prediction[];
  info: ClassifierInfo;
}

export const predict = new RequestType<PredictParams, PredictResult, void>('bertWorkbench/predict');

export interface EngineInfoParams {
  /** When given, this model is loaded (if it is not yet) and described in the answer. */
  model?: string;
}

export interface EngineInfo {
  /** The TF.js backend computing: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** The package that provides it, e.g. `@tensorflow/tfjs-backend-wasm`. */
  backendProvider: string;
  /** Why more preferred backends were passed over (empty when the first choice loaded). */
  backendSkipped: string[];
  /** What computes, for people: e.g. "wasm + ONNX Runtime GEMM". */
  computes: string;
  /** ONNX Runtime's version and threads on wasm, or why it is not in use. */
  gemmNote?: string;
  /** For a native backend: the file it was loaded from. */
  backendLocation?: string;
  /** Training worker threads that a run of the model described, with the default settings, would start (setting 0 = auto). */
  autoWorkers: number;
  /** Versions of the server and the libraries it computes with, keyed by name. */
  versions: Record<string, string>;
  /** The server process's memory now (read-only; the soak benchmarks sample it). */
  memory: EngineMemory;
  model?: ClassifierInfo;
}

export interface EngineMemory {
  /** Resident set size of the server process, bytes (training worker threads included). */
  rss: number;
  /** The JavaScript heap in use, and memory outside it (ArrayBuffers: the wasm backend's heap, file buffers), bytes. */
  heapUsed: number;
  external: number;
  /** Live TF.js tensors on the server's own thread, and their bytes (worker threads keep their own). */
  numTensors: number;
  numBytes: number;
}

export const engineInfo = new RequestType<EngineInfoParams, EngineInfo, void>('bertWorkbench/engineInfo');

/** The `data` of a `ResponseError` that reports a user's mistake. */
export type UserErrorData = ReturnType<UserError['toJSON']>;

export function isUserErrorData(data: unknown): data is UserErrorData {
  if (typeof data !== 'object' || data === null) return false;
  const { error, kind } = data as Record<string, unknown>;
  return typeof error === 'string' && typeof kind === 'string';
}

/** One line for people: `file:line: message. fix` (the same as `UserError.describe()`). */
export { describeUserError };

// ---- training runs (extension ⇄ language server) ---------------------------------------------

/** A dataset found in a workspace folder, with the folder it was found in. */
export interface DatasetChoice extends DatasetCandidate {
  /** The workspace folder (a file system path) that was searched. */
  root: string;
}

export interface ListDatasetsParams {
  /** Folders to search (file system paths), e.g. every workspace folder. */
  roots: string[];
}

export const listDatasets = new RequestType<ListDatasetsParams, { datasets: DatasetChoice[] }, void>('bertWorkbench/listDatasets');

export interface InspectDatasetParams {
  /** A dataset file or folder. */
  path: string;
  textColumn?: string;
  labelColumn?: string;
  /** The largest CSV/TSV row to read, in bytes (the engine's default: 8 MB). */
  maxRowBytes?: number;
}

/**
 * Reads the whole dataset as training would and explains it (token counts with the bundled BERT
 * vocabulary). A problem in the data fails the request with a `UserErrorData` and is also
 * published as a diagnostic on the offending line.
 */
export const inspectDataset = new RequestType<InspectDatasetParams, { summary: DatasetSummary }, void>('bertWorkbench/inspectDataset');

export interface ModelChoicesParams {
  /** The workload that each choice's time per epoch is estimated for. */
  trainExamples: number;
  evalExamples: number;
  /** Typical tokens per example, [CLS] and [SEP] included. */
  tokensPerExample: number;
  batchSize: number;
  numLabels: number;
  /** Hub downloads: where they are cached and whether the network may be used. */
  hub?: { cacheDir?: string; offline?: boolean };
}

export interface ModelChoice {
  /** What to train from: `builtin:…` or a Hub id. */
  ref: string;
  layers: number;
  hidden: number;
  heads: number;
  /** Every parameter of the classifier, embeddings included. */
  parameters: number;
  maxLength: number;
  /** The learning rate "auto" stands for with this model. */
  learningRate: number;
  /** Ships with the extension, or already in the Hub cache: no download needed. */
  local: boolean;
  /** Estimated seconds per epoch on the server's backend (undefined when it could not be measured). */
  secondsPerEpoch?: number;
  /** Estimated seconds per masked-LM step of "Adapt to the dataset first" (`FineTuneRequest.adaptSteps`), same workload. */
  secondsPerAdaptStep?: number;
}

export interface ModelChoices {
  backend: string;
  choices: ModelChoice[];
  /** How the estimates were made, one sentence for a tooltip. */
  method: string;
}

export const modelChoices = new RequestType<ModelChoicesParams, ModelChoices, void>('bertWorkbench/modelChoices');

export { activeRunStatuses, resumableRunStatuses, RUN_ID_PATTERN, type RunStatus } from './run-status';

export interface RunProgress {
  step: number;
  totalSteps: number;
  /** Fractional epoch, e.g. 1.25. */
  epoch: number;
  epochs: number;
  loss?: number;
  samplesPerSec?: number;
  etaSec?: number;
}

export interface RunBest {
  step: number;
  epoch: number;
  accuracy: number;
  macroF1: number;
}

/** What went wrong in a failed run: a user's mistake (with file and line) or a bug's message. */
export interface RunError {
  message: string;
  kind?: string;
  file?: string;
  line?: number;
  fix?: string;
}

export interface RunInfo {
  /** Unique and sortable by start time. */
  id: string;
  /** For people, e.g. "reviews · review-bert" (the dataset and the base model). */
  title: string;
  status: RunStatus;
  /** ISO times. */
  createdAt: string;
  finishedAt?: string;
  /** The dataset, the base model and the output (model) folder. */
  data: string;
  model: string;
  outDir: string;
  backend?: string;
  /** Data-parallel worker threads computing the run. */
  workers?: number;
  /** What a preparing run is doing, e.g. "downloading model.safetensors". */
  activity?: string;
  /**
   * What the run trains now, from its latest start event: `mlm` while it adapts the base model to the
   * dataset's text (masked LM, `FineTuneRequest.adaptSteps`), then `fine-tune`. `progress` counts that phase's steps.
   */
  phase?: TrainPhase;
  progress?: RunProgress;
  best?: RunBest;
  /** Set when the run ended with a model that did not learn (the done event's `learning`). */
  learning?: LearningCheck;
  error?: RunError;
  /** The interrupted or cancelled run this one continues. */
  resumedFrom?: string;
}

/** A run's events from the start: what the panel replays when it opens. */
export interface RunHistory {
  run: RunInfo;
  events: FineTuneEvent[];
}

export interface StartRunParams {
  title: string;
  /** What to train, as the engine takes it; the server picks the backend. */
  request: FineTuneRequest;
}

/** Starts a run; fails when one is already running (one at a time). Answers at once. */
export const startRun = new RequestType<StartRunParams, RunInfo, void>('bertWorkbench/startRun');
/** Stops the run (the active one when no id), keeping the best checkpoint so far. */
export const stopRun = new RequestType<{ runId?: string }, { stopped: boolean }, void>('bertWorkbench/stopRun');
/** Continues an interrupted or cancelled run from its last checkpoint, as a new run. */
export const resumeRun = new RequestType<{ runId: string }, RunInfo, void>('bertWorkbench/resumeRun');
/** Every run the server remembers, newest first. */
export const listRuns = new RequestType<Record<string, never>, { runs: RunInfo[] }, void>('bertWorkbench/listRuns');
export const runHistory = new RequestType<{ runId: string }, RunHistory | null, void>('bertWorkbench/runHistory');

export interface RunEventParams {
  run: RunInfo;
  /** The engine event that changed the run; absent when only its status changed. */
  event?: FineTuneEvent;
  /** The event's place in the run's history (`RunHistory.events`), to spot one missed or seen twice. */
  index?: number;
}

/** Server → client, for every change of every run. */
export const runEvent = new NotificationType<RunEventParams>('bertWorkbench/runEvent');

// ---- inline predictions: end-of-line annotations and hovers (extension ⇄ language server) -----

/**
 * `visible`: texts on screen, predicted first. `nearby`: texts a page above or below, predicted
 * when nothing visible waits.
 */
export type InlinePriority = 'visible' | 'nearby';

export interface InlinePredictParams {
  /** A model folder, a Hub id, or a built-in model (`builtin:review-bert`, `builtin:tiny-bert`). */
  model: string;
  /** Lines, sentences or paragraphs of a document, as the model reads them. */
  texts: string[];
  /** Truncate each text to this many tokens, [CLS] and [SEP] included. */
  maxLength?: number;
  priority: InlinePriority;
}

/** A prediction without its text and logits: what an annotation and a hover show. */
export type InlinePrediction = Pick<Prediction, 'label' | 'probs'>;

export interface InlineModelInfo {
  /** The classes, in the model's order. */
  labels: string[];
  modelRef: string;
  modelDir: string;
  /** When the model folder was written by a training run here (ISO time); absent for other models. */
  trainedAt?: string;
}

export interface InlinePredictResult {
  /** One per text, in order. */
  predictions: InlinePrediction[];
  model: InlineModelInfo;
}

/**
 * Predictions for annotations and hovers: cached by text on the server, visible texts first,
 * cancellable (the client cancels when the document closes or the view moves on).
 */
export const predictInline = new RequestType<InlinePredictParams, InlinePredictResult, void>('bertWorkbench/predictInline');

export interface ExplainParams {
  model: string;
  text: string;
  maxLength?: number;
}

/**
 * Why the model gave a text its class: word attributions by Integrated Gradients. Asked for by a
 * hover only (never for plain annotations), and cancelled with it.
 */
export const explainText = new RequestType<ExplainParams, Explanation, void>('bertWorkbench/explain');

// ---- reviewing a finished run: its rows and its calibration (extension ⇄ language server) ------

export type { ReviewedRow, Calibration, Reliability, ReliabilityBin, ThresholdMetrics };

/** At most this many rows of one confusion-matrix cell travel to the panel (the most confident). */
export const REVIEW_ROWS_PER_CELL = 200;

export interface ReviewCell {
  /** Every row of the cell; `rows` holds the first `REVIEW_ROWS_PER_CELL`, most confident first. */
  count: number;
  rows: ReviewedRow[];
}

export interface RunReview {
  runId: string;
  /** The classes, in the model's order (`ReviewedRow.label` and `.predicted` index them). */
  labels: string[];
  /** The splits predicted (`validation`, `test`: the rows training held out) and their rows. */
  splits: Record<string, number>;
  /** cells[t][p]: rows labelled t that the run's saved model predicts p (its most probable class). */
  cells: ReviewCell[][];
  /** Every possible label error, most doubtful first (confident learning, Northcutt et al. 2021). */
  possibleLabelErrors: ReviewedRow[];
  /** The saved model on those rows: its confusion matrix is `cells`' counts (what the panel then shows). */
  metrics: ClassificationMetrics;
}

/**
 * The validation and test rows of a finished run, predicted by its saved model (its data re-read
 * as training split it): the rows of each confusion-matrix cell and the possible label errors.
 * Computed on first request and kept per run.
 */
export const reviewRows = new RequestType<{ runId: string }, RunReview, void>('bertWorkbench/reviewRows');

export interface RunCalibration {
  runId: string;
  labels: string[];
  /** The model's calibration.json (temperature, reliability before and after, a saved threshold); absent for models without one. */
  calibration?: Calibration;
  /**
   * Two classes: precision, recall and F1 of the second class when it is predicted from probability
   * 0.05, 0.10, …, 0.95 on, on the validation rows with the probabilities predictions show.
   */
  thresholdCurve?: ThresholdMetrics[];
  /** Why there is no curve although there are two classes (e.g. the dataset was moved). */
  curveProblem?: string;
}

export const runCalibration = new RequestType<{ runId: string }, RunCalibration, void>('bertWorkbench/runCalibration');

/**
 * Two classes: keeps `threshold` in the run's model's calibration.json (none: back to the most
 * probable class); the server reloads the model, so predictions use it from then on.
 */
export const saveThreshold = new RequestType<{ runId: string; threshold?: number }, RunCalibration, void>('bertWorkbench/saveThreshold');

// ---- extension ⇄ training panel (webview postMessage) -----------------------------------------

/** What the panel shows about the engine. */
export interface PanelEngineState {
  backend: string;
  model: string;
  labels: string[];
}

export type HostToPanelMessage =
  | { type: 'engineInfo'; engine: PanelEngineState }
  /** The engine could not be asked (untrusted workspace, server down, bad model). */
  | { type: 'engineUnavailable'; reason: string }
  /** Every run, newest first, for the run picker. */
  | { type: 'runs'; runs: RunInfo[] }
  /** Show this run from its first event (replaces what is shown). */
  | { type: 'history'; history: RunHistory }
  /** A run changed; the panel applies it when it shows that run, and follows a new run. */
  | ({ type: 'runEvent' } & RunEventParams)
  /** The rows of a finished run's confusion-matrix cells and its possible label errors (after a `review`). */
  | { type: 'review'; review: RunReview }
  /** Its calibration and, for two classes, the threshold curve (after a `review` or a `saveThreshold`). */
  | { type: 'calibration'; calibration: RunCalibration }
  /** What could not be computed for that run, and why. */
  | { type: 'reviewUnavailable'; runId: string; part: 'rows' | 'calibration'; reason: string };

export type PanelToHostMessage =
  /** The panel's script has loaded and listens; `runId` is the run it showed before (its saved state). */
  | { type: 'ready'; runId?: string }
  /** The user asked to read the engine state again. */
  | { type: 'refresh' }
  | { type: 'showRun'; runId: string }
  | { type: 'stop'; runId: string }
  | { type: 'resume'; runId: string }
  | { type: 'openModelFolder'; runId: string }
  | { type: 'exportCsv'; runId: string }
  /** Asks for the rows and the calibration of a finished run (answered with `review` and `calibration`). */
  | { type: 'review'; runId: string }
  /** Opens the dataset file at a reviewed row's line (one the host sent in a `review`). */
  | { type: 'openRow'; runId: string; file: string; line: number }
  /** Saves the run's possible label errors as CSV (a save dialog, proposing the model folder). */
  | { type: 'exportLabelErrors'; runId: string }
  /** Two classes: keeps this decision threshold in the run's model (calibration.json); none removes it. */
  | { type: 'saveThreshold'; runId: string; threshold?: number };

export const panelToHostTypes: readonly PanelToHostMessage['type'][] = [
  'ready',
  'refresh',
  'showRun',
  'stop',
  'resume',
  'openModelFolder',
  'exportCsv',
  'review',
  'openRow',
  'exportLabelErrors',
  'saveThreshold',
];
