/**
 * Every broken or hostile weights file must give one UserError that names the file, never a
 * RangeError or a stack trace from deep inside a reader.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { readSafetensors } from '../../../src/server/engine/checkpoint/safetensors';
import { readTorchBin } from '../../../src/server/engine/checkpoint/torch-bin';
import { readWeightsFolder } from '../../../src/server/engine/checkpoint/weights-file';
import { UserError } from '../../../src/server/engine/errors';
import { TINY_BERT } from '../../helpers/golden';

let tmp: string;
let safetensorsBytes: Buffer;
let zipBytes: Buffer;
let legacyBytes: Buffer;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'checkpoint-bad-'));
  safetensorsBytes = await readFile(join(TINY_BERT, 'model.safetensors'));
  zipBytes = await readFile(join(TINY_BERT, 'pytorch_model.bin'));
  legacyBytes = await readFile(join(TINY_BERT, 'pytorch_model.legacy.bin'));
});
after(() => rm(tmp, { recursive: true, force: true }));

async function put(name: string, bytes: Uint8Array | string): Promise<string> {
  const file = join(tmp, name);
  await writeFile(file, bytes);
  return file;
}

async function assertUserError(promise: Promise<unknown>, kind: string, ...mentions: string[]): Promise<UserError> {
  let error: unknown;
  await assert.rejects(promise, (e: unknown) => {
    error = e;
    return true;
  });
  assert.ok(error instanceof UserError, `expected a UserError, got ${(error as Error)?.stack ?? String(error)}`);
  assert.equal(error.kind, kind, error.message);
  for (const m of mentions) assert.ok(error.message.includes(m), `"${error.message}" should mention ${m}`);
  assert.ok(error.fix, 'says what to do');
  return error;
}

function safetensorsHeader(bytes: Buffer): Record<string, { data_offsets: [number, number] }> {
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// safetensors

test('safetensors cut in the middle of a tensor names that tensor', async () => {
  const name = 'bert.embeddings.word_embeddings.weight';
  const headerLength = Number(safetensorsBytes.readBigUInt64LE(0));
  const [begin, end] = safetensorsHeader(safetensorsBytes)[name].data_offsets;
  const cut = 8 + headerLength + Math.floor((begin + end) / 2);
  const file = await put('cut.safetensors', safetensorsBytes.subarray(0, cut));
  const e = await assertUserError(readSafetensors(file), 'truncated-weights', 'cut.safetensors', name);
  assert.equal(e.file, file);
});

test('safetensors cut inside its header, or before it', async () => {
  await assertUserError(readSafetensors(await put('header.safetensors', safetensorsBytes.subarray(0, 100))), 'truncated-weights', 'header.safetensors', 'header');
  await assertUserError(readSafetensors(await put('tiny.safetensors', safetensorsBytes.subarray(0, 5))), 'truncated-weights', 'tiny.safetensors');
  await assertUserError(readSafetensors(await put('empty.safetensors', '')), 'truncated-weights', 'empty.safetensors');
});

test('a safetensors header that is not JSON', async () => {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(16n);
  const file = await put('garbage.safetensors', Buffer.concat([length, Buffer.from('{not json at all'), Buffer.alloc(64)]));
  await assertUserError(readSafetensors(file), 'bad-weights', 'garbage.safetensors', 'JSON');
});

test('a file that is not safetensors at all (absurd header length)', async () => {
  await assertUserError(readSafetensors(await put('text.safetensors', 'this is just some text, not a model')), 'bad-weights', 'text.safetensors');
});

test('a safetensors header whose offsets do not match the shape names the tensor', async () => {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const file = await put('offsets.safetensors', Buffer.concat([length, header, Buffer.alloc(16)]));
  await assertUserError(readSafetensors(file), 'bad-weights', 'offsets.safetensors', 'w', 'data_offsets');
});

test('an integer tensor asked for by name is a clear error; otherwise it is skipped', async () => {
  const header = Buffer.from(
    JSON.stringify({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, w: { dtype: 'F32', shape: [1], data_offsets: [16, 20] } }),
  );
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const file = await put('ints.safetensors', Buffer.concat([length, header, Buffer.alloc(20)]));
  const read = await readSafetensors(file);
  assert.deepEqual([...read.tensors.keys()], ['w']);
  assert.deepEqual(read.skipped, [{ name: 'ids', dtype: 'I64' }]);
  await assertUserError(readSafetensors(file, { names: ['ids'] }), 'bad-weights', 'ints.safetensors', 'ids', 'I64');
});

// ---------------------------------------------------------------------------------------------
// pytorch_model.bin

test('a zip pytorch_model.bin cut short', async () => {
  const file = await put('cut-zip.bin', zipBytes.subarray(0, zipBytes.length >> 1));
  await assertUserError(readTorchBin(file), 'truncated-weights', 'cut-zip.bin');
});

test('a legacy pytorch_model.bin cut short, in its data and in its pickle', async () => {
  const inData = await put('cut-legacy.bin', legacyBytes.subarray(0, legacyBytes.length - 1000));
  await assertUserError(readTorchBin(inData), 'truncated-weights', 'cut-legacy.bin', 'storage');
  const inPickle = await put('cut-legacy-pickle.bin', legacyBytes.subarray(0, 3000));
  await assertUserError(readTorchBin(inPickle), 'truncated-weights', 'cut-legacy-pickle.bin');
});

test('a pickle asking for os.system is refused, naming the file and the global', async () => {
  const file = await put('evil.bin', Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1'));
  await assertUserError(readTorchBin(file), 'unsafe-pickle', 'evil.bin', 'os.system');
});

test('a zip data.pkl asking for builtins.eval via STACK_GLOBAL is refused', async () => {
  const pkl = Buffer.from('\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x0eprint("owned")\x94\x85\x94R\x94.', 'latin1');
  const file = await put('eval.bin', zipSync({ 'archive/data.pkl': pkl, 'archive/version': Buffer.from('3\n') }, { level: 0 }));
  await assertUserError(readTorchBin(file), 'unsafe-pickle', 'eval.bin', 'builtins.eval');
});

test('a file that is no checkpoint at all', async () => {
  await assertUserError(readTorchBin(await put('notes.bin', 'git-lfs pointer or something')), 'bad-weights', 'notes.bin');
  await assertUserError(readTorchBin(await put('empty.bin', '')), 'truncated-weights', 'empty.bin');
});

// ---------------------------------------------------------------------------------------------
// Folders

test('a folder without weights names the folder and the files looked for', async () => {
  const dir = join(tmp, 'no-weights');
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), '{}');
  const e = await assertUserError(readWeightsFolder(dir), 'missing-file', dir, 'model.safetensors', 'pytorch_model.bin', 'model.safetensors.index.json');
  assert.equal(e.file, dir);
  await assertUserError(readWeightsFolder(join(tmp, 'no-such-folder')), 'model-not-found', 'no-such-folder');
});

// ---------------------------------------------------------------------------------------------
// Sweeps: any cut and any corrupted pickle byte gives a UserError (or, for a harmless byte, a result)

test('cut anywhere, every format says truncated-weights', async () => {
  const cases: [string, Buffer, (f: string) => Promise<unknown>][] = [
    ['sweep.safetensors', safetensorsBytes, readSafetensors],
    ['sweep-zip.bin', zipBytes, readTorchBin],
    ['sweep-legacy.bin', legacyBytes, readTorchBin],
  ];
  for (const [name, bytes, reader] of cases) {
    const cuts = [1, 2, 7, 8, 9, 50, 137, 200, 1000, 4000, 4600, 5000, 5700];
    for (let i = 1; i < 20; i++) cuts.push(Math.floor((bytes.length * i) / 20));
    cuts.push(bytes.length - 1);
    for (const cut of cuts) {
      await assertUserError(reader(await put(name, bytes.subarray(0, cut))), 'truncated-weights', name);
    }
  }
});

test('corrupted headers and pickles give a UserError or a result, never a crash', async () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const cases: [string, Buffer, number, number, (f: string) => Promise<unknown>][] = [
    ['flip.safetensors', safetensorsBytes, 0, 8 + 4456, readSafetensors], // length and JSON header
    ['flip-legacy.bin', legacyBytes, 0, 5631, readTorchBin], // the four pickles before the raw data
    ['flip-zip.bin', zipBytes, 40, 4530, readTorchBin], // data.pkl, stored right after its local header
    ['flip-zip-directory.bin', zipBytes, zipBytes.length - 3000, zipBytes.length, readTorchBin], // the zip's central directory
  ];
  const kinds = new Set<string>();
  for (const [name, original, from, to, reader] of cases) {
    for (let i = 0; i < 60; i++) {
      const bytes = Buffer.from(original);
      for (let k = 0; k < 3; k++) bytes[from + Math.floor(random() * (to - from))] = Math.floor(random() * 256);
      try {
        await reader(await put(name, bytes));
      } catch (e) {
        assert.ok(e instanceof UserError, `flip ${i} of ${name}: ${(e as Error).stack}`);
        assert.ok(e.message.includes(name), e.message);
        kinds.add(e.kind);
      }
    }
  }
  assert.ok(kinds.has('unsafe-pickle') && kinds.has('bad-weights'), [...kinds].join());
});
