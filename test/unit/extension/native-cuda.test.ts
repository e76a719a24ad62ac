/**
 * The CUDA check before installing `@tensorflow/tfjs-node-gpu` 4.22 (TensorFlow 2.9.1: CUDA 11.2,
 * cuDNN 8.1): src/extension/native/cuda.ts, on this machine and on given inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { checkCuda, checkCudaHere, describeCudaCheck } from '../../../src/extension/native/cuda';
import type { Translate } from '../../../src/extension/native/install';

const english: Translate = (message, ...args) => message.replace(/\{(\d+)\}/g, (m, i: string) => (args[Number(i)] !== undefined ? String(args[Number(i)]) : m));

/** `ldconfig -p` as this machine answers it, read independently of the code under test. */
function ldconfigHere(): string {
  for (const command of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      return execFileSync(command, ['-p'], { encoding: 'utf8' });
    } catch {
      // next
    }
  }
  return '';
}

test('on this machine the check agrees with the loader cache and says what is missing', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  const check = await checkCudaHere();
  const cache = ldconfigHere();
  const inLibraryPath = (process.env.LD_LIBRARY_PATH ?? '') !== '';
  const expectMissing = (pattern: RegExp) => !inLibraryPath && !pattern.test(cache);
  const missing = check.missing.map((m) => m.wanted);
  if (expectMissing(/^\s*libcudart\.so\.11/m)) assert.ok(missing.includes('libcudart.so.11.0'), `cudart: ${JSON.stringify(check)}`);
  if (expectMissing(/^\s*libcudnn\.so\.8/m)) assert.ok(missing.includes('libcudnn.so.8'), `cudnn: ${JSON.stringify(check)}`);
  if (expectMissing(/^\s*libcuda\.so\.1/m)) assert.ok(missing.includes('libcuda.so.1'), `driver: ${JSON.stringify(check)}`);
  assert.equal(check.ok, check.missing.length === 0);
  if (!check.ok) {
    const message = describeCudaCheck(check, english);
    console.log(`# ${message}`);
    assert.match(message, /needs NVIDIA's CUDA 11\.2 and cuDNN 8\.1/);
    for (const file of missing) assert.ok(message.includes(file), `the message names ${file}: ${message}`);
    assert.match(message, /or install the CPU package/);
  }
});

test('Linux: libraries found in the loader cache or on LD_LIBRARY_PATH; other CUDA versions are named', () => {
  const cuda13 = [
    '3 libs found in cache `/etc/ld.so.cache\'',
    '\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13',
    '\tlibcudart.so (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so',
    '\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1',
  ].join('\n');
  const none = checkCuda({ platform: 'linux', ldconfig: cuda13, libraryDirs: [], listDir: () => [] });
  assert.equal(none.ok, false);
  assert.equal(
    describeCudaCheck(none, english),
    'BERT: @tensorflow/tfjs-node-gpu 4.22 is built on TensorFlow 2.9.1 and needs NVIDIA\'s CUDA 11.2 and cuDNN 8.1; missing here: ' +
      'the NVIDIA driver (libcuda.so.1), the CUDA 11 runtime (libcudart.so.11.0; found libcudart.so.13), cuDNN 8 (libcudnn.so.8). ' +
      'Install them (their libraries on the loader\'s path: ldconfig or LD_LIBRARY_PATH on Linux, the PATH on Windows), or install the CPU package.',
  );
  const cache = '\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda-11.2/lib64/libcudart.so.11.0\n';
  const dirs: Record<string, string[]> = { '/opt/cudnn/lib': ['libcudnn.so.8', 'libcudnn.so.8.1.1'] };
  const all = checkCuda({ platform: 'linux', ldconfig: cache, libraryDirs: ['/opt/cudnn/lib'], listDir: (dir) => dirs[dir] ?? [] });
  assert.equal(all.ok, true);
  assert.deepEqual(all.found.map((f) => f.part), ['driver', 'runtime', 'cudnn']);
});

test('Windows: the DLLs on the PATH', () => {
  const dirs: Record<string, string[]> = {
    'C:\\Windows\\System32': ['nvcuda.dll', 'kernel32.dll'],
    'C:\\CUDA\\v12.4\\bin': ['cudart64_12.dll'],
  };
  const check = checkCuda({ platform: 'win32', libraryDirs: Object.keys(dirs), listDir: (dir) => dirs[dir] ?? [] });
  assert.deepEqual(check.missing, [
    { part: 'runtime', wanted: 'cudart64_110.dll', others: ['cudart64_12.dll'] },
    { part: 'cudnn', wanted: 'cudnn64_8.dll', others: [] },
  ]);
  dirs['C:\\CUDA\\v11.2\\bin'] = ['cudart64_110.dll', 'cudnn64_8.dll'];
  assert.equal(checkCuda({ platform: 'win32', libraryDirs: Object.keys(dirs), listDir: (dir) => dirs[dir] ?? [] }).ok, true);
});
