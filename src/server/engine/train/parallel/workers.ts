/**
 * Data-parallel training over worker threads (DistributedDataParallel's idea, on one machine):
 * each step's batch is split into contiguous shards, one per worker; each worker computes its
 * shard's gradients on its own wasm backend and writes them into a shared buffer; then every
 * worker sums the same buffers in the same order and takes the same AdamW step, so the replicas
 * never drift apart and no weights travel. The same seed and batch give the one-thread result within
 * float tolerance (dropout masks are drawn per global row: see bert.ts).
 *
 * The training thread itself computes nothing: it hands out shards, waits, and copies the weights
 * and optimizer state back from worker 0 when it evaluates or saves a checkpoint.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../tf';
import type { BertForSequenceClassification } from '../../bert';
import type { EncodedBatch } from '../../tokenizer';
import type { AdamW } from '../optimizer';
import type { StepOptions } from '../step';
import type { FromWorker, GradientLayout, ToWorker, WorkerInit } from './messages';
import { shardBatch } from './shards';

/** More workers than this rarely pay: the per-step summing and messaging grow with the count. */
const MAX_AUTO_WORKERS = 8;

/**
 * Below this hidden size a step is mostly the fixed cost of each op, which a smaller shard does not
 * shrink, so `auto` trains on one thread (measured: tiny-bert H32 and L2/H128 steps got slower with 2
 * workers; L4/H256 got 1.2× faster at batch 32 × 24 tokens and 1.4× at 16 × 128).
 */
const MIN_HIDDEN_FOR_AUTO_WORKERS = 256;

/**
 * How many workers to run. `requested` ≥ 1 is taken as given (at most one per batch row); 0 or
 * undefined means every core the machine has, as long as free memory holds a replica for each and
 * the model is large enough to gain. Workers run at below-normal priority, so the editor stays
 * responsive while they use every core.
 */
export function chooseWorkerCount(requested: number | undefined, context: { batchSize: number; numParameters: number; hiddenSize: number }): number {
  if (requested !== undefined && requested >= 1) return Math.min(Math.floor(requested), context.batchSize);
  if (context.hiddenSize < MIN_HIDDEN_FOR_AUTO_WORKERS) return 1;
  // A replica holds weights, gradients, two AdamW moments and a gradient slot (5 × 4 bytes a
  // parameter) plus activations; 256 MB covers compact BERTs' activations at batch 32 × 128.
  const perWorker = context.numParameters * 20 + 256 * 2 ** 20;
  const byMemory = Math.max(1, Math.floor((0.5 * freemem()) / perWorker));
  return Math.max(1, Math.min(availableParallelism(), MAX_AUTO_WORKERS, byMemory, context.batchSize));
}

interface Pending {
  resolve: (message: FromWorker) => void;
  reject: (error: Error) => void;
}

export class DataParallelTrainer {
  private readonly pending: Pending[][];
  private failure: Error | undefined;
  /** What the workers compute on, e.g. "wasm + ONNX Runtime GEMM". */
  backend = '';
  /** Live tensors in each worker after its last update (for leak checks). */
  numTensors: number[] = [];

  private constructor(
    private readonly workers: Worker[],
    /** Each worker's slot of the shared gradient buffer. */
    private readonly slots: Float32Array[],
  ) {
    this.pending = workers.map(() => []);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Starts `count` workers, each with a copy of the model's weights and the optimizer's state. */
  static async start(model: BertForSequenceClassification, optimizer: AdamW, count: number): Promise<DataParallelTrainer> {
    const layout = gradientLayout(model);
    const floatsPerSlot = layout.reduce((n, p) => n + p.size, 0);
    const gradients = new SharedArrayBuffer(count * floatsPerSlot * 4);
    const params = [...model.params].map(([name, p]) => ({ name, shape: p.shape, data: p.dataSync() as Float32Array, trainable: p.trainable }));
    const { beta1, beta2, eps, weightDecay, opsOnly } = optimizer;
    const shared = { workers: count, gradients, floatsPerSlot, layout, config: model.config, params, optimizer: { options: { beta1, beta2, eps, weightDecay, opsOnly }, state: optimizer.state() } };
    const script = workerScript();
    const workers = Array.from({ length: count }, (_, index) => new Worker(script.code ?? script.file, { workerData: { ...shared, index } satisfies WorkerInit, eval: script.code !== undefined }));
    const slots = workers.map((_, k) => new Float32Array(gradients, k * floatsPerSlot * 4, floatsPerSlot));
    const group = new DataParallelTrainer(workers, slots);
    workers.forEach((worker, k) => group.listen(worker, k));
    try {
      const ready = await Promise.all(workers.map((_, k) => group.next(k)));
      group.backend = (ready[0] as { backend: string }).backend;
      return group;
    } catch (e) {
      await group.close();
      throw e;
    }
  }

  /** One optimizer step over all workers: the batch loss and the gradient norm before clipping. */
  async step(batch: EncodedBatch, labels: number[], options: StepOptions): Promise<{ loss: number; gradNorm: number }> {
    const shards = shardBatch(batch, labels, this.size, options.classWeights);
    const tokenRows = Int32Array.from(new Set(batch.inputIds)).sort();
    const losses = await Promise.all(
      shards.map((shard, k) =>
        this.request(k, {
          type: 'gradients',
          tokenRows,
          batch: shard.batch,
          labels: shard.labels,
          firstRow: shard.firstRow,
          dropoutSeed: options.dropoutSeed,
          lossScale: shard.lossScale,
          classWeights: options.classWeights,
        }),
      ),
    );
    // A batch smaller than the group leaves some workers idle: their slots must not add stale gradients.
    for (const slot of this.slots.slice(shards.length)) slot.fill(0);
    const apply = { type: 'apply', lr: options.lr, maxGradNorm: options.maxGradNorm, tokenRows } as const;
    const applied = await Promise.all(this.workers.map((_, k) => this.request(k, apply)));
    this.numTensors = applied.map((m) => (m as { numTensors: number }).numTensors);
    const loss = losses.reduce((sum, m) => sum + (m as { loss: number }).loss, 0);
    return { loss, gradNorm: (applied[0] as { gradNorm: number }).gradNorm };
  }

  /** Copies worker 0's weights and optimizer state into the training thread's model and optimizer. */
  async copyInto(model: BertForSequenceClassification, optimizer: AdamW): Promise<void> {
    const state = (await this.request(0, { type: 'state' })) as Extract<FromWorker, { type: 'state' }>;
    for (const p of state.params) {
      const value = tf.tensor(p.data, p.shape);
      model.params.get(p.name)!.assign(value);
      value.dispose();
    }
    optimizer.loadState(state.optimizer);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private request(k: number, message: ToWorker): Promise<FromWorker> {
    const answer = this.next(k);
    this.workers[k].postMessage(message);
    return answer;
  }

  /** The worker's next message. */
  private next(k: number): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.pending[k].push({ resolve, reject }));
  }

  private listen(worker: Worker, k: number): void {
    worker.on('message', (message: FromWorker) => {
      const waiting = this.pending[k].shift();
      if (message.type === 'failed') this.fail(new Error(`training worker ${k + 1}: ${message.message}`), waiting);
      else waiting?.resolve(message);
    });
    worker.on('error', (e) => this.fail(new Error(`training worker ${k + 1} failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (this.pending[k].length > 0) this.fail(new Error(`training worker ${k + 1} stopped (exit code ${code})`));
    });
  }

  private fail(error: Error, first?: Pending): void {
    this.failure ??= error;
    first?.reject(error);
    for (const queue of this.pending) for (const p of queue.splice(0)) p.reject(error);
  }
}

const WORD_EMBEDDINGS = 'bert.embeddings.word_embeddings.weight';

/** The trainable parameters' places in a gradient slot, in the model's parameter order. */
function gradientLayout(model: BertForSequenceClassification): GradientLayout[] {
  let offset = 0;
  return [...model.params]
    .filter(([, p]) => p.trainable)
    .map(([name, p]) => {
      const entry = { name, shape: p.shape, offset, size: p.size, rowsOfTokens: name === WORD_EMBEDDINGS };
      offset += p.size;
      return entry;
    });
}

/** The worker's entry: the bundle beside this one, or (running from sources, as the tests do) the TypeScript file through tsx. */
function workerScript(): { file: string; code?: string } {
  const bundled = join(__dirname, 'train-worker.js');
  if (existsSync(bundled)) return { file: bundled };
  const file = join(__dirname, 'worker.ts');
  return { file, code: `require('tsx/cjs'); require(${JSON.stringify(file)});` };
}
