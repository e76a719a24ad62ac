import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, type WeightMap } from '../../../src/server/engine/checkpoint/safetensors';
import { readTorchBin } from '../../../src/server/engine/checkpoint/torch-bin';
import { readWeightsFolder } from '../../../src/server/engine/checkpoint/weights-file';
import { TINY_BERT } from '../../helpers/golden';

let safetensors: WeightMap;
let tmp: string;

before(async () => {
  safetensors = (await readSafetensors(join(TINY_BERT, 'model.safetensors'))).tensors;
  tmp = await mkdtemp(join(tmpdir(), 'checkpoint-formats-'));
});

after(() => rm(tmp, { recursive: true, force: true }));

function assertBitIdentical(actual: WeightMap, expected: WeightMap) {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, t] of expected) {
    const other = actual.get(name)!;
    assert.deepEqual(other.shape, t.shape, name);
    assert.equal(other.dtype, 'F32', name);
    assert.ok(Buffer.from(other.data.buffer, other.data.byteOffset, other.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${name} differs`);
  }
}

test('the safetensors fixture has the 41 tensors the README describes', () => {
  assert.equal(safetensors.size, 41);
  const words = safetensors.get('bert.embeddings.word_embeddings.weight')!;
  assert.deepEqual(words.shape, [30522, 32]);
  assert.ok(words.data.subarray(0, 32).every((v) => v === 0), '[PAD] row is zero');
  assert.ok(words.data.subarray(32, 64).some((v) => v !== 0), 'other rows are not');
  assert.deepEqual(safetensors.get('classifier.weight')!.shape, [2, 32]);
  assert.deepEqual(safetensors.get('bert.encoder.layer.1.intermediate.dense.weight')!.shape, [64, 32]);
  let parameters = 0;
  for (const t of safetensors.values()) {
    assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
    parameters += t.data.length;
  }
  assert.equal(parameters, 999_138);
  // LayerNorm weights are 1 + 0.1·N(0,1): a wrong byte order or offset would not look like that
  const gamma = safetensors.get('bert.embeddings.LayerNorm.weight')!.data;
  assert.ok(gamma.every((v) => v > 0.5 && v < 1.5));
});

test('the zip and the legacy pytorch_model.bin hold bit-identical tensors', async () => {
  const zip = await readTorchBin(join(TINY_BERT, 'pytorch_model.bin'));
  assert.equal(zip.format, 'torch-zip');
  assertBitIdentical(zip.tensors, safetensors);
  const legacy = await readTorchBin(join(TINY_BERT, 'pytorch_model.legacy.bin'));
  assert.equal(legacy.format, 'torch-legacy');
  assertBitIdentical(legacy.tensors, safetensors);
});

test('names restrict what is read; unknown names are simply absent', async () => {
  const names = ['classifier.bias', 'no.such.tensor'];
  for (const read of [
    await readSafetensors(join(TINY_BERT, 'model.safetensors'), { names }),
    await readTorchBin(join(TINY_BERT, 'pytorch_model.bin'), { names }),
    await readTorchBin(join(TINY_BERT, 'pytorch_model.legacy.bin'), { names }),
  ]) {
    assert.deepEqual([...read.tensors.keys()], ['classifier.bias']);
    assert.deepEqual(read.tensors.get('classifier.bias')!.data, safetensors.get('classifier.bias')!.data);
  }
});

test('readWeightsFolder prefers model.safetensors, then falls back to pytorch_model.bin', async () => {
  const fromFixture = await readWeightsFolder(TINY_BERT);
  assert.equal(fromFixture.format, 'safetensors');
  assert.equal(fromFixture.file, join(TINY_BERT, 'model.safetensors'));
  assertBitIdentical(fromFixture.tensors, safetensors);

  const binOnly = join(tmp, 'bin-only');
  await mkdir(binOnly);
  await copyFile(join(TINY_BERT, 'pytorch_model.legacy.bin'), join(binOnly, 'pytorch_model.bin'));
  const fromBin = await readWeightsFolder(binOnly);
  assert.equal(fromBin.format, 'torch-legacy');
  assert.equal(fromBin.file, join(binOnly, 'pytorch_model.bin'));
  assertBitIdentical(fromBin.tensors, safetensors);

  // with both present, the safetensors file wins even though it is the smaller, F16 one
  await writeSafetensors(join(binOnly, 'model.safetensors'), safetensors, { dtype: 'F16' });
  const both = await readWeightsFolder(binOnly);
  assert.equal(both.format, 'safetensors');
  assert.equal(both.tensors.get('classifier.weight')!.dtype, 'F16');
});
