/**
 * A data-parallel gradient worker (a worker_threads entry; bundled as dist/train-worker.js).
 *
 * It holds a replica of the model and of the AdamW state on its own wasm backend (one GEMM thread),
 * computes the gradients of its shard of each batch into its slot of a shared buffer, and on
 * `apply` sums all slots in slot order, clips and updates exactly as every other worker does, so the
 * replicas stay identical without sending weights around.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { constants, setPriority } from 'node:os';
import * as tf from '../../tf';
import { describeBackend, initBackend } from '../../backend';
import { BertForSequenceClassification } from '../../bert';
import { AdamW, clipCoefficient } from '../optimizer';
import { computeGradients } from '../step';
import { hostData } from '../../ops/matmul';
import { f32, hostTensor } from '../../ops/host';
import type { FromWorker, ToWorker, WorkerInit } from './messages';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

class Replica {
  readonly model: BertForSequenceClassification;
  readonly optimizer: AdamW;
  private readonly slots: Float32Array[];

  constructor() {
    const params = new Map(init.params.map((p) => [p.name, tf.tidy(() => tf.variable(tf.tensor(p.data, p.shape), p.trainable))]));
    this.model = new BertForSequenceClassification(init.config, params);
    this.optimizer = new AdamW(params, init.optimizer.options);
    this.optimizer.loadState(init.optimizer.state);
    this.slots = Array.from({ length: init.workers }, (_, k) => new Float32Array(init.gradients, k * init.floatsPerSlot * 4, init.floatsPerSlot));
  }

  gradients(message: Extract<ToWorker, { type: 'gradients' }>): number {
    const { loss, grads } = computeGradients(this.model, message.batch, message.labels, message);
    const slot = this.slots[init.index];
    for (const { name, shape, offset, rowsOfTokens } of init.layout) {
      const grad = grads.get(name)!;
      const data = hostData(grad) ?? (grad.dataSync() as Float32Array);
      if (!rowsOfTokens) {
        slot.set(data, offset);
        continue;
      }
      const width = shape[1];
      for (const row of message.tokenRows) slot.set(data.subarray(row * width, (row + 1) * width), offset + row * width);
    }
    tf.dispose([...grads.values()]);
    return loss;
  }

  /**
   * Sums every worker's slot straight into gradient tensors on the wasm heap (and the squares for
   * the global norm in the same pass), then AdamW with the clipping coefficient folded in: the
   * update `AdamW.clipAndApply` makes on one thread.
   */
  apply(lr: number, maxGradNorm: number, tokenRows: Int32Array): number {
    let squares = 0;
    const grads = new Map<string, tf.Tensor>();
    for (const { name, shape, offset, size, rowsOfTokens } of init.layout) {
      const grad = hostTensor(shape);
      const out = f32(grad);
      if (!rowsOfTokens) {
        squares += sumSlots(this.slots, offset, size, out);
      } else {
        const width = shape[1];
        out.fill(0);
        for (const row of tokenRows) squares += sumSlots(this.slots, offset + row * width, width, out.subarray(row * width, (row + 1) * width));
      }
      grads.set(name, grad);
    }
    const norm = Math.sqrt(squares);
    this.optimizer.apply(grads, lr, clipCoefficient(norm, maxGradNorm));
    tf.dispose([...grads.values()]);
    return norm;
  }

  state(): Extract<FromWorker, { type: 'state' }> {
    const params = [...this.model.params].map(([name, p]) => ({ name, shape: p.shape, data: Float32Array.from(p.dataSync() as Float32Array), trainable: p.trainable }));
    return { type: 'state', params, optimizer: this.optimizer.state() };
  }
}

/** out = Σ slots[k][offset … offset+size), in slot order; returns Σ out². */
function sumSlots(slots: Float32Array[], offset: number, size: number, out: Float32Array): number {
  let squares = 0;
  if (slots.length === 2) {
    const [a, b] = slots;
    for (let i = 0; i < size; i++) {
      const x = Math.fround(a[offset + i] + b[offset + i]);
      out[i] = x;
      squares += x * x;
    }
    return squares;
  }
  out.set(slots[0].subarray(offset, offset + size));
  for (let k = 1; k < slots.length; k++) {
    const slot = slots[k];
    for (let i = 0; i < size; i++) out[i] += slot[offset + i];
  }
  for (let i = 0; i < size; i++) squares += out[i] * out[i];
  return squares;
}

function handle(replica: Replica, message: ToWorker): void {
  switch (message.type) {
    case 'gradients':
      return send({ type: 'gradients', loss: replica.gradients(message) });
    case 'apply': {
      const gradNorm = replica.apply(message.lr, message.maxGradNorm, message.tokenRows);
      return send({ type: 'applied', gradNorm, numTensors: tf.memory().numTensors });
    }
    case 'state': {
      const state = replica.state();
      const buffers = [...state.params.map((p) => p.data), ...state.optimizer.m.values(), ...state.optimizer.v.values()].map((a) => a.buffer as ArrayBuffer);
      return send(state, buffers);
    }
  }
}

async function start(): Promise<void> {
  // Training shares the machine with the editor: let the editor's threads go first.
  try {
    setPriority(constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // not permitted here: run at normal priority
  }
  const backend = await initBackend('wasm');
  const replica = new Replica();
  port.on('message', (message: ToWorker) => {
    try {
      handle(replica, message);
    } catch (e) {
      send({ type: 'failed', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined });
    }
  });
  send({ type: 'ready', backend: describeBackend(backend) });
}

start().catch((e) => send({ type: 'failed', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }));
