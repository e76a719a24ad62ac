import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bf16BitsToFloat32,
  f16BitsToFloat32,
  float32ToBf16Bits,
  float32ToF16Bits,
  readSafetensors,
  readShardedSafetensors,
  writeSafetensors,
  type TensorToWrite,
  type WeightMap,
} from '../../../src/server/engine/checkpoint/safetensors';
import { readShardedTorchBin } from '../../../src/server/engine/checkpoint/torch-bin';
import { readWeightsFolder } from '../../../src/server/engine/checkpoint/weights-file';
import { UserError } from '../../../src/server/engine/errors';
import { TINY_BERT } from '../../helpers/golden';

const FIXTURE = join(TINY_BERT, 'model.safetensors');
let fixture: WeightMap;
let tmp: string;

before(async () => {
  fixture = (await readSafetensors(FIXTURE)).tensors;
  tmp = await mkdtemp(join(tmpdir(), 'checkpoint-write-'));
});

after(() => rm(tmp, { recursive: true, force: true }));

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('F32 write then read is bit-identical, and byte-identical to the Hugging Face file', async () => {
  const file = join(tmp, 'f32.safetensors');
  await writeSafetensors(file, fixture, { metadata: { format: 'pt' } });
  const back = await readSafetensors(file);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.equal(back.tensors.size, 41);
  for (const [name, t] of fixture) {
    assert.deepEqual(back.tensors.get(name)!.shape, t.shape);
    assert.ok(bytesOf(back.tensors.get(name)!.data).equals(bytesOf(t.data)), name);
  }
  // same header layout (metadata first, name order, space padding to 8) and data order as the safetensors library
  assert.ok((await readFile(file)).equals(await readFile(FIXTURE)));
});

test('the header is padded with spaces to a multiple of 8 and tensors are in name order', async () => {
  const file = join(tmp, 'order.safetensors');
  const t = (v: number): TensorToWrite => ({ shape: [1], data: Float32Array.of(v) });
  await writeSafetensors(file, new Map([['b', t(2)], ['a', t(1)], ['B', t(0)]]), { dtype: 'F16' });
  const raw = await readFile(file);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = raw.subarray(8, 8 + n).toString('utf8');
  assert.match(header, /^\{.*\} *$/);
  const json = JSON.parse(header);
  assert.deepEqual(Object.keys(json), ['B', 'a', 'b']);
  assert.deepEqual(json.a, { dtype: 'F16', shape: [1], data_offsets: [2, 4] });
  assert.equal(raw.length, 8 + n + 6);
});

async function roundTrip(dtype: 'F16' | 'BF16') {
  const file = join(tmp, `${dtype}.safetensors`);
  await writeSafetensors(file, fixture, { dtype });
  assert.ok((await stat(file)).size < (await stat(FIXTURE)).size * 0.51, 'two bytes per value');
  return (await readSafetensors(file)).tensors;
}

/**
 * Rounding to nearest loses at most half a unit in the last place: 2^-(bits+1) relative, or half
 * the smallest subnormal below the normal range. Returns the worst relative error in the normal range.
 */
function assertWithinPrecision(back: WeightMap, dtype: string, mantissaBits: number, smallestSubnormal: number) {
  const relative = 2 ** -(mantissaBits + 1);
  const smallestNormal = smallestSubnormal * 2 ** mantissaBits;
  let changed = 0;
  let worst = 0;
  for (const [name, t] of fixture) {
    const other = back.get(name)!;
    assert.equal(other.dtype, dtype);
    assert.deepEqual(other.shape, t.shape);
    for (let i = 0; i < t.data.length; i++) {
      const error = Math.abs(other.data[i] - t.data[i]);
      assert.ok(error <= Math.max(relative * Math.abs(t.data[i]), smallestSubnormal / 2), `${name}[${i}]: ${t.data[i]} became ${other.data[i]}`);
      if (Math.abs(t.data[i]) >= smallestNormal) worst = Math.max(worst, error / Math.abs(t.data[i]));
      if (other.data[i] !== t.data[i]) changed++;
    }
  }
  assert.ok(changed > 900_000, `only ${changed} values changed: was the conversion done?`);
  return worst;
}

test('an F16 copy reads back within half precision (and really is half precision)', async () => {
  const worst = assertWithinPrecision(await roundTrip('F16'), 'F16', 10, 2 ** -24);
  assert.ok(worst < 1e-3 && worst > 1e-4, `worst relative error ${worst}`);
});

test('a BF16 copy reads back within bfloat16 precision', async () => {
  const worst = assertWithinPrecision(await roundTrip('BF16'), 'BF16', 7, 2 ** -133);
  assert.ok(worst < 8e-3 && worst > 1e-3, `worst relative error ${worst}`);
});

test('F16 conversion: zeros, subnormals, overflow, NaN and ties to even', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest half
    [65519.99, 0x7bff],
    [65520, 0x7c00], // halfway to 65536 rounds to even, which is Infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [Infinity, 0x7c00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even (0)
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal units: to even (2)
    [2 ** -26, 0x0000],
    [1e-45, 0x0000], // a float32 subnormal underflows to zero
    [-1e-45, 0x8000],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even mantissa wins
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even is 1+2^-9
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [0.1, 0x2e66],
  ];
  for (const [value, bits] of cases) assert.equal(float32ToF16Bits(value), bits, `${value}`);
  const nan = float32ToF16Bits(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x3ff, 0);
  assert.ok(Number.isNaN(f16BitsToFloat32(nan)));
  assert.ok(Object.is(f16BitsToFloat32(0x8000), -0));
  assert.equal(f16BitsToFloat32(0x0001), 2 ** -24);
  assert.equal(f16BitsToFloat32(0x7bff), 65504);
  assert.equal(f16BitsToFloat32(0xfc00), -Infinity);
});

test('BF16 conversion: zeros, subnormals, overflow, NaN and ties to even', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3f80],
    [-2, 0xc000],
    [1 + 2 ** -8, 0x3f80], // tie: even mantissa
    [1 + 3 * 2 ** -8, 0x3f82],
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // the largest float32 rounds up to Infinity
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [2 ** -133, 0x0001], // bfloat16 keeps float32's subnormals
    [2 ** -134, 0x0000], // tie to even
    [3 * 2 ** -134, 0x0002],
  ];
  for (const [value, bits] of cases) assert.equal(float32ToBf16Bits(value), bits, `${value}`);
  const nan = float32ToBf16Bits(NaN);
  assert.ok(Number.isNaN(bf16BitsToFloat32(nan)));
  assert.ok(Object.is(bf16BitsToFloat32(0x8000), -0));
  assert.equal(bf16BitsToFloat32(0x0001), 2 ** -133);
});

test('special values survive an F16 and a BF16 file', async () => {
  const special = Float32Array.of(0, -0, Infinity, -Infinity, NaN, 2 ** -24, 1);
  for (const dtype of ['F16', 'BF16'] as const) {
    const file = join(tmp, `special-${dtype}.safetensors`);
    await writeSafetensors(file, new Map([['x', { shape: [7], data: special }]]), { dtype });
    const back = (await readSafetensors(file)).tensors.get('x')!.data;
    assert.ok(Object.is(back[0], 0) && Object.is(back[1], -0), dtype);
    assert.deepEqual([back[2], back[3]], [Infinity, -Infinity]);
    assert.ok(Number.isNaN(back[4]));
    assert.equal(back[5], 2 ** -24);
    assert.equal(back[6], 1);
  }
});

test('a sharded safetensors copy (3 shards + index) reads back the same tensors', async () => {
  const dir = join(tmp, 'sharded');
  await mkdir(dir);
  const names = [...fixture.keys()];
  const weightMap: Record<string, string> = {};
  for (let shard = 0; shard < 3; shard++) {
    const file = `model-0000${shard + 1}-of-00003.safetensors`;
    const part = new Map(names.filter((_, i) => i % 3 === shard).map((n) => [n, fixture.get(n)!]));
    for (const n of part.keys()) weightMap[n] = file;
    await writeSafetensors(join(dir, file), part, { metadata: { format: 'pt' } });
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 3_996_552 }, weight_map: weightMap }));

  const read = await readShardedSafetensors(join(dir, 'model.safetensors.index.json'));
  assert.equal(read.tensors.size, 41);
  for (const [name, t] of fixture) assert.ok(bytesOf(read.tensors.get(name)!.data).equals(bytesOf(t.data)), name);

  const folder = await readWeightsFolder(dir);
  assert.equal(folder.format, 'safetensors');
  assert.equal(folder.file, join(dir, 'model.safetensors.index.json'));
  assert.equal(folder.tensors.size, 41);

  const some = await readShardedSafetensors(join(dir, 'model.safetensors.index.json'), { names: ['classifier.bias'] });
  assert.deepEqual([...some.tensors.keys()], ['classifier.bias']);

  await rm(join(dir, 'model-00002-of-00003.safetensors'));
  await assert.rejects(readWeightsFolder(dir), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.kind, 'missing-file');
    assert.match(e.message, /model-00002-of-00003\.safetensors/);
    return true;
  });
});

test('a sharded pytorch_model.bin reads only what the index maps to each shard', async () => {
  const dir = join(tmp, 'sharded-bin');
  await mkdir(dir);
  // both files hold all 41 tensors; the index takes half from each
  await writeFile(join(dir, 'a.bin'), await readFile(join(TINY_BERT, 'pytorch_model.bin')));
  await writeFile(join(dir, 'b.bin'), await readFile(join(TINY_BERT, 'pytorch_model.legacy.bin')));
  const names = [...fixture.keys()];
  const weightMap = Object.fromEntries(names.slice(0, 20).map((n) => [n, 'a.bin']).concat(names.slice(20).map((n) => [n, 'b.bin'])));
  await writeFile(join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: weightMap }));
  const read = await readShardedTorchBin(join(dir, 'pytorch_model.bin.index.json'));
  assert.equal(read.tensors.size, 41);
  for (const [name, t] of fixture) assert.ok(bytesOf(read.tensors.get(name)!.data).equals(bytesOf(t.data)), name);
  const folder = await readWeightsFolder(dir);
  assert.equal(folder.file, join(dir, 'pytorch_model.bin.index.json'));
  assert.equal(folder.tensors.size, 41);
});

test('a shard index pointing outside its folder is refused', async () => {
  const dir = join(tmp, 'escape');
  await mkdir(dir);
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../f32.safetensors' } }));
  await assert.rejects(readWeightsFolder(dir), (e: unknown) => e instanceof UserError && e.kind === 'bad-weights' && e.message.includes('model.safetensors.index.json'));
});

test('a write that fails midway leaves the existing file untouched and no temp file', async () => {
  const dir = join(tmp, 'atomic');
  await mkdir(dir);
  const file = join(dir, 'model.safetensors');
  await writeFile(file, 'the previous model');
  let failedMidWrite = false;
  const data = new Float32Array(8);
  const tensors = new Map<string, TensorToWrite>([
    ['a', { shape: [8], data }],
    [
      'b',
      {
        shape: [8],
        // fails once the writer has created its temp file and written the header and tensor a
        get data(): Float32Array {
          const temp = readdirSync(dir).find((f) => f !== 'model.safetensors');
          if (temp === undefined) return data;
          failedMidWrite = true;
          throw new Error('disk on fire');
        },
      },
    ],
  ]);
  await assert.rejects(writeSafetensors(file, tensors), /disk on fire/);
  assert.ok(failedMidWrite, 'the failure happened while the temp file existed');
  assert.equal(await readFile(file, 'utf8'), 'the previous model');
  assert.deepEqual(await readdir(dir), ['model.safetensors']);

  // and a write that succeeds replaces it, leaving nothing else behind
  await writeSafetensors(file, new Map([['a', { shape: [8], data }]]));
  assert.deepEqual((await readSafetensors(file)).tensors.get('a')!.data, data);
  assert.deepEqual(await readdir(dir), ['model.safetensors']);
});

test('a write into a folder that does not exist fails and creates nothing', async () => {
  const file = join(tmp, 'no-such-folder', 'model.safetensors');
  await assert.rejects(writeSafetensors(file, fixture), { code: 'ENOENT' });
  await assert.rejects(stat(join(tmp, 'no-such-folder')));
});

test('a tensor whose data does not match its shape is refused before anything is written', async () => {
  const file = join(tmp, 'mismatch.safetensors');
  await assert.rejects(writeSafetensors(file, new Map([['x', { shape: [2, 3], data: new Float32Array(5) }]])), /shape \[2, 3\] needs 6 values/);
  await assert.rejects(stat(file));
});
