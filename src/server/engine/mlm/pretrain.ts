/**
 * Masked-language-model pre-training (BERT paper §3.1, without next-sentence prediction, as RoBERTa
 * found it adds nothing): the loop, its checkpoints and its output, a model folder in Hugging Face's
 * `BertForMaskedLM` layout that `train` takes as its base model.
 *
 * The same run continues MLM on a labelled dataset's own text before fine-tuning (domain-adaptive
 * pre-training, Gururangan et al. 2020): `fineTune` passes the texts in directly.
 *
 * It shares the fine-tuning loop's parts: length-grouped batches, AdamW with decoupled weight decay,
 * linear warmup and decay, clipping, the same progress events (with `phase: 'mlm'`) and checkpoints
 * that a stopped run resumes from exactly.
 */
import { rmSync } from 'node:fs';
import { Tokenizer } from '../tokenizer';
import type { BertShape } from '../random-bert';
import { compactVocabulary, newModelFolder } from './new-model';
import { randomBytes } from 'node:crypto';
import * as tf from '../tf';
import { UserError } from '../errors';
import type { DatasetOptions } from '../data';
import { Random, deriveSeed } from '../random';
import type { BertForSequenceClassification } from '../bert';
import type { Encoding } from '../tokenizer';
import { evaluationBatches, trainingBatches } from '../train/batches';
import { checkpointsDir, latestCheckpoint, readOptimizerState, readTrainerState, saveCheckpoint, type TrainerState } from '../train/checkpoints';
import type { MaskedLMMetrics, TrainEvent, TrainOutcome, TrainStatus } from '../train/events';
import { AdamW } from '../train/optimizer';
import { saveModelFolder } from '../train/save';
import { linearWarmupDecay, warmupStepsFor } from '../train/schedule';
import { batchTensors } from '../train/step';
import { maskTokens, type MaskingOptions } from './masking';
import { maskedLMForward, maskedLMLoss } from './head';
import { loadMaskedLM, disposeModel } from './model';
import { readPretrainingTexts } from './corpus';
import { describeBackend, initBackend, type BackendChoice } from '../backend';
import { resolveModelRef, type HubOptions } from '../hub';
import { checkOutputFolder, stepRecord, type TrainSettings } from '../train/trainer';

/** The optimisation settings shared with fine-tuning, plus the masking rate and the checkpoint interval. */
export type PretrainSettings = Pick<
  TrainSettings,
  'epochs' | 'maxSteps' | 'batchSize' | 'learningRate' | 'weightDecay' | 'warmupRatio' | 'maxGradNorm' | 'maxLength' | 'seed'
> & {
  /** Share of tokens predicted (BERT: 0.15). */
  mlmProbability: number;
  /** A checkpoint every N steps (and at the end). */
  checkpointEverySteps: number;
};

export const DEFAULT_PRETRAIN_SETTINGS: PretrainSettings = {
  epochs: 1,
  batchSize: 32,
  learningRate: 1e-4,
  weightDecay: 0.01,
  warmupRatio: 0.06,
  maxGradNorm: 1.0,
  maxLength: 128,
  seed: 42,
  mlmProbability: 0.15,
  checkpointEverySteps: 1000,
};

/** Texts held out to measure the masked-LM loss: this share, at most HELD_OUT_MAX. */
const HELD_OUT_SHARE = 0.02;
const HELD_OUT_MAX = 2000;
const STEP_EVENT_INTERVAL_MS = 250;
const EVAL_BATCH_SIZE = 64;

export interface PretrainRun {
  /** A model folder (already resolved from its reference). */
  modelDir: string;
  modelRef: string;
  backend: string;
  texts: string[];
  settings: PretrainSettings;
  outDir: string;
  resume?: boolean;
  /** Files to add to the saved model folder. */
  extraFiles?: Record<string, object | string>;
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
}

export interface PretrainResult extends TrainOutcome {
  maskedLM: MaskedLMMetrics;
  history: TrainerState['history'];
  /** Warnings from loading the base model (a fresh head). */
  warnings: string[];
}

export async function runPretraining(run: PretrainRun): Promise<PretrainResult> {
  const { settings } = run;
  const latest = run.resume ? latestCheckpoint(run.outDir) : undefined;
  const loaded = await loadMaskedLM(latest ?? run.modelDir, settings.seed);
  try {
    validate(run, loaded.model);
    const { train, heldOut } = splitHeldOut(run.texts, settings.seed);
    const encode = (texts: string[]) => texts.map((t) => loaded.tokenizer.encode(t, undefined, settings.maxLength));
    const context = { model: loaded.model, tokenizer: loaded.tokenizer, baseConfig: loaded.rawConfig, train: encode(train), heldOut: encode(heldOut) };
    const outcome = await loop(run, context, latest);
    return { ...outcome, warnings: loaded.warnings };
  } finally {
    disposeModel(loaded.model);
  }
}

interface Context {
  model: BertForSequenceClassification;
  tokenizer: Tokenizer;
  baseConfig: Record<string, unknown>;
  train: Encoding[];
  heldOut: Encoding[];
}

async function loop(run: PretrainRun, context: Context, resumeFrom: string | undefined): Promise<PretrainResult> {
  const { settings, outDir } = run;
  const { model, tokenizer } = context;
  const emit = run.onEvent ?? (() => {});
  const lengths = context.train.map((e) => e.inputIds.length);
  const stepsPerEpoch = Math.ceil(lengths.length / settings.batchSize);
  const totalSteps = settings.maxSteps ?? stepsPerEpoch * settings.epochs;
  const warmupSteps = warmupStepsFor(totalSteps, settings.warmupRatio);
  const masking = maskingOptions(tokenizer, model, settings.mlmProbability);
  const optimizer = new AdamW(model.params, { weightDecay: settings.weightDecay });
  const state = await startOrResume(run, optimizer, resumeFrom, lengths.length);
  const saveContents = { model, tokenizer, baseConfig: { ...context.baseConfig, architectures: ['BertForMaskedLM'] } };
  const checkpoint = async () => emit({ event: 'checkpoint', step: state.step, dir: await saveCheckpoint(outDir, saveContents, optimizer.state(), state) });
  emit({
    event: 'start',
    phase: 'mlm',
    runId: state.runId,
    modelRef: run.modelRef,
    backend: run.backend,
    workers: 1,
    totalSteps,
    stepsPerEpoch,
    epochs: Math.ceil(totalSteps / stepsPerEpoch),
    numTrain: lengths.length,
    numValidation: context.heldOut.length,
    numTest: 0,
    labels: [],
    numParameters: model.numParameters,
    trainableParameters: model.numParameters,
    ...(state.step > 0 ? { resumedFromStep: state.step } : {}),
  });

  const started = Date.now();
  const stepsAtStart = state.step;
  let lastEventAt = 0;
  let status: TrainStatus = 'completed';
  try {
    training: while (state.step < totalSteps) {
      const batches = trainingBatches(lengths, settings.batchSize, settings.seed, state.epoch);
      for (; state.batchInEpoch < batches.length && state.step < totalSteps; state.batchInEpoch++) {
        if (run.signal?.aborted) {
          status = 'cancelled';
          break training;
        }
        const lr = linearWarmupDecay(settings.learningRate, state.step, totalSteps, warmupSteps);
        const padded = tokenizer.pad(batches[state.batchInEpoch].map((i) => context.train[i]));
        const masked = maskTokens(padded, new Random(deriveSeed(settings.seed, 2, state.step)), masking);
        const { loss, gradNorm } = maskedLMStep(model, optimizer, masked, { lr, maxGradNorm: settings.maxGradNorm, dropoutSeed: deriveSeed(settings.seed, 1, state.step) });
        state.step += 1;
        const record = stepRecord(state, { totalSteps, stepsPerEpoch: batches.length, stepsAtStart, batchSize: settings.batchSize, started, loss, learningRate: lr, gradNorm });
        state.history.steps.push(record);
        if (Date.now() - lastEventAt >= STEP_EVENT_INTERVAL_MS || state.step === totalSteps) {
          emit({ event: 'step', phase: 'mlm', ...record });
          lastEventAt = Date.now();
        }
        if (state.step % settings.checkpointEverySteps === 0 && state.step < totalSteps) {
          state.batchInEpoch += 1; // the checkpoint records this batch as done
          await checkpoint();
          state.batchInEpoch -= 1;
        }
        await new Promise((resolve) => setImmediate(resolve)); // let a language server read a cancel
      }
      if (state.batchInEpoch >= batches.length) {
        state.epoch += 1;
        state.batchInEpoch = 0;
      }
    }
    const metrics = maskedLMMetrics(model, tokenizer, context.heldOut, masking, settings.seed);
    emit({ event: 'mlm-eval', step: state.step, epoch: state.step / stepsPerEpoch, metrics });
    if (status === 'cancelled') {
      if (state.step > stepsAtStart) await checkpoint();
    } else {
      await saveModelFolder(outDir, {
        ...saveContents,
        extraFiles: {
          'pretraining_args.json': { baseModel: run.modelRef, backend: run.backend, texts: run.texts.length, ...settings },
          'metrics.json': { maskedLM: metrics, steps: state.step, history: state.history },
          ...run.extraFiles,
        },
      });
      rmSync(checkpointsDir(outDir), { recursive: true, force: true });
    }
    const outcome = { status, modelDir: outDir, steps: state.step, maskedLM: metrics, elapsedSec: (Date.now() - started) / 1000 };
    emit({ event: 'done', ...outcome });
    return { ...outcome, history: state.history, warnings: [] };
  } finally {
    optimizer.dispose();
  }
}

/** One optimizer step of masked-LM training: forward, loss, backward, clip, AdamW. */
export function maskedLMStep(
  model: BertForSequenceClassification,
  optimizer: AdamW,
  masked: ReturnType<typeof maskTokens>,
  options: { lr: number; maxGradNorm: number; dropoutSeed: number },
): { loss: number; gradNorm: number } {
  const nameOf = new Map([...model.params].map(([name, p]) => [p.name, name]));
  const { value, grads } = tf.tidy(() => {
    const inputs = batchTensors(masked.batch);
    return tf.variableGrads(() => maskedLMLoss(model, inputs, masked, { training: true, dropoutSeed: options.dropoutSeed }), [...model.params.values()]);
  });
  const loss = value.dataSync()[0];
  value.dispose();
  const named = new Map(Object.entries(grads).map(([id, g]) => [nameOf.get(id)!, g]));
  const { norm } = optimizer.clipAndApply(named, options.lr, options.maxGradNorm);
  tf.dispose([...named.values()]);
  return { loss, gradNorm: norm };
}

/** Masked-LM loss and accuracy on held-out text, with masks that depend only on the seed (comparable across runs). */
export function maskedLMMetrics(model: BertForSequenceClassification, tokenizer: Tokenizer, encodings: Encoding[], masking: MaskingOptions, seed: number): MaskedLMMetrics {
  let lossSum = 0;
  let correct = 0;
  let tokens = 0;
  evaluationBatches(encodings.map((e) => e.inputIds.length), EVAL_BATCH_SIZE).forEach((rows, b) => {
    const masked = maskTokens(tokenizer.pad(rows.map((i) => encodings[i])), new Random(deriveSeed(seed, 3, b)), masking);
    if (masked.positions.length === 0) return;
    const [loss, predicted] = tf.tidy(() => {
      const logits = maskedLMForward(model, batchTensors(masked.batch), masked.positions, { training: false });
      const targets = tf.tensor1d(masked.targets, 'int32');
      const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(targets, logits.shape[1]), tf.logSoftmax(logits)), -1));
      return [tf.sum(nll).dataSync()[0], tf.argMax(logits, -1).dataSync()] as const;
    });
    lossSum += loss;
    tokens += masked.targets.length;
    masked.targets.forEach((t, k) => (correct += predicted[k] === t ? 1 : 0));
  });
  return { loss: tokens > 0 ? lossSum / tokens : NaN, accuracy: tokens > 0 ? correct / tokens : NaN, tokens };
}

export function maskingOptions(tokenizer: Tokenizer, model: BertForSequenceClassification, probability: number): MaskingOptions {
  return {
    probability,
    maskTokenId: tokenizer.tokenId('[MASK]'),
    vocabSize: model.config.vocabSize,
    specialTokenIds: new Set([tokenizer.clsId, tokenizer.sepId, tokenizer.padId]),
  };
}

/** A seeded share of the texts, held out for the masked-LM metrics. */
function splitHeldOut(texts: string[], seed: number): { train: string[]; heldOut: string[] } {
  const order = new Random(deriveSeed(seed, 4)).shuffle(texts.map((_, i) => i));
  const n = texts.length >= 50 ? Math.min(HELD_OUT_MAX, Math.ceil(texts.length * HELD_OUT_SHARE)) : 0;
  const held = new Set(order.slice(0, n));
  return { train: texts.filter((_, i) => !held.has(i)), heldOut: texts.filter((_, i) => held.has(i)) };
}

function fingerprint(run: PretrainRun, numTexts: number): Record<string, unknown> {
  return { modelRef: run.modelRef, numTexts, settings: { ...run.settings, checkpointEverySteps: undefined } };
}

async function startOrResume(run: PretrainRun, optimizer: AdamW, resumeFrom: string | undefined, numTexts: number): Promise<TrainerState> {
  if (resumeFrom) {
    const state = readTrainerState(resumeFrom);
    if (JSON.stringify(state.fingerprint) !== JSON.stringify(fingerprint(run, numTexts))) {
      throw new UserError({
        kind: 'bad-argument',
        message: `The checkpoint ${resumeFrom} is from a run with other text or settings; it cannot be resumed with these.`,
        file: resumeFrom,
        fix: 'Resume with the same --data and settings, or pre-train into another output folder.',
      });
    }
    optimizer.loadState(await readOptimizerState(resumeFrom));
    return state;
  }
  return {
    runId: randomBytes(6).toString('hex'),
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    evalsWithoutImprovement: 0,
    fingerprint: fingerprint(run, numTexts),
    history: { steps: [], evals: [] },
  };
}

function validate(run: PretrainRun, model: BertForSequenceClassification): void {
  const s = run.settings;
  const bad = (message: string, fix: string) => new UserError({ kind: 'bad-argument', message, fix });
  if (!(s.learningRate > 0 && s.learningRate <= 1)) throw bad(`The learning rate ${s.learningRate} is out of range.`, 'Use a learning rate above 0 and at most 1 (BERT pre-training: 1e-4; tiny models up to 1e-3).');
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1 && s.batchSize <= 4096)) throw bad(`The batch size ${s.batchSize} is out of range.`, 'Use a whole number from 1 to 4096.');
  if (!(Number.isInteger(s.epochs) && s.epochs >= 1)) throw bad(`The number of epochs ${s.epochs} is out of range.`, 'Use at least 1 epoch.');
  if (s.maxSteps !== undefined && !(Number.isInteger(s.maxSteps) && s.maxSteps >= 1)) throw bad(`--max-steps ${s.maxSteps} is out of range.`, 'Use at least 1 step.');
  if (!(s.mlmProbability > 0 && s.mlmProbability < 1)) throw bad(`The masking probability ${s.mlmProbability} is out of range.`, 'Use a share between 0 and 1 (BERT: 0.15).');
  if (!(s.maxLength >= 3 && s.maxLength <= model.config.maxPositionEmbeddings)) throw bad(`The max length ${s.maxLength} is out of range for this model.`, `Use 3 to ${model.config.maxPositionEmbeddings}.`);
  if (run.texts.length < s.batchSize) throw bad(`There are ${run.texts.length} texts, fewer than one batch of ${s.batchSize}.`, `Lower the batch size to at most ${run.texts.length}, or add text.`);
}

export interface PretrainRequest {
  /** Text files (one text per line) and datasets (the text of every split). */
  data: string[];
  dataset?: DatasetOptions;
  /** A model folder, a Hub id, or builtin:<name>. */
  model: string;
  outDir: string;
  settings?: Partial<PretrainSettings>;
  backend?: BackendChoice;
  hub?: HubOptions;
  resume?: boolean;
  overwrite?: boolean;
  /** Start from random weights of this shape (with `model`'s vocabulary) instead of `model`'s weights. */
  shape?: Omit<BertShape, 'vocab'>;
  /** With `shape`: compact the vocabulary to this many tokens, the ones the text uses most (new-model.ts). */
  vocabSize?: number;
}

/** Pre-training from end to end, as the CLI starts it: backend, model, text, then the loop. */
export async function pretrain(request: PretrainRequest, hooks: { onEvent?: (event: TrainEvent) => void; signal?: AbortSignal } = {}): Promise<PretrainResult> {
  checkOutputFolder(request.outDir, request); // before any slow work
  const backend = await initBackend(request.backend ?? 'auto');
  const baseDir = await resolveModelRef(request.model, request.hub);
  const texts = await readPretrainingTexts(request.data, request.dataset);
  const settings = { ...DEFAULT_PRETRAIN_SETTINGS, ...request.settings };
  const resuming = request.resume === true && latestCheckpoint(request.outDir) !== undefined;
  const fresh = request.shape && !resuming ? await freshModel(baseDir, request, texts, settings.seed) : undefined;
  try {
    const result = await runPretraining({
      modelDir: fresh?.dir ?? baseDir,
      modelRef: request.shape ? newModelRef(request) : request.model,
      backend: describeBackend(backend),
      texts,
      settings,
      outDir: request.outDir,
      resume: request.resume,
      onEvent: hooks.onEvent,
      signal: hooks.signal,
    });
    return fresh ? { ...result, warnings: [] } : result; // a new model has no head to miss
  } finally {
    if (fresh) rmSync(fresh.dir, { recursive: true, force: true });
  }
}

async function freshModel(baseDir: string, request: PretrainRequest, texts: string[], seed: number): Promise<{ dir: string }> {
  const base = Tokenizer.load(baseDir);
  const vocabulary = request.vocabSize ? compactVocabulary(base, texts, request.vocabSize) : undefined;
  return { dir: await newModelFolder(base, request.shape!, vocabulary, seed) };
}

/** What a run from scratch is called in its files (and what a resume must match). */
function newModelRef(request: PretrainRequest): string {
  const s = request.shape!;
  const shape = `L${s.layers} H${s.hidden} A${s.heads} I${s.intermediate} P${s.maxPositions ?? 512}`;
  return `new BERT ${shape}, vocabulary of ${request.model}${request.vocabSize ? ` compacted to ${request.vocabSize}` : ''}`;
}

