/**
 * Whether this machine has what `@tensorflow/tfjs-node-gpu` 4.22 loads: it is built on TensorFlow
 * 2.9.1, which wants CUDA 11.2 and cuDNN 8.1 (the package's README: CUDA 11.2, cuDNN 8.1.0,
 * NVIDIA driver > 450). TensorFlow opens these libraries by their major-version names, so that is
 * what is looked for: on Linux `libcuda.so.1`, `libcudart.so.11.0`, `libcudnn.so.8` in the loader's
 * cache (`ldconfig -p`) or on `LD_LIBRARY_PATH`; on Windows `nvcuda.dll`, `cudart64_110.dll`,
 * `cudnn64_8.dll` on the PATH (or in System32). No `vscode` here: the unit tests run it as is.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Translate } from './install';

export type CudaPart = 'driver' | 'runtime' | 'cudnn';

interface Requirement {
  part: CudaPart;
  /** The name TensorFlow loads, for people. */
  wanted: string;
  matches: RegExp;
  /** Other versions of the same library (to say "found libcudart.so.13"). */
  family: RegExp;
}

const LINUX: Requirement[] = [
  { part: 'driver', wanted: 'libcuda.so.1', matches: /^libcuda\.so\.1(\.|$)/, family: /^libcuda\.so\.\d/ },
  { part: 'runtime', wanted: 'libcudart.so.11.0', matches: /^libcudart\.so\.11(\.|$)/, family: /^libcudart\.so\.\d/ },
  { part: 'cudnn', wanted: 'libcudnn.so.8', matches: /^libcudnn\.so\.8(\.|$)/, family: /^libcudnn\.so\.\d/ },
];

const WINDOWS: Requirement[] = [
  { part: 'driver', wanted: 'nvcuda.dll', matches: /^nvcuda\.dll$/i, family: /^nvcuda\.dll$/i },
  { part: 'runtime', wanted: 'cudart64_110.dll', matches: /^cudart64_110\.dll$/i, family: /^cudart64_\d+\.dll$/i },
  { part: 'cudnn', wanted: 'cudnn64_8.dll', matches: /^cudnn64_8\.dll$/i, family: /^cudnn64_\d+\.dll$/i },
];

export interface CudaInputs {
  platform: NodeJS.Platform;
  /** The output of `ldconfig -p` (Linux), if it could be run. */
  ldconfig?: string;
  /** Folders searched too: LD_LIBRARY_PATH on Linux, the PATH and System32 on Windows. */
  libraryDirs: string[];
  listDir: (dir: string) => string[];
}

export interface CudaCheck {
  ok: boolean;
  found: { part: CudaPart; file: string }[];
  missing: { part: CudaPart; wanted: string; others: string[] }[];
}

export function checkCuda(inputs: CudaInputs): CudaCheck {
  const requirements = inputs.platform === 'win32' ? WINDOWS : LINUX;
  const names = new Set<string>();
  for (const line of inputs.ldconfig?.split('\n') ?? []) {
    // "\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0"
    const match = /^\s*(\S+)\s+\(.*\)\s+=>\s+(.+)$/.exec(line);
    if (match) names.add(match[1]);
  }
  for (const dir of inputs.libraryDirs) for (const name of inputs.listDir(dir)) names.add(name);
  const check: CudaCheck = { ok: true, found: [], missing: [] };
  for (const requirement of requirements) {
    const file = [...names].find((name) => requirement.matches.test(name));
    if (file) check.found.push({ part: requirement.part, file });
    else {
      const others = [...names].filter((name) => requirement.family.test(name)).sort();
      check.missing.push({ part: requirement.part, wanted: requirement.wanted, others });
    }
  }
  check.ok = check.missing.length === 0;
  return check;
}

/** The inputs of `checkCuda` on this machine. */
export async function cudaInputsHere(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Promise<CudaInputs> {
  const listDir = (dir: string) => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  if (platform === 'win32') {
    const pathValue = Object.entries(env).find(([key]) => key.toUpperCase() === 'PATH')?.[1] ?? '';
    const system32 = path.join(env.SystemRoot ?? env.SYSTEMROOT ?? 'C:\\Windows', 'System32');
    return { platform, libraryDirs: [...pathValue.split(';').filter(Boolean), system32], listDir };
  }
  const libraryDirs = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return { platform, ldconfig: await ldconfigCache(), libraryDirs, listDir };
}

export async function checkCudaHere(): Promise<CudaCheck> {
  return checkCuda(await cudaInputsHere());
}

/** `ldconfig -p`, from the PATH or /sbin (not on ordinary users' PATH on Debian). */
async function ldconfigCache(): Promise<string | undefined> {
  for (const command of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const output = await new Promise<string | undefined>((resolve) => {
      execFile(command, ['-p'], { timeout: 10_000, maxBuffer: 16 << 20 }, (error, stdout) => resolve(error ? undefined : stdout));
    });
    if (output !== undefined) return output;
  }
  return undefined;
}

/** What is missing, for people: "the NVIDIA driver (libcuda.so.1), the CUDA 11 runtime (libcudart.so.11.0; found libcudart.so.13), …". */
export function describeMissingCuda(check: CudaCheck, t: Translate): string {
  return check.missing
    .map(({ part, wanted, others }) => {
      const files = others.length > 0 ? t('{0}; found {1}', wanted, others.join(', ')) : wanted;
      switch (part) {
        case 'driver':
          return t('the NVIDIA driver ({0})', files);
        case 'runtime':
          return t('the CUDA 11 runtime ({0})', files);
        case 'cudnn':
          return t('cuDNN 8 ({0})', files);
      }
    })
    .join(', ');
}

/** One message: what the GPU package needs, what is missing here, and the way out. */
export function describeCudaCheck(check: CudaCheck, t: Translate): string {
  return t(
    'BERT: @tensorflow/tfjs-node-gpu 4.22 is built on TensorFlow 2.9.1 and needs NVIDIA\'s CUDA 11.2 and cuDNN 8.1; missing here: {0}. Install them (their libraries on the loader\'s path: ldconfig or LD_LIBRARY_PATH on Linux, the PATH on Windows), or install the CPU package.',
    describeMissingCuda(check, t),
  );
}
