/**
 * The synchronous native binding of onnxruntime-node (`onnxruntime_binding.node`, which the package's
 * `dist/binding.js` loads), used directly: TF.js kernels are synchronous and the package's public
 * `InferenceSession.run` is not. The binding is internal to onnxruntime-node, so the version is
 * pinned, its shape is checked when it loads, and a unit test fails when either changes.
 *
 * Where it is looked for, in order:
 *  - `onnxruntime/<platform>-<arch>/` beside this file: what esbuild.mjs copies next to the bundles
 *    (the VSIX has no node_modules), with a `VERSION` file;
 *  - the `onnxruntime-node` package as Node resolves it from here (sources, tests, dev bundles).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** The onnxruntime-node whose binding this code is written against; also pin it in package.json. */
export const PINNED_ORT_VERSION = '1.27.0';

export const BINDING_FILE = 'onnxruntime_binding.node';
/** The folder, beside the bundles, holding this platform's copy of the binding and its library. */
export const BUNDLED_ORT_FOLDER = join('onnxruntime', `${process.platform}-${process.arch}`);

/** A CPU tensor as the binding reads it (onnxruntime-common's `Tensor` has these fields). */
export interface OrtTensor {
  type: 'float32';
  dims: number[];
  data: Float32Array;
  location: 'cpu';
}

export type OrtFeeds = Record<string, OrtTensor>;

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: OrtFeeds, fetches: Record<string, OrtTensor | null>, options: object): Record<string, unknown>;
  dispose(): void;
  readonly inputNames: string[];
  readonly outputNames: string[];
}

export interface OrtBinding {
  InferenceSession: new () => NativeSession;
  initOrtOnce(logLevel: number, tensorConstructor: Function, isMainThread: boolean): void;
  listSupportedBackends(): { name: string; bundled: boolean }[];
}

export interface LoadedBinding {
  binding: OrtBinding;
  /** The `.node` file loaded. */
  file: string;
  version: string;
}

/** ORT's logging levels: 3 = error. Sessions use 4 (fatal): their errors come back as exceptions. */
const ORT_LOG_ERROR = 3;
const ORT_LOG_FATAL = 4;

/**
 * What the binding builds its result tensors with. Results are copies nobody reads (outputs are
 * preallocated on the wasm heap), so this is the cheapest constructor that fits.
 */
class ResultTensor {
  constructor(
    readonly type: string,
    readonly data: unknown,
    readonly dims: number[],
  ) {}
}

let loaded: LoadedBinding | undefined;

/** Loads the binding once; throws an Error saying why it cannot be used here. */
export function loadOrtBinding(): LoadedBinding {
  if (loaded) return loaded;
  const { file, version } = locateBinding();
  if (version !== PINNED_ORT_VERSION) {
    throw new Error(`onnxruntime-node ${version} found at ${dirname(file)}, but this engine is written for ${PINNED_ORT_VERSION}`);
  }
  let binding: OrtBinding;
  try {
    binding = createRequire(__filename)(file) as OrtBinding;
  } catch (e) {
    throw new Error(`cannot load ${file}: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`);
  }
  const problem = bindingShapeProblem(binding);
  if (problem) throw new Error(`onnxruntime-node ${version}: the native binding ${problem}`);
  // Each thread (the training workers too) registers its own constructor; 1.21's binding kept one for
  // the whole process and crashed when a worker thread ran a session.
  binding.initOrtOnce(ORT_LOG_ERROR, ResultTensor, isMainThread);
  loaded = { binding, file, version };
  return loaded;
}

/** Undefined when the binding has every member used here, else what is missing. */
export function bindingShapeProblem(binding: unknown): string | undefined {
  const b = binding as Partial<OrtBinding> | undefined;
  if (typeof b?.initOrtOnce !== 'function') return 'has no initOrtOnce()';
  if (typeof b.InferenceSession !== 'function') return 'has no InferenceSession class';
  const prototype = b.InferenceSession.prototype as Record<string, unknown>;
  const missing = ['loadModel', 'run', 'dispose'].filter((m) => typeof prototype[m] !== 'function');
  return missing.length > 0 ? `InferenceSession has no ${missing.join(', ')}()` : undefined;
}

function locateBinding(): { file: string; version: string } {
  const bundled = join(__dirname, BUNDLED_ORT_FOLDER);
  if (existsSync(join(bundled, BINDING_FILE))) {
    return { file: join(bundled, BINDING_FILE), version: readFileSync(join(bundled, 'VERSION'), 'utf8').trim() };
  }
  let packageJson: string;
  try {
    packageJson = createRequire(__filename).resolve('onnxruntime-node/package.json');
  } catch {
    throw new Error(`onnxruntime-node is not installed (nor in ${bundled})`);
  }
  const root = dirname(packageJson);
  const file = join(root, 'bin', 'napi-v6', process.platform, process.arch, BINDING_FILE);
  if (!existsSync(file)) throw new Error(`onnxruntime-node has no binary for ${process.platform}-${process.arch}`);
  return { file, version: JSON.parse(readFileSync(packageJson, 'utf8')).version };
}

/** One ONNX model loaded into ONNX Runtime's CPU provider, run synchronously. */
export class OrtSession {
  private readonly native: NativeSession;

  constructor(binding: OrtBinding, model: Uint8Array, threads: number) {
    this.native = new binding.InferenceSession();
    this.native.loadModel(model.buffer, model.byteOffset, model.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: ORT_LOG_FATAL,
    });
  }

  /** Runs the model, writing its one output into `output`'s memory. */
  run(feeds: OrtFeeds, outputName: string, output: OrtTensor): void {
    this.native.run(feeds, { [outputName]: output }, {});
  }

  dispose(): void {
    this.native.dispose();
  }
}

/** A float32 tensor over memory that already exists (the wasm heap, or any Float32Array). */
export function ortTensor(data: Float32Array, dims: number[]): OrtTensor {
  return { type: 'float32', dims, data, location: 'cpu' };
}
