/**
 * The GEMM provider: the wasm backend's matrix-product kernels (`BatchMatMul`, `_FusedMatMul`, and
 * `Sum` over leading axes, the bias gradient) replaced by ONNX Runtime's native CPU GEMM (MLAS),
 * 100–150 GFLOP/s on one thread where wasm runs 1–38 (ENGINE-NOTES.md).
 *
 * Each product is one single-node ONNX model run synchronously (ort-binding.ts): `Gemm` (with
 * transA/transB and the fused bias as C) when the product is one matrix product, com.microsoft
 * `FusedMatMul` (transA/transB, numpy batch broadcasting) when it is batched. ORT reads the operands
 * where they live on the wasm heap and writes the result straight into the output tensor's memory.
 * Gradients need nothing more: TF.js's own gradients of these kernels are products and sums too.
 *
 * Cases ORT is not given (non-float32, empty tensors, mismatched shapes) go to the stock kernels,
 * which also keep their error messages.
 */
import * as tf from '../tf';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { loadOrtBinding, ortTensor, OrtSession, type LoadedBinding, type OrtFeeds } from './ort-binding';
import { encodeSingleNodeModel, type OnnxAttribute } from './ort-onnx';

export interface OrtGemmOptions {
  /** ORT's intra-op threads per product (default 1: one process, or one per worker, one core each). */
  threads?: number;
}

export type OrtGemmStatus =
  | { installed: true; version: string; file: string; threads: number }
  | { installed: false; reason: string };

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Info = tf.TensorInfo;

const REPLACED_KERNELS = [tf.BatchMatMul, tf._FusedMatMul, tf.Sum];
const BACKEND = 'wasm';

let provider: GemmProvider | undefined;

/**
 * Replaces the wasm backend's product kernels (idempotent). When onnxruntime-node cannot be loaded,
 * nothing is replaced and the status says why.
 */
export function installOrtGemm(options: OrtGemmOptions = {}): OrtGemmStatus {
  if (!provider) {
    let loaded: LoadedBinding;
    try {
      loaded = loadOrtBinding();
    } catch (e) {
      return { installed: false, reason: e instanceof Error ? e.message : String(e) };
    }
    provider = new GemmProvider(loaded, options.threads ?? 1);
    provider.install();
  }
  return { installed: true, version: provider.loaded.version, file: provider.loaded.file, threads: provider.threads };
}

/** Puts the stock kernels back and frees ORT's sessions. */
export function uninstallOrtGemm(): void {
  provider?.uninstall();
  provider = undefined;
}

export function ortGemmInstalled(): boolean {
  return provider !== undefined;
}

class GemmProvider {
  private readonly stock = new Map<string, tf.KernelConfig>();
  private readonly sessions = new Map<string, OrtSession>();
  private ones = new Float32Array(0);

  constructor(
    readonly loaded: LoadedBinding,
    readonly threads: number,
  ) {}

  install(): void {
    const kernels: Record<string, tf.KernelFunc> = {
      [tf.BatchMatMul]: (args) => this.batchMatMul(args),
      [tf._FusedMatMul]: (args) => this.fusedMatMul(args),
      [tf.Sum]: (args) => this.sum(args),
    };
    for (const name of REPLACED_KERNELS) {
      const config = tf.getKernel(name, BACKEND);
      if (!config) throw new Error(`the ${BACKEND} backend has no ${name} kernel to replace`);
      this.stock.set(name, config);
      tf.unregisterKernel(name, BACKEND);
      // The stock setup (run when the backend starts) is what the fallbacks to stock kernels need.
      tf.registerKernel({ ...config, kernelFunc: kernels[name] });
    }
  }

  uninstall(): void {
    for (const [name, config] of this.stock) {
      tf.unregisterKernel(name, BACKEND);
      tf.registerKernel(config);
    }
    this.stock.clear();
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
  }

  // -------------------------------------------------------------------------------------------
  // kernels

  private batchMatMul(args: KernelArgs): Info {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    const product = this.product(args.backend as BackendWasm, { a, b, transposeA, transposeB });
    return product?.out ?? this.runStock(tf.BatchMatMul, args);
  }

  /** The product with its bias and activation; the bias is added inside Gemm when it can be. */
  private fusedMatMul(args: KernelArgs): Info {
    const backend = args.backend as BackendWasm;
    const { a, b, bias, preluActivationWeights } = args.inputs as { a: Info; b: Info; bias?: Info; preluActivationWeights?: Info };
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    const activation = ACTIVATIONS[attrs.activation];
    const product = activation !== undefined ? this.product(backend, { ...attrs, a, b, bias }) : undefined;
    if (!product) return this.runStock(tf._FusedMatMul, args);
    let out = product.out;
    if (bias && !product.biasAdded) out = this.applyStock(backend, out, tf.Add, { a: out, b: bias });
    if (activation) {
      const inputs = { x: out, ...(preluActivationWeights ? { alpha: preluActivationWeights } : {}) };
      out = this.applyStock(backend, out, activation, inputs, { alpha: attrs.leakyreluAlpha });
    }
    return out;
  }

  /** Σ over leading axes, e.g. a bias gradient: 1ᵀ·X with X viewed as (rows, columns). */
  private sum(args: KernelArgs): Info {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const leading = leadingAxesCount(x.shape, axis);
    if (x.dtype !== 'float32' || leading === undefined || tf.util.sizeFromShape(x.shape) === 0) {
      return this.runStock(tf.Sum, args);
    }
    const rows = tf.util.sizeFromShape(x.shape.slice(0, leading));
    const columns = tf.util.sizeFromShape(x.shape.slice(leading));
    const outShape = [...(keepDims ? new Array<number>(leading).fill(1) : []), ...x.shape.slice(leading)];
    const out = backend.makeOutput(outShape, 'float32');
    const feeds = { A: ortTensor(this.onesOf(rows), [1, rows]), B: ortTensor(heapView(backend, x), [rows, columns]) };
    this.session(gemmModel(false, false, false)).run(feeds, 'Y', ortTensor(heapView(backend, out), [1, columns]));
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // products

  /** op(a)·op(b) (+ bias) into a new wasm tensor; undefined for the cases left to the stock kernels. */
  private product(backend: BackendWasm, p: ProductInputs): { out: Info; biasAdded: boolean } | undefined {
    const shape = productShape(p);
    if (!shape) return undefined;
    const out = backend.makeOutput(shape.out, 'float32'); // may grow the heap: views are taken after
    const y = heapView(backend, out);
    if (shape.asGemm) {
      const withBias = p.bias !== undefined && p.bias.shape.length === 1 && p.bias.dtype === 'float32';
      this.runGemm(backend, p, shape.asGemm, y, withBias);
      return { out, biasAdded: withBias };
    }
    const feeds = { A: ortTensor(heapView(backend, p.a), p.a.shape), B: ortTensor(heapView(backend, p.b), p.b.shape) };
    const model = fusedMatMulModel(p.transposeA, p.transposeB, p.a.shape.length, p.b.shape.length);
    this.session(model).run(feeds, 'Y', ortTensor(y, shape.out));
    return { out, biasAdded: false };
  }

  private runGemm(backend: BackendWasm, p: ProductInputs, dims: GemmDims, y: Float32Array, withBias: boolean): void {
    const feeds: OrtFeeds = { A: ortTensor(heapView(backend, p.a), dims.a), B: ortTensor(heapView(backend, p.b), dims.b) };
    if (withBias) feeds.C = ortTensor(heapView(backend, p.bias!), p.bias!.shape);
    this.session(gemmModel(p.transposeA, p.transposeB, withBias)).run(feeds, 'Y', ortTensor(y, dims.y));
  }

  private session(model: ModelSpec): OrtSession {
    let session = this.sessions.get(model.key);
    if (!session) {
      session = new OrtSession(this.loaded.binding, model.bytes(), this.threads);
      this.sessions.set(model.key, session);
    }
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // helpers

  private runStock(name: string, args: KernelArgs): Info {
    return this.stock.get(name)!.kernelFunc(args) as Info;
  }

  /** Runs a stock kernel on `previous` and frees `previous`. */
  private applyStock(backend: BackendWasm, previous: Info, kernel: string, inputs: tf.NamedTensorInfoMap, attrs = {}): Info {
    const config = tf.getKernel(kernel, BACKEND);
    if (!config) throw new Error(`the ${BACKEND} backend has no ${kernel} kernel`);
    const next = config.kernelFunc({ inputs, backend, attrs }) as Info;
    backend.disposeData(previous.dataId);
    return next;
  }

  private onesOf(n: number): Float32Array {
    if (this.ones.length < n) this.ones = new Float32Array(Math.max(n, 2 * this.ones.length)).fill(1);
    return this.ones.subarray(0, n);
  }
}

/** The activations of `_FusedMatMul` and the kernels that apply them ('' for none). */
const ACTIVATIONS: Record<string, string | undefined> = {
  linear: '',
  relu: tf.Relu,
  relu6: tf.Relu6,
  elu: tf.Elu,
  leakyrelu: tf.LeakyRelu,
  prelu: tf.Prelu,
  sigmoid: tf.Sigmoid,
};

interface ProductInputs {
  a: Info;
  b: Info;
  transposeA: boolean;
  transposeB: boolean;
  bias?: Info;
}

/** A product as one 2-D Gemm: the operands' and the result's 2-D dims. */
interface GemmDims {
  a: number[];
  b: number[];
  y: number[];
}

/**
 * The output shape (as TF.js's kernels give it) and, when the product is one matrix product, its
 * 2-D dims; undefined when ORT is not to run it. With b a single matrix and a not transposed,
 * a's matrices stack into one (rows of a, K) matrix, so a broadcast product is one Gemm too.
 */
function productShape(p: ProductInputs): { out: number[]; asGemm?: GemmDims } | undefined {
  const { a, b, transposeA, transposeB } = p;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const [M, K] = transposeA ? [aCols, aRows] : [aRows, aCols];
  const [kB, N] = transposeB ? [bCols, bRows] : [bRows, bCols];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (K !== kB || !batch || M * N * K === 0 || batch.includes(0)) return undefined;
  const out = [...batch, M, N];
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (batchB !== 1 || (transposeA && batchA !== 1)) return { out };
  const asGemm = { a: transposeA ? [K, M] : [batchA * M, K], b: [bRows, bCols], y: [batchA * M, N] };
  return { out, asGemm };
}

/** numpy's broadcast of two batch shapes, or undefined when they do not broadcast. */
function broadcastShape(x: number[], y: number[]): number[] | undefined {
  const rank = Math.max(x.length, y.length);
  const shape: number[] = [];
  for (let i = 1; i <= rank; i++) {
    const dx = x[x.length - i] ?? 1;
    const dy = y[y.length - i] ?? 1;
    if (dx !== dy && dx !== 1 && dy !== 1) return undefined;
    shape.unshift(dx === 1 ? dy : dx);
  }
  return shape;
}

/** k when `axis` is exactly the first k axes with 0 < k < rank, else undefined. */
function leadingAxesCount(shape: number[], axis: number | number[]): number | undefined {
  const axes = tf.util.parseAxisParam(axis, shape);
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  const leading = sorted.every((a, i) => a === i);
  return leading && sorted.length > 0 && sorted.length < shape.length ? sorted.length : undefined;
}

/** The tensor's float32 data where it lives on the wasm heap (a view, not a copy). */
function heapView(backend: BackendWasm, info: Info): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

// ---------------------------------------------------------------------------------------------
// the models

interface ModelSpec {
  key: string;
  bytes(): Uint8Array;
}

const flag = (name: string, on: boolean): OnnxAttribute => ({ name, value: on ? 1 : 0 });

/** Y = op(A)·op(B) (+ C): ONNX Gemm, 2-D operands, C broadcast over the rows. */
function gemmModel(transA: boolean, transB: boolean, withBias: boolean): ModelSpec {
  return {
    key: `Gemm ${+transA}${+transB}${+withBias}`,
    bytes: () =>
      encodeSingleNodeModel({
        opType: 'Gemm',
        opset: 13,
        attributes: [flag('transA', transA), flag('transB', transB)],
        inputs: [{ name: 'A', rank: 2 }, { name: 'B', rank: 2 }, ...(withBias ? [{ name: 'C', rank: 1 }] : [])],
        outputs: [{ name: 'Y', rank: 2 }],
      }),
  };
}

/** Y = op(A)·op(B) per matrix, batch axes broadcast as numpy does: ORT's FusedMatMul. */
function fusedMatMulModel(transA: boolean, transB: boolean, rankA: number, rankB: number): ModelSpec {
  return {
    key: `FusedMatMul ${+transA}${+transB} ${rankA} ${rankB}`,
    bytes: () =>
      encodeSingleNodeModel({
        opType: 'FusedMatMul',
        domain: 'com.microsoft',
        opset: 13,
        attributes: [{ name: 'alpha', value: 1, float: true }, flag('transA', transA), flag('transB', transB)],
        inputs: [
          { name: 'A', rank: rankA },
          { name: 'B', rank: rankB },
        ],
        outputs: [{ name: 'Y', rank: Math.max(rankA, rankB) }],
      }),
  };
}
