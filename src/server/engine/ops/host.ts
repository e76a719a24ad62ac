/**
 * Kernels computed in JS on the backend's own memory ("host kernels"), for the backends whose data
 * JS can reach: wasm (views of its heap) and cpu (its arrays). One JS pass over the data replaces a
 * chain of TF.js ops, each of which costs a dispatch, an output allocation and a pass over memory:
 * for BERT's LayerNorm, GELU, softmax and dropout that is both less work on large tensors and far
 * fewer ops on small ones (where a step is dominated by the per-op overhead).
 *
 * `hostTensor` makes an output tensor without filling it; on wasm, views of the heap are lost when
 * the heap grows, so every output of a kernel is allocated before any view is taken (`hostViews`).
 */
import * as tf from '../tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

let enabled = true;

/**
 * Turns the host kernels off (false) so that the stock TF.js compositions run on every backend: for
 * tests that compare the two. Returns the previous setting.
 */
export function setHostKernels(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether the host kernels run here: the wasm or cpu backend, and not turned off. */
export function hostKernels(): boolean {
  if (!enabled) return false;
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu';
}

/** A new float32 (or int32) tensor whose data JS writes; on wasm its memory is not initialised. */
export function hostTensor(shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  const backend = tf.backend();
  if (tf.getBackend() === 'wasm') {
    const info = (backend as BackendWasm).makeOutput(shape, dtype);
    return tf.engine().makeTensorFromTensorInfo(info, backend);
  }
  const size = tf.util.sizeFromShape(shape);
  const values = dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
  return tf.tensor(values, shape, dtype);
}

/** t's float32 data, in place (a view of the wasm heap, or the cpu backend's own array). */
export function f32(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`host kernel: a ${t.dtype} tensor where float32 was expected`);
  return rawData(t) as Float32Array;
}

/** t's int32 data, in place. */
export function i32(t: tf.Tensor): Int32Array {
  if (t.dtype !== 'int32') throw new Error(`host kernel: a ${t.dtype} tensor where int32 was expected`);
  return rawData(t) as Int32Array;
}

type Raw = Float32Array | Int32Array;

function rawData(t: tf.Tensor): Raw {
  const backend = tf.getBackend();
  if (backend === 'wasm') return (tf.backend() as BackendWasm).typedArrayFromHeap(t) as Raw;
  if (backend === 'cpu') {
    const values = (tf.backend() as unknown as { data: { get(id: object): { values?: unknown } | undefined } }).data.get(t.dataId)?.values;
    if (values instanceof Float32Array || values instanceof Int32Array) return values;
    throw new Error('host kernel: the cpu backend holds no values for this tensor');
  }
  throw new Error(`host kernels do not run on the ${backend} backend`);
}

/** The WebAssembly memory of the wasm backend (for kernels that run in wasm on its heap). */
export function wasmMemory(): WebAssembly.Memory | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const module = (tf.backend() as BackendWasm).wasm as unknown as { asm?: { memory?: unknown } };
  const memory = module.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

const constants = new WeakMap<WebAssembly.Memory, Map<string, number>>();

/**
 * The byte offset on the wasm heap of a constant table (e.g. for the SIMD kernels), copied there
 * once per backend instance and never freed; undefined off wasm.
 */
export function heapConstant(key: string, make: () => Float32Array): number | undefined {
  const memory = wasmMemory();
  if (!memory) return undefined;
  let tables = constants.get(memory);
  if (!tables) constants.set(memory, (tables = new Map()));
  let offset = tables.get(key);
  if (offset === undefined) {
    const values = make();
    const module = (tf.backend() as BackendWasm).wasm as unknown as { _malloc(bytes: number): number; HEAPU8: Uint8Array };
    offset = module._malloc(values.byteLength) >>> 0;
    new Float32Array(module.HEAPU8.buffer, offset, values.length).set(values); // the heap after the malloc
    tables.set(key, offset);
  }
  return offset;
}
