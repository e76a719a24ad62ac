/**
 * Choosing the TF.js backend the engine computes on.
 *
 * Order of preference for `auto`: the native TensorFlow backend (`@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`) when it can be loaded on this machine; else the wasm backend (portable,
 * SIMD, one thread in Node); the pure-JS cpu backend as the last resort.
 *
 * The native packages are not dependencies of the extension: their install step downloads
 * libtensorflow, which fails offline and would break `npm ci`. They are looked up at run time,
 * in Node's normal resolution paths and in the extra folders given (e.g. the extension's storage).
 *
 * On wasm, matrix products go to ONNX Runtime's native GEMM (ops/ort-gemm.ts) when onnxruntime-node
 * loads; else wasm computes them itself. `BERT_WORKBENCH_GEMM=wasm` turns the provider off (for
 * comparisons), `=onnxruntime` makes its absence an error.
 */
import * as tf from './tf';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UserError } from './errors';
import { installOrtGemm, uninstallOrtGemm } from './ops/ort-gemm';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendReport {
  /** The TF.js backend name now active. */
  name: BackendName;
  /** Which package provides it, e.g. "@tensorflow/tfjs-node-gpu". */
  provider: string;
  /** For a native backend: the file Node loaded it from (e.g. in the extension's storage). */
  location?: string;
  /** Why the more preferred ones were not used (empty when the first choice loaded). */
  skipped: string[];
  /** What computes matrix products: ONNX Runtime's GEMM inside the wasm backend, or the backend itself. */
  gemm: 'onnxruntime' | BackendName;
  /** The ONNX Runtime version and threads; or, on wasm without it, why (e.g. not installed). */
  gemmNote?: string;
}

export type GemmChoice = 'auto' | 'onnxruntime' | 'wasm';
const GEMM_VARIABLE = 'BERT_WORKBENCH_GEMM';
const GEMM_CHOICES: readonly GemmChoice[] = ['auto', 'onnxruntime', 'wasm'];

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const WASM_FILE = 'tfjs-backend-wasm-simd.wasm';

let active: Promise<BackendReport> | undefined;
let activeChoice: BackendChoice | undefined;

/**
 * Makes a backend active and says which. Idempotent for the same choice; TF.js keeps one active
 * backend per process, so asking for a different one later switches it.
 */
export function initBackend(choice: BackendChoice = 'auto', nativeSearchPaths: string[] = []): Promise<BackendReport> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new UserError({
      kind: 'bad-argument',
      message: `Unknown backend "${choice}".`,
      fix: `Use one of: ${BACKEND_CHOICES.join(', ')}.`,
    });
  }
  if (!active || activeChoice !== choice) {
    activeChoice = choice;
    active = selectBackend(choice, nativeSearchPaths);
    active.catch(() => (active = undefined));
  }
  return active;
}

async function selectBackend(choice: BackendChoice, nativeSearchPaths: string[]): Promise<BackendReport> {
  tf.env().set('PROD', true); // no debug checks, and no console banner suggesting tfjs-node
  const skipped: string[] = [];
  if (choice === 'auto' || choice === 'tensorflow') {
    const native = loadNative(nativeSearchPaths, skipped);
    if (native && (await tf.setBackend('tensorflow'))) return { name: 'tensorflow', provider: native.name, location: native.location, skipped, gemm: 'tensorflow' };
    if (choice === 'tensorflow') {
      throw new UserError({
        kind: 'backend-unavailable',
        message: `The native TensorFlow backend cannot be loaded: ${skipped.join('; ')}.`,
        fix: 'Install @tensorflow/tfjs-node (or -gpu) where the engine can find it, or choose the "wasm" backend.',
      });
    }
  }
  if (choice === 'auto' || choice === 'wasm') {
    const wasm = await loadWasm();
    if (wasm === true) return { name: 'wasm', provider: '@tensorflow/tfjs-backend-wasm', skipped, ...wasmGemm() };
    skipped.push(`wasm: ${wasm}`);
    if (choice === 'wasm') {
      throw new UserError({
        kind: 'backend-unavailable',
        message: `The wasm backend cannot start: ${wasm}.`,
        fix: 'Choose the "cpu" backend.',
      });
    }
  }
  await tf.setBackend('cpu');
  return { name: 'cpu', provider: '@tensorflow/tfjs-backend-cpu', skipped, gemm: 'cpu' };
}

/** The backend for people: "wasm + ONNX Runtime GEMM", "tensorflow (@tensorflow/tfjs-node-gpu)", "cpu". */
export function describeBackend(report: BackendReport): string {
  if (report.name === 'tensorflow') return `tensorflow (${report.provider})`;
  return report.gemm === 'onnxruntime' ? `${report.name} + ONNX Runtime GEMM` : report.name;
}

/** Installs the ONNX Runtime GEMM provider on the wasm backend unless `BERT_WORKBENCH_GEMM` says no. */
function wasmGemm(): Pick<BackendReport, 'gemm' | 'gemmNote'> {
  const choice = (process.env[GEMM_VARIABLE] || 'auto') as GemmChoice;
  if (!GEMM_CHOICES.includes(choice)) {
    throw new UserError({
      kind: 'bad-argument',
      message: `Unknown ${GEMM_VARIABLE} "${choice}".`,
      fix: `Set it to one of: ${GEMM_CHOICES.join(', ')}, or unset it.`,
    });
  }
  if (choice === 'wasm') {
    uninstallOrtGemm();
    return { gemm: 'wasm', gemmNote: `ONNX Runtime turned off by ${GEMM_VARIABLE}=wasm` };
  }
  const status = installOrtGemm();
  if (status.installed) return { gemm: 'onnxruntime', gemmNote: `onnxruntime-node ${status.version}, ${status.threads} thread(s)` };
  if (choice === 'onnxruntime') {
    throw new UserError({
      kind: 'backend-unavailable',
      message: `ONNX Runtime's GEMM cannot be used: ${status.reason}.`,
      fix: `Unset ${GEMM_VARIABLE} to let the wasm backend compute products itself.`,
    });
  }
  return { gemm: 'wasm', gemmNote: status.reason };
}

/** Requires the first native package that loads; it registers the 'tensorflow' backend itself. */
function loadNative(searchPaths: string[], skipped: string[]): { name: string; location: string } | undefined {
  const requireHere = createRequire(__filename);
  for (const name of NATIVE_PACKAGES) {
    try {
      const resolved = requireHere.resolve(name, { paths: [...searchPaths, ...(requireHere.resolve.paths(name) ?? [])] });
      requireHere(resolved);
      if (tf.findBackend('tensorflow')) return { name, location: resolved };
      skipped.push(`${name}: loaded but registered no backend`);
    } catch (e) {
      skipped.push(`${name}: ${firstLine(e)}`);
    }
  }
  return undefined;
}

async function loadWasm(): Promise<true | string> {
  try {
    // In the esbuild bundles the .wasm files sit beside the bundle; from sources, the package finds its own.
    if (existsSync(join(__dirname, WASM_FILE))) setWasmPaths(join(__dirname, '/'));
    return (await tf.setBackend('wasm')) ? true : 'initialisation failed';
  } catch (e) {
    return firstLine(e);
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}
