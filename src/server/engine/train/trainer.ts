/**
 * The fine-tuning loop: the classic BERT recipe (Devlin et al., and the Hugging Face Trainer's
 * defaults). Cross-entropy on the [CLS] classifier, AdamW with decoupled weight decay, linear warmup
 * and decay, gradient clipping at global norm 1.0, dropout while training, dynamic padding with
 * length-grouped batches, evaluation on the validation split after each epoch (and every N steps),
 * early stopping, the best weights kept and restored, a final test evaluation, checkpoints to
 * resume from, and the model saved in Hugging Face's layout.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '../tf';
import { crossEntropyLoss, type BertForSequenceClassification } from '../bert';
import { bertParamsFromCheckpoint } from '../checkpoint/bert-weights';
import { readSafetensors } from '../checkpoint/safetensors';
import { UserError } from '../errors';
import type { EncodedBatch, Encoding, Tokenizer } from '../tokenizer';
import { trainingBatches, evaluationBatches } from './batches';
import {
  latestCheckpoint,
  readOptimizerState,
  readTrainerState,
  saveCheckpoint,
  checkpointAt,
  checkpointsDir,
  type EvalRecord,
  type TrainerState,
} from './checkpoints';
import type { TrainEvent, TrainOutcome, TrainStatus, TrainStepEvent } from './events';
import { checkLearning } from './learning-check';
import { classificationMetrics, type ClassificationMetrics } from './metrics';
import { AdamW } from './optimizer';
import { batchTensors, trainStep } from './step';
import { chooseWorkerCount, DataParallelTrainer } from './parallel/workers';
import { deriveSeed } from '../random';
import { saveModelFolder } from './save';
import { CALIBRATION_FILE, calibrate, type Calibration } from './calibration';
import { linearWarmupDecay, warmupStepsFor } from './schedule';
import { freezeParameters, type FreezeSpec } from './freeze';

export interface TrainSettings {
  epochs: number;
  /** Stop after this many optimizer steps (the schedule then spans them). */
  maxSteps?: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  warmupRatio: number;
  maxGradNorm: number;
  /** Tokens per example, [CLS] and [SEP] included. */
  maxLength: number;
  seed: number;
  freeze: FreezeSpec;
  /** Evaluate every N steps as well as after each epoch. */
  evalEverySteps?: number;
  /** Stop after this many evaluations without improvement; 0 never stops early. */
  earlyStoppingPatience: number;
  metricForBest: 'accuracy' | 'macroF1' | 'loss';
  /** 'balanced' weights each class by n / (k · count), for imbalanced data. */
  classWeights: 'none' | 'balanced';
}

export const DEFAULT_SETTINGS: TrainSettings = {
  epochs: 3,
  batchSize: 32,
  learningRate: 5e-5,
  weightDecay: 0.01,
  warmupRatio: 0.1,
  maxGradNorm: 1.0,
  maxLength: 128,
  seed: 42,
  freeze: { embeddings: false, layers: 0, allButHead: false },
  earlyStoppingPatience: 2,
  metricForBest: 'accuracy',
  classWeights: 'none',
};

export interface LabelledText {
  text: string;
  label: number;
}

export interface TrainData {
  labels: string[];
  train: LabelledText[];
  validation: LabelledText[];
  test: LabelledText[];
}

export interface TrainRun {
  model: BertForSequenceClassification;
  tokenizer: Tokenizer;
  /** The base model's config.json, to keep its other fields. */
  baseConfig: Record<string, unknown>;
  modelRef: string;
  /** What computes, for people (e.g. "wasm + ONNX Runtime GEMM"). */
  backend: string;
  /**
   * Data-parallel worker threads (wasm backend only; see parallel/workers.ts): 0 chooses from the
   * cores and free memory; left out or 1 trains on this thread.
   */
  workers?: number;
  data: TrainData;
  settings: TrainSettings;
  outDir: string;
  /** Continue from the latest checkpoint in outDir, if one is there. */
  resume?: boolean;
  /** Replace a model already in outDir. */
  overwrite?: boolean;
  /** Files to add to the saved model folder (e.g. the dataset summary). */
  extraFiles?: Record<string, object | string>;
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
}

export { batchTensors, trainStep };

export interface TrainResult extends TrainOutcome {
  history: TrainerState['history'];
}

/** Progress events at most this often, however fast the steps. */
const STEP_EVENT_INTERVAL_MS = 250;
const EVAL_BATCH_SIZE = 64;

export async function train(run: TrainRun): Promise<TrainResult> {
  const { model, data, settings } = run;
  validate(run);
  const encode = (set: LabelledText[]) => set.map((e) => run.tokenizer.encode(e.text, undefined, settings.maxLength));
  const trainEncodings = encode(data.train);
  const validationEncodings = encode(data.validation);
  const lengths = trainEncodings.map((e) => e.inputIds.length);

  const stepsPerEpoch = Math.ceil(data.train.length / settings.batchSize);
  const totalSteps = settings.maxSteps ?? stepsPerEpoch * settings.epochs;
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const warmupSteps = warmupStepsFor(totalSteps, settings.warmupRatio);
  const classWeights = settings.classWeights === 'balanced' ? balancedWeights(data) : undefined;
  const trainable = freezeParameters(model, settings.freeze);
  const optimizer = new AdamW(model.params, { weightDecay: settings.weightDecay });

  const state = await startOrResume(run, optimizer);
  const parallel = await startWorkers(run, optimizer);
  try {
    return await trainLoop(run, { optimizer, state, parallel, trainable, trainEncodings, validationEncodings, lengths, classWeights, totalSteps, stepsPerEpoch, epochs, warmupSteps });
  } finally {
    await parallel?.close();
    optimizer.dispose();
  }
}

interface LoopContext {
  optimizer: AdamW;
  state: TrainerState;
  parallel: DataParallelTrainer | undefined;
  trainable: number;
  trainEncodings: Encoding[];
  validationEncodings: Encoding[];
  lengths: number[];
  classWeights: number[] | undefined;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  warmupSteps: number;
}

/** Worker threads when the run asks for (or the machine affords) more than one and the backend is wasm. */
async function startWorkers(run: TrainRun, optimizer: AdamW): Promise<DataParallelTrainer | undefined> {
  if (tf.getBackend() !== 'wasm' || run.workers === undefined || run.workers === 1) return undefined;
  const count = chooseWorkerCount(run.workers, { batchSize: run.settings.batchSize, numParameters: run.model.numParameters, hiddenSize: run.model.config.hiddenSize });
  return count > 1 ? DataParallelTrainer.start(run.model, optimizer, count) : undefined;
}

async function trainLoop(run: TrainRun, context: LoopContext): Promise<TrainResult> {
  const { model, data, settings, outDir } = run;
  const emit = run.onEvent ?? (() => {});
  const { optimizer, state, parallel, trainable, trainEncodings, validationEncodings, lengths, classWeights, totalSteps, stepsPerEpoch, epochs, warmupSteps } = context;
  const saveContents = { model, tokenizer: run.tokenizer, baseConfig: run.baseConfig };
  /** The training thread's copy of the weights and optimizer state, brought up to date from the workers. */
  const synchronise = async () => parallel?.copyInto(model, optimizer);
  emit({
    event: 'start',
    runId: state.runId,
    modelRef: run.modelRef,
    backend: parallel?.backend ?? run.backend,
    workers: parallel?.size ?? 1,
    totalSteps,
    stepsPerEpoch,
    epochs,
    numTrain: data.train.length,
    numValidation: data.validation.length,
    numTest: data.test.length,
    labels: data.labels,
    numParameters: model.numParameters,
    trainableParameters: trainable,
    ...(state.step > 0 ? { resumedFromStep: state.step } : {}),
  });

  const started = Date.now();
  const stepsAtStart = state.step;
  let lastEventAt = 0;
  let status: TrainStatus = 'completed';

  const evaluateAndCheckpoint = async (): Promise<boolean> => {
    await synchronise();
    const metrics = evaluate(model, run.tokenizer, validationEncodings, data.validation, data.labels);
    const score = scoreOf(metrics, settings.metricForBest);
    const isBest = state.bestScore === undefined || score > state.bestScore;
    if (isBest) Object.assign(state, { bestScore: score, bestStep: state.step, evalsWithoutImprovement: 0 });
    else state.evalsWithoutImprovement += 1;
    const epoch = state.step / stepsPerEpoch;
    state.history.evals.push({ step: state.step, epoch, split: 'validation', metrics });
    emit({ event: 'eval', step: state.step, epoch, split: 'validation', metrics, isBest });
    emit({ event: 'checkpoint', step: state.step, dir: await saveCheckpoint(outDir, saveContents, optimizer.state(), state) });
    return settings.earlyStoppingPatience > 0 && state.evalsWithoutImprovement >= settings.earlyStoppingPatience;
  };

  training: while (state.step < totalSteps) {
    const batches = trainingBatches(lengths, settings.batchSize, settings.seed, state.epoch);
    for (; state.batchInEpoch < batches.length && state.step < totalSteps; state.batchInEpoch++) {
      if (run.signal?.aborted) {
        status = 'cancelled';
        break training;
      }
      const rows = batches[state.batchInEpoch];
      const lr = linearWarmupDecay(settings.learningRate, state.step, totalSteps, warmupSteps);
      const batch = run.tokenizer.pad(rows.map((i) => trainEncodings[i]));
      const labels = rows.map((i) => data.train[i].label);
      const stepOptions = { lr, maxGradNorm: settings.maxGradNorm, dropoutSeed: deriveSeed(settings.seed, 1, state.step), classWeights };
      const { loss, gradNorm } = parallel ? await parallel.step(batch, labels, stepOptions) : trainStep(model, optimizer, batch, labels, stepOptions);
      state.step += 1;
      const record = stepRecord(state, { totalSteps, stepsPerEpoch: batches.length, stepsAtStart, batchSize: settings.batchSize, started, loss, learningRate: lr, gradNorm });
      state.history.steps.push(record);
      if (Date.now() - lastEventAt >= STEP_EVENT_INTERVAL_MS || state.step === totalSteps) {
        emit({ event: 'step', ...record });
        lastEventAt = Date.now();
      }
      const endOfEpoch = state.batchInEpoch + 1 === batches.length;
      const evalDue = endOfEpoch || state.step === totalSteps || (settings.evalEverySteps && state.step % settings.evalEverySteps === 0);
      if (evalDue) {
        state.batchInEpoch += 1; // the checkpoint records this batch as done
        const stop = await evaluateAndCheckpoint();
        state.batchInEpoch -= 1;
        // Early stopping that falls on the last planned step stopped nothing: the run completed.
        if (stop && state.step < totalSteps) {
          status = 'early-stopped';
          break training;
        }
      }
      await yieldToEventLoop(); // let a language server read its messages (e.g. a cancel) between steps
    }
    state.epoch += 1;
    state.batchInEpoch = 0;
  }

  await synchronise();
  if (status === 'cancelled' && state.step > 0 && !checkpointAt(outDir, state.step)) {
    emit({ event: 'checkpoint', step: state.step, dir: await saveCheckpoint(outDir, saveContents, optimizer.state(), state) });
  }
  return finish(run, state, status, started, parallel?.size ?? 1, totalSteps, stepsPerEpoch);
}

/** Loss and metrics of the model (dropout off) on a labelled set. */
export function evaluate(
  model: BertForSequenceClassification,
  tokenizer: Tokenizer,
  encodings: Encoding[],
  examples: LabelledText[],
  labels: string[],
): ClassificationMetrics {
  const predicted = new Array<number>(examples.length);
  let lossSum = 0;
  for (const rows of evaluationBatches(encodings.map((e) => e.inputIds.length), EVAL_BATCH_SIZE)) {
    const batch = tokenizer.pad(rows.map((i) => encodings[i]));
    const [argmax, loss] = tf.tidy(() => {
      const logits = model.forward(batchTensors(batch), { training: false }).logits;
      const batchLoss = crossEntropyLoss(logits, tf.tensor1d(rows.map((i) => examples[i].label), 'int32'));
      return [tf.argMax(logits, -1).dataSync(), batchLoss.dataSync()[0]] as const;
    });
    rows.forEach((row, k) => (predicted[row] = argmax[k]));
    lossSum += loss * rows.length;
  }
  return classificationMetrics(predicted, examples.map((e) => e.label), labels, lossSum / Math.max(examples.length, 1));
}

/** The class logits of each encoding, in order (evaluation mode). */
export function logitsOf(model: BertForSequenceClassification, tokenizer: Tokenizer, encodings: Encoding[]): number[][] {
  const out = new Array<number[]>(encodings.length);
  for (const rows of evaluationBatches(encodings.map((e) => e.inputIds.length), EVAL_BATCH_SIZE)) {
    const batch = tokenizer.pad(rows.map((i) => encodings[i]));
    const logits = tf.tidy(() => model.forward(batchTensors(batch), { training: false }).logits.arraySync()) as number[][];
    rows.forEach((row, k) => (out[row] = logits[k]));
  }
  return out;
}

/** Temperature scaling fitted on the validation split, for the kept (best) weights. */
function calibrateOnValidation(run: TrainRun): Calibration {
  const encodings = run.data.validation.map((e) => run.tokenizer.encode(e.text, undefined, run.settings.maxLength));
  return calibrate(logitsOf(run.model, run.tokenizer, encodings), run.data.validation.map((e) => e.label));
}

function scoreOf(metrics: ClassificationMetrics, metric: TrainSettings['metricForBest']): number {
  return metric === 'loss' ? -(metrics.loss ?? Infinity) : metrics[metric];
}

function balancedWeights(data: TrainData): number[] {
  const counts = data.labels.map((_, c) => data.train.filter((e) => e.label === c).length);
  return counts.map((n) => data.train.length / (data.labels.length * Math.max(n, 1)));
}

/** What identifies a run, so that a resume continues the same one. */
function fingerprint(run: TrainRun): Record<string, unknown> {
  const { settings, data } = run;
  return {
    modelRef: run.modelRef,
    labels: data.labels,
    numTrain: data.train.length,
    numValidation: data.validation.length,
    settings: { ...settings, earlyStoppingPatience: undefined },
  };
}

async function startOrResume(run: TrainRun, optimizer: AdamW): Promise<TrainerState> {
  const latest = latestCheckpoint(run.outDir);
  if (latest && run.resume) {
    const state = readTrainerState(latest);
    if (JSON.stringify(state.fingerprint) !== JSON.stringify(fingerprint(run))) {
      throw new UserError({
        kind: 'bad-argument',
        message: `The checkpoint ${latest} is from a run with other data or settings; it cannot be resumed with these.`,
        file: latest,
        fix: 'Resume with the same data and settings, or train into another output folder.',
      });
    }
    await loadWeightsInto(run.model, latest);
    optimizer.loadState(await readOptimizerState(latest));
    return state;
  }
  checkOutputFolder(run.outDir, { overwrite: run.overwrite });
  return {
    runId: randomBytes(6).toString('hex'),
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    evalsWithoutImprovement: 0,
    fingerprint: fingerprint(run),
    history: { steps: [], evals: [] },
  };
}

/**
 * An output folder that already holds a model or a run is only replaced when asked (`overwrite`),
 * or continued when asked (`resume` with checkpoints there).
 */
export function checkOutputFolder(outDir: string, options: { resume?: boolean; overwrite?: boolean }): void {
  const latest = latestCheckpoint(outDir);
  if (options.overwrite || !existsSync(outDir) || (options.resume && latest)) return;
  const holdsModel = existsSync(join(outDir, 'config.json')) || existsSync(join(outDir, 'model.safetensors'));
  if (holdsModel || latest) {
    throw new UserError({
      kind: 'output-exists',
      message: `The output folder ${outDir} already holds ${latest ? 'checkpoints of an earlier run' : 'a model'}.`,
      file: outDir,
      fix: latest ? 'Resume that run (--resume), choose another output folder, or allow replacing it (--overwrite).' : 'Choose another output folder, or allow replacing it (--overwrite).',
    });
  }
}

async function loadWeightsInto(model: BertForSequenceClassification, checkpointDir: string): Promise<void> {
  const { tensors } = await readSafetensors(join(checkpointDir, 'model.safetensors'));
  const { params } = bertParamsFromCheckpoint(tensors, model.config, checkpointDir);
  for (const [name, value] of params) {
    model.params.get(name)!.assign(value);
    value.dispose();
  }
}

async function finish(run: TrainRun, state: TrainerState, status: TrainStatus, started: number, workers: number, totalSteps: number, stepsPerEpoch: number): Promise<TrainResult> {
  const emit = run.onEvent ?? (() => {});
  const { data, settings } = run;
  const bestDir = state.bestStep !== undefined ? checkpointAt(run.outDir, state.bestStep) : undefined;
  if (bestDir && state.bestStep !== state.step) await loadWeightsInto(run.model, bestDir);
  const bestEval = state.history.evals.filter((e) => e.split === 'validation' && e.step === state.bestStep).pop();

  let test: ClassificationMetrics | undefined;
  if (data.test.length > 0 && status !== 'cancelled') {
    const encodings = data.test.map((e) => run.tokenizer.encode(e.text, undefined, settings.maxLength));
    test = evaluate(run.model, run.tokenizer, encodings, data.test, data.labels);
    const record: EvalRecord = { step: state.bestStep ?? state.step, epoch: state.epoch, split: 'test', metrics: test };
    state.history.evals.push(record);
    emit({ event: 'eval', ...record, isBest: false });
  }

  const elapsedSec = (Date.now() - started) / 1000;
  const learning = checkLearning({
    labels: data.labels,
    validationLabels: data.validation.map((e) => e.label),
    best: bestEval?.metrics,
    numTrain: data.train.length,
    epochs: totalSteps / stepsPerEpoch,
    ...(settings.maxSteps !== undefined ? { maxSteps: settings.maxSteps } : {}),
    modelRef: run.modelRef,
    status,
  });
  const calibration = status === 'cancelled' || data.validation.length === 0 ? undefined : calibrateOnValidation(run);
  const outcome: TrainOutcome = {
    status,
    modelDir: run.outDir,
    steps: state.step,
    bestStep: state.bestStep,
    best: bestEval?.metrics,
    test,
    ...(learning ? { learning } : {}),
    ...(calibration ? { calibration: { temperature: calibration.temperature, eceBefore: calibration.before.ece, eceAfter: calibration.after.ece } } : {}),
    elapsedSec,
  };
  await saveModelFolder(run.outDir, {
    model: run.model,
    tokenizer: run.tokenizer,
    baseConfig: run.baseConfig,
    extraFiles: {
      'training_args.json': { baseModel: run.modelRef, backend: run.backend, workers, labels: data.labels, ...settings },
      'metrics.json': { ...outcome, history: state.history },
      'README.md': modelCard(run, outcome),
      ...(calibration ? { [CALIBRATION_FILE]: calibration } : {}),
      ...run.extraFiles,
    },
  });
  // Checkpoints are for resuming: a finished run keeps only its model.
  if (status !== 'cancelled') rmSync(checkpointsDir(run.outDir), { recursive: true, force: true });
  emit({ event: 'done', ...outcome });
  return { ...outcome, history: state.history };
}

function modelCard(run: TrainRun, summary: TrainOutcome): string {
  const pct = (x?: number) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  const s = run.settings;
  return [
    `# Fine-tuned ${run.modelRef}`,
    '',
    `A BERT sequence classifier fine-tuned with BERT Workbench on ${run.data.train.length} training examples.`,
    `Classes: ${run.data.labels.join(', ')}.`,
    '',
    '| | accuracy | macro F1 |',
    '| --- | --- | --- |',
    `| validation (best) | ${pct(summary.best?.accuracy)} | ${pct(summary.best?.macroF1)} |`,
    `| test | ${pct(summary.test?.accuracy)} | ${pct(summary.test?.macroF1)} |`,
    '',
    ...(summary.learning ? [`**Warning:** ${summary.learning.message}`, ''] : []),
    `Training: ${summary.steps} steps (${summary.status}), batch ${s.batchSize}, learning rate ${s.learningRate}, ` +
      `weight decay ${s.weightDecay}, warmup ${s.warmupRatio}, max length ${s.maxLength}, seed ${s.seed}, backend ${run.backend}.`,
    '',
    'Load it in Python with `AutoModelForSequenceClassification.from_pretrained(folder)` and',
    '`AutoTokenizer.from_pretrained(folder)`, or in BERT Workbench with "Load Model…".',
    '',
  ].join('\n');
}

function validate(run: TrainRun): void {
  const { settings: s, data } = run;
  const bad = (message: string, fix: string) => new UserError({ kind: 'bad-argument', message, fix });
  if (!(s.learningRate > 0 && s.learningRate <= 1)) throw bad(`The learning rate ${s.learningRate} is out of range.`, 'Use a learning rate above 0 and at most 1 (BERT: 2e-5 to 5e-5; compact BERTs up to 3e-4).');
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1 && s.batchSize <= 4096)) throw bad(`The batch size ${s.batchSize} is out of range.`, 'Use a whole number from 1 to 4096 (16 or 32 are usual).');
  if (!(Number.isInteger(s.epochs) && s.epochs >= 1)) throw bad(`The number of epochs ${s.epochs} is out of range.`, 'Use at least 1 epoch.');
  if (s.maxSteps !== undefined && !(Number.isInteger(s.maxSteps) && s.maxSteps >= 1)) throw bad(`--max-steps ${s.maxSteps} is out of range.`, 'Use at least 1 step.');
  if (!(s.maxLength >= 2 && s.maxLength <= run.model.config.maxPositionEmbeddings)) {
    throw bad(`The max length ${s.maxLength} is out of range for this model.`, `Use 2 to ${run.model.config.maxPositionEmbeddings}.`);
  }
  if (data.labels.length < 2) throw new UserError({ kind: 'single-class', message: `The training data has only one class (${data.labels[0]}).`, fix: 'A classifier needs examples of at least two classes.' });
  const present = new Set(data.train.map((e) => e.label));
  if (present.size < 2) {
    throw new UserError({ kind: 'single-class', message: `The training split has only one class (${data.labels[[...present][0]]}).`, fix: 'Add examples of the other classes to the training data.' });
  }
  if (data.train.length < s.batchSize) {
    throw bad(`The training split has ${data.train.length} examples, fewer than one batch of ${s.batchSize}.`, `Lower the batch size to at most ${data.train.length}, or add data.`);
  }
  if (data.validation.length === 0) throw bad('The validation split is empty.', 'Give a validation file or a validation share above 0.');
  const k = data.labels.length;
  for (const [name, set] of [['train', data.train], ['validation', data.validation], ['test', data.test]] as const) {
    const unknown = set.find((e) => !(Number.isInteger(e.label) && e.label >= 0 && e.label < k));
    if (unknown) {
      throw new UserError({ kind: 'unknown-label', message: `The ${name} split has a label id ${unknown.label} outside the ${k} classes.`, fix: 'Every label must be one of the training classes.' });
    }
  }
  if (run.model.numLabels !== k) {
    throw new Error(`model has ${run.model.numLabels} classes but the data ${k}: build the model for the data's labels`);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What a step event reports, from the run's counters after `state.step` was advanced. */
export function stepRecord(
  state: { step: number; epoch: number; batchInEpoch: number },
  run: { totalSteps: number; stepsPerEpoch: number; stepsAtStart: number; batchSize: number; started: number; loss: number; learningRate: number; gradNorm: number },
): Omit<TrainStepEvent, 'event' | 'phase'> {
  const elapsedSec = (Date.now() - run.started) / 1000;
  const stepsDone = state.step - run.stepsAtStart;
  return {
    step: state.step,
    totalSteps: run.totalSteps,
    epoch: state.epoch + (state.batchInEpoch + 1) / run.stepsPerEpoch,
    loss: run.loss,
    learningRate: run.learningRate,
    gradNorm: run.gradNorm,
    samplesPerSec: (stepsDone * run.batchSize) / Math.max(elapsedSec, 1e-9),
    elapsedSec,
    etaSec: ((run.totalSteps - state.step) * elapsedSec) / stepsDone,
  };
}
