import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../../src/server/engine/tf';
import { initBackend } from '../../../src/server/engine/backend';

function nativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

test('auto picks native TensorFlow when it loads, else wasm, and says why it skipped the others', { skip: nativeInstalled() && 'tfjs-node is installed here' }, async () => {
  const report = await initBackend('auto');
  assert.equal(report.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(report.skipped.length, 2);
  assert.match(report.skipped[0], /^@tensorflow\/tfjs-node-gpu: /);
  assert.match(report.skipped[1], /^@tensorflow\/tfjs-node: /);
});

test('a forced backend is used, or refused with a clear error', async () => {
  assert.equal((await initBackend('cpu')).name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal((await initBackend('wasm')).name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  if (!nativeInstalled()) {
    await assert.rejects(initBackend('tensorflow'), (e: any) => e.kind === 'backend-unavailable' && /tfjs-node/.test(e.message));
  }
  assert.throws(() => initBackend('gpu' as any), (e: any) => e.kind === 'bad-argument' && /auto, tensorflow, wasm, cpu/.test(e.fix));
});
