/**
 * `bench`: times training steps (forward, cross-entropy, backward, clipping, AdamW: the trainer's own
 * `trainStep`) or predictions of a randomly initialised BERT of a given shape on random token ids.
 */
import * as tf from '../server/engine/tf';
import { initBackend, type BackendChoice } from '../server/engine/backend';
import type { BertForSequenceClassification } from '../server/engine/bert';
import { randomBatch, randomBert, type BertShape } from '../server/engine/random-bert';
import type { EncodedBatch } from '../server/engine/tokenizer';
import { AdamW } from '../server/engine/train/optimizer';
import { batchTensors, trainStep } from '../server/engine/train/step';
import { chooseWorkerCount, DataParallelTrainer } from '../server/engine/train/parallel/workers';
import type { CliCommand, CliValues } from './command';
import { UsageError, backendOption, intOption } from './options';
import { mlmHeadParams } from '../server/engine/mlm/head';
import { maskTokens } from '../server/engine/mlm/masking';
import { maskedLMStep } from '../server/engine/mlm/pretrain';
import { Random } from '../server/engine/random';

type Mode = 'train' | 'mlm' | 'predict';

type BenchShape = BertShape;

interface BenchSettings {
  mode: Mode;
  shape: BenchShape;
  batchSize: number;
  seqLen: number;
  steps: number;
  warmup: number;
  backend: BackendChoice;
  /** Training worker threads: 1 = this thread, 0 = as `train` chooses (every core, for compact BERTs and larger). */
  workers: number;
}

export interface BenchResult {
  mode: Mode;
  backend: string;
  /** What computed the matrix products: e.g. "onnxruntime" (its GEMM inside wasm) or the backend itself. */
  gemm: string;
  shape: BenchShape;
  batchSize: number;
  seqLen: number;
  steps: number;
  samplesPerSec: number;
  tokensPerSec: number;
  secPerStep: number;
  /** The fastest timed step: less sensitive than the mean to other load on the machine. */
  minSecPerStep: number;
  /** CPU time of this process per timed step (all its threads): hardly moved by other processes' load. */
  cpuSecPerStep: number;
  peakRssMB: number;
  /** Live tensors after every step (in each worker, with workers); the bench fails if this grows from one step to the next. */
  numTensors: number;
  /** Data-parallel worker threads that trained (1: this thread). */
  workers: number;
  optimizer?: string;
}

const SEED = 42;
const LR = 5e-5;

export const benchCommand: CliCommand = {
  name: 'bench',
  summary: 'time training steps or predictions of a randomly initialised BERT of a given shape',
  usage: `Usage: bert-workbench bench train|mlm|predict [--layers N --hidden N --heads N --intermediate N --vocab N]
       [--batch-size N --seq-len N --steps N --warmup N] [--workers N] [--backend auto|tensorflow|wasm|cpu] [--json]

  train            forward, cross-entropy, backward, gradient clipping and an AdamW update per step
  mlm              the same for masked-LM pre-training (15% of tokens predicted, decoder tied to the embeddings)
  predict          forward passes only (evaluation mode); samplesPerSec counts texts
  --layers N       encoder layers (default 4)        --hidden N        hidden size (default 256)
  --heads N        attention heads (default 4)       --intermediate N  feed-forward size (default 1024)
  --vocab N        vocabulary size (default 30522)
  --batch-size N   sequences per step (default 16)   --seq-len N       tokens per sequence (default 128)
  --steps N        timed steps (default 5)           --warmup N        untimed steps first (default 1)
  --workers N      training worker threads (default 1; 0 = as train chooses: every core for H ≥ 256)
  --json           one line: {"mode","backend","gemm","shape":{…},"batchSize","seqLen","steps","samplesPerSec",
                   "tokensPerSec","secPerStep","minSecPerStep","cpuSecPerStep","peakRssMB","numTensors","workers","optimizer"}`,
  options: {
    layers: { type: 'string' },
    hidden: { type: 'string' },
    heads: { type: 'string' },
    intermediate: { type: 'string' },
    vocab: { type: 'string' },
    'batch-size': { type: 'string' },
    'seq-len': { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    backend: { type: 'string' },
    workers: { type: 'string' },
  },
  positionals: true,
  async run(values, positionals, out) {
    const settings = benchSettings(values, positionals);
    const backend = await initBackend(settings.backend);
    const result = await runBench(settings, backend.name, backend.gemm);
    out.result(result, formatResult(result));
  },
};

function benchSettings(values: CliValues, positionals: string[]): BenchSettings {
  const [mode, ...extra] = positionals;
  if ((mode !== 'train' && mode !== 'predict' && mode !== 'mlm') || extra.length > 0) {
    throw new UsageError('bench needs one mode: train, mlm or predict.', 'Run "bench train", "bench mlm" or "bench predict".');
  }
  const int = (name: string, fallback: number, min: number, max: number) => intOption(values, name, min, max) ?? fallback;
  const shape = {
    layers: int('layers', 4, 1, 48),
    hidden: int('hidden', 256, 1, 8192),
    heads: int('heads', 4, 1, 128),
    intermediate: int('intermediate', 1024, 1, 32768),
    vocab: int('vocab', 30522, 2, 1_000_000),
  };
  if (shape.hidden % shape.heads !== 0) {
    throw new UsageError(`--hidden ${shape.hidden} is not a multiple of --heads ${shape.heads}.`, 'Give a hidden size that the number of heads divides.');
  }
  return {
    mode,
    shape,
    batchSize: int('batch-size', 16, 1, 4096),
    seqLen: int('seq-len', 128, 2, 512),
    steps: int('steps', 5, 1, 100_000),
    warmup: int('warmup', 1, 0, 100_000),
    backend: backendOption(values),
    workers: int('workers', 1, 0, 64),
  };
}

async function runBench(settings: BenchSettings, backendName: string, gemm: string): Promise<BenchResult> {
  const { mode, shape, batchSize, seqLen, steps, warmup } = settings;
  const model = mode === 'mlm' ? maskedLMOfShape(shape) : randomBert(shape, SEED);
  const batch = randomBatch(batchSize, seqLen, shape.vocab, SEED);
  const optimizer = mode !== 'predict' ? new AdamW(model.params, { weightDecay: 0.01 }) : undefined;
  const workers = optimizer && mode === 'train' && tf.getBackend() === 'wasm' ? chooseWorkerCount(settings.workers, { batchSize, numParameters: model.numParameters, hiddenSize: shape.hidden }) : 1;
  const group = optimizer && workers > 1 ? await DataParallelTrainer.start(model, optimizer, workers) : undefined;
  try {
    const step = group
      ? parallelStep(group, model, batch)
      : mode === 'mlm'
        ? maskedLMTrainingStep(model, optimizer!, batch)
        : optimizer
          ? trainingStep(model, optimizer, batch)
          : predictionStep(model, batch);
    const { stepSec, cpuSec, numTensors } = await timeSteps(step, warmup, steps, group);
    const mean = stepSec.reduce((a, b) => a + b, 0) / stepSec.length;
    return {
      mode,
      backend: backendName,
      gemm,
      shape,
      batchSize,
      seqLen,
      steps,
      samplesPerSec: round(batchSize / mean),
      tokensPerSec: round((batchSize * seqLen) / mean),
      secPerStep: round(mean, 4),
      minSecPerStep: round(Math.min(...stepSec), 4),
      cpuSecPerStep: round(cpuSec / steps, 4),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      numTensors,
      workers,
      ...(optimizer ? { optimizer: 'AdamW' } : {}),
    };
  } finally {
    await group?.close();
    optimizer?.dispose();
    for (const p of model.params.values()) p.dispose();
  }
}

function trainingStep(model: BertForSequenceClassification, optimizer: AdamW, batch: EncodedBatch): (i: number) => void {
  const labels = Array.from({ length: batch.batchSize }, (_, i) => i % model.numLabels);
  return (i) => trainStep(model, optimizer, batch, labels, { lr: LR, maxGradNorm: 1, dropoutSeed: SEED + i });
}

/** A random BERT with a fresh masked-LM head and no pooler or classifier, as `pretrain` trains. */
function maskedLMOfShape(shape: BenchSettings['shape']): BertForSequenceClassification {
  const model = randomBert(shape, SEED);
  for (const name of [...model.params.keys()].filter((n) => n.startsWith('bert.pooler.') || n.startsWith('classifier.'))) {
    model.params.get(name)!.dispose();
    model.params.delete(name);
  }
  for (const [name, p] of mlmHeadParams(new Map(), model.config, SEED).params) model.params.set(name, p);
  return model;
}

/** One masked-LM step: BERT's 15% corruption (new masks each step), forward, loss, backward, clip, AdamW. */
function maskedLMTrainingStep(model: BertForSequenceClassification, optimizer: AdamW, batch: EncodedBatch): (i: number) => void {
  const masking = { probability: 0.15, maskTokenId: 103 % model.config.vocabSize, vocabSize: model.config.vocabSize, specialTokenIds: new Set<number>() };
  return (i) => maskedLMStep(model, optimizer, maskTokens(batch, new Random(SEED + i), masking), { lr: LR, maxGradNorm: 1, dropoutSeed: SEED + i });
}

/** The same step over worker threads (train/parallel): the batch split into one shard per worker. */
function parallelStep(group: DataParallelTrainer, model: BertForSequenceClassification, batch: EncodedBatch): (i: number) => Promise<unknown> {
  const labels = Array.from({ length: batch.batchSize }, (_, i) => i % model.numLabels);
  return (i) => group.step(batch, labels, { lr: LR, maxGradNorm: 1, dropoutSeed: SEED + i });
}

function predictionStep(model: BertForSequenceClassification, batch: EncodedBatch): () => void {
  return () => {
    const logits = tf.tidy(() => model.logits(batchTensors(batch)));
    logits.dataSync(); // wait for the result, as a caller would
    logits.dispose();
  };
}

/**
 * Runs `warmup` untimed then `steps` timed steps; fails if live tensors grow from one step to the
 * next (here, or in any worker). CPU time is the whole process's, worker threads included.
 */
async function timeSteps(
  step: (i: number) => unknown,
  warmup: number,
  steps: number,
  group?: DataParallelTrainer,
): Promise<{ stepSec: number[]; cpuSec: number; numTensors: number }> {
  const stepSec: number[] = [];
  let cpuSec = 0;
  let numTensors: number | undefined;
  for (let i = 0; i < warmup + steps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await step(i);
    if (i >= warmup) {
      stepSec.push((performance.now() - start) / 1000);
      const cpu = process.cpuUsage(cpuStart);
      cpuSec += (cpu.user + cpu.system) / 1e6;
    }
    const now = group ? Math.max(...group.numTensors) : tf.memory().numTensors;
    // The first step creates the optimizer's moments; every later one must leave as many tensors.
    if (i > 0 && now !== numTensors) throw new Error(`bench: step ${i + 1} left ${now - numTensors!} more live tensors than step ${i}`);
    numTensors = now;
  }
  return { stepSec, cpuSec, numTensors: numTensors! };
}

function formatResult(r: BenchResult): string {
  const { layers, hidden, heads, intermediate, vocab } = r.shape;
  const rows: [string, string][] = [
    ['mode', `${r.mode}${r.optimizer ? ` (${r.optimizer})` : ''}`],
    ['backend', r.gemm === r.backend ? r.backend : `${r.backend} (products: ${r.gemm})`],
    ['workers', String(r.workers)],
    ['shape', `L${layers}/H${hidden}/A${heads}/I${intermediate}, vocab ${vocab}`],
    ['batch', `${r.batchSize} × ${r.seqLen} tokens`],
    ['steps timed', String(r.steps)],
    ['s/step', `${r.secPerStep} (fastest ${r.minSecPerStep}; CPU ${r.cpuSecPerStep})`],
    ['samples/s', String(r.samplesPerSec)],
    ['tokens/s', String(r.tokensPerSec)],
    ['peak RSS', `${r.peakRssMB} MB`],
    ['live tensors', `${r.numTensors} (stable across steps)`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(13)} ${v}`).join('\n');
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
