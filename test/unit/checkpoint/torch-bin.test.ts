/**
 * Checkpoints crafted byte by byte, for what the fixture does not have: storage offsets, strides,
 * shared storages, Parameters, other dtypes, big-endian data, legacy storage views.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { readTorchBin } from '../../../src/server/engine/checkpoint/torch-bin';
import { UserError } from '../../../src/server/engine/errors';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'checkpoint-torch-'));
});
after(() => rm(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// A tiny pickle writer, emitting what torch.save emits (protocol 2)

class Pickle {
  private chunks: Buffer[] = [];

  op(s: string): this {
    this.chunks.push(Buffer.from(s, 'latin1'));
    return this;
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(b.length);
    this.chunks.push(Buffer.from('X'), length, b);
    return this;
  }

  int(n: number): this {
    if (n < 256) return this.op(`K${String.fromCharCode(n)}`);
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.chunks.push(Buffer.from('J'), b);
    return this;
  }

  ints(values: number[]): this {
    this.op('(');
    for (const v of values) this.int(v);
    return this.op('t');
  }

  global(module: string, name: string): this {
    return this.op(`c${module}\n${name}\n`);
  }

  emptyOrderedDict(): this {
    return this.global('collections', 'OrderedDict').op(')R');
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

interface Crafted {
  name: string;
  storageType?: string;
  key: string;
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride: number[];
  parameter?: boolean;
  /** legacy only: (view_key, offset, numel) */
  view?: [string, number, number];
}

function stateDict(tensors: Crafted[], legacy: boolean): Buffer {
  const p = new Pickle().op('\x80\x02').emptyOrderedDict().op('(');
  for (const t of tensors) {
    p.str(t.name);
    if (t.parameter) p.global('torch._utils', '_rebuild_parameter').op('(');
    p.global('torch._utils', '_rebuild_tensor_v2').op('(');
    p.op('(').str('storage').global('torch', t.storageType ?? 'FloatStorage').str(t.key).str('cpu').int(t.storageNumel);
    if (legacy) {
      if (t.view) p.op('(').str(t.view[0]).int(t.view[1]).int(t.view[2]).op('t');
      else p.op('N');
    }
    p.op('tQ'); // the persistent id
    p.int(t.offset ?? 0).ints(t.shape).ints(t.stride).op('\x89').emptyOrderedDict().op('tR');
    if (t.parameter) p.op('\x89').emptyOrderedDict().op('tR');
  }
  return p.op('u.').bytes();
}

function zipCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array>, extra: Record<string, Uint8Array> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pkl, 'archive/version': Buffer.from('3\n'), ...extra };
  for (const [key, data] of Object.entries(storages)) files[`archive/data/${key}`] = data;
  return zipSync(files, { level: 0 });
}

function legacyCheckpoint(pkl: Uint8Array, storages: [string, number, Uint8Array][], littleEndian = true): Buffer {
  const magic = new Pickle().op('\x80\x02\x8a\x0a').op(Buffer.from('6cfc9c46f9206aa85019', 'hex').toString('latin1')).op('.');
  const version = new Pickle().op('\x80\x02M\xe9\x03.');
  const sysInfo = new Pickle().op('\x80\x02}(').str('protocol_version').int(1001).str('little_endian').op(littleEndian ? '\x88' : '\x89').op('u.');
  const keys = new Pickle().op('\x80\x02](');
  for (const [key] of storages) keys.str(key);
  keys.op('e.');
  const data = storages.flatMap(([, numel, bytes]) => {
    const count = Buffer.alloc(8);
    count.writeBigUInt64LE(BigInt(numel));
    return [count, Buffer.from(bytes)];
  });
  return Buffer.concat([magic.bytes(), version.bytes(), sysInfo.bytes(), pkl, keys.bytes(), ...data]);
}

const f32 = (values: number[], littleEndian = true) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (littleEndian ? b.writeFloatLE(v, i * 4) : b.writeFloatBE(v, i * 4)));
  return b;
};

async function read(name: string, bytes: Uint8Array, options = {}) {
  const file = join(tmp, name);
  await writeFile(file, bytes);
  return readTorchBin(file, options);
}

async function assertUserError(promise: Promise<unknown>, kind: string, ...mentions: string[]) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention ${m}`);
    assert.ok(e.fix);
    return true;
  });
}

const SIX = [10, 11, 12, 13, 14, 15];

// ---------------------------------------------------------------------------------------------

test('storage offsets, strides (a transposed view) and shared storages are honoured', async () => {
  const pkl = stateDict(
    [
      { name: 'whole', key: '0', storageNumel: 6, shape: [2, 3], stride: [3, 1] },
      { name: 'transposed', key: '0', storageNumel: 6, shape: [3, 2], stride: [1, 3] },
      { name: 'tail', key: '0', storageNumel: 6, offset: 2, shape: [2, 2], stride: [2, 1] },
      { name: 'every-other', key: '0', storageNumel: 6, offset: 1, shape: [3], stride: [2] },
      { name: 'column', key: '0', storageNumel: 6, offset: 1, shape: [2, 1], stride: [3, 7] }, // a size-1 dim's stride does not matter
      { name: 'param', key: '1', storageNumel: 2, shape: [2], stride: [1], parameter: true },
      { name: 'empty', key: '1', storageNumel: 2, shape: [0, 4], stride: [4, 1] },
    ],
    false,
  );
  const { tensors, format } = await read('strides.bin', zipCheckpoint(pkl, { 0: f32(SIX), 1: f32([-1, 2.5]) }));
  assert.equal(format, 'torch-zip');
  const values = (name: string) => [...tensors.get(name)!.data];
  assert.deepEqual(values('whole'), SIX);
  assert.deepEqual(values('transposed'), [10, 13, 11, 14, 12, 15]);
  assert.deepEqual(tensors.get('transposed')!.shape, [3, 2]);
  assert.deepEqual(values('tail'), [12, 13, 14, 15]);
  assert.deepEqual(values('every-other'), [11, 13, 15]);
  assert.deepEqual(values('column'), [11, 14]);
  assert.deepEqual(values('param'), [-1, 2.5]);
  assert.deepEqual(values('empty'), []);
  assert.notEqual(tensors.get('whole')!.data.buffer, tensors.get('tail')!.data.buffer, 'tensors sharing a storage get their own copy');
});

test('F16, BF16 and F64 storages become float32; integer storages are skipped unless asked for', async () => {
  const half = Buffer.alloc(4);
  half.writeUInt16LE(0x3c00, 0); // 1
  half.writeUInt16LE(0xc000, 2); // -2
  const bf16 = Buffer.alloc(4);
  bf16.writeUInt16LE(0x3fc0, 0); // 1.5
  bf16.writeUInt16LE(0x7f80, 2); // Infinity
  const f64 = Buffer.alloc(16);
  f64.writeDoubleLE(0.1, 0);
  f64.writeDoubleLE(-3, 8);
  const i64 = Buffer.alloc(16);
  const pkl = stateDict(
    [
      { name: 'h', storageType: 'HalfStorage', key: 'h', storageNumel: 2, shape: [2], stride: [1] },
      { name: 'b', storageType: 'BFloat16Storage', key: 'b', storageNumel: 2, shape: [2], stride: [1] },
      { name: 'd', storageType: 'DoubleStorage', key: 'd', storageNumel: 2, shape: [2], stride: [1] },
      { name: 'position_ids', storageType: 'LongStorage', key: 'l', storageNumel: 2, shape: [1, 2], stride: [2, 1] },
    ],
    false,
  );
  const bytes = zipCheckpoint(pkl, { h: half, b: bf16, d: f64, l: i64 });
  const { tensors, skipped } = await read('dtypes.bin', bytes);
  assert.deepEqual([...tensors.get('h')!.data], [1, -2]);
  assert.equal(tensors.get('h')!.dtype, 'F16');
  assert.deepEqual([...tensors.get('b')!.data], [1.5, Infinity]);
  assert.equal(tensors.get('b')!.dtype, 'BF16');
  assert.deepEqual([...tensors.get('d')!.data], [Math.fround(0.1), -3]);
  assert.deepEqual(skipped, [{ name: 'position_ids', dtype: 'I64' }]);
  assert.ok(!tensors.has('position_ids'));
  await assertUserError(read('dtypes.bin', bytes, { names: ['position_ids'] }), 'bad-weights', 'dtypes.bin', 'position_ids', 'I64');
});

test('a checkpoint saved big-endian (byteorder "big") is read correctly', async () => {
  const pkl = stateDict([{ name: 'w', key: '0', storageNumel: 6, shape: [6], stride: [1] }], false);
  const bytes = zipCheckpoint(pkl, { 0: f32(SIX, false) }, { 'archive/byteorder': Buffer.from('big') });
  assert.deepEqual([...(await read('big.bin', bytes)).tensors.get('w')!.data], SIX);
});

test('the legacy format: storage keys, element counts and views', async () => {
  const pkl = stateDict(
    [
      { name: 'a', key: '140', storageNumel: 6, shape: [2, 3], stride: [3, 1] },
      // a view of storage 140 starting at element 3, three long; the tensor starts 1 into the view
      { name: 'view', key: '140', storageNumel: 6, offset: 1, shape: [2], stride: [1], view: ['141', 3, 3] },
      { name: 'b', key: '150', storageNumel: 2, shape: [2, 1], stride: [1, 1] },
    ],
    true,
  );
  const bytes = legacyCheckpoint(pkl, [['140', 6, f32(SIX)], ['150', 2, f32([7, 8])]]);
  const { tensors, format } = await read('legacy.bin', bytes);
  assert.equal(format, 'torch-legacy');
  assert.deepEqual([...tensors.get('a')!.data], SIX);
  assert.deepEqual([...tensors.get('view')!.data], [14, 15]);
  assert.deepEqual([...tensors.get('b')!.data], [7, 8]);

  const bigEndian = legacyCheckpoint(pkl, [['140', 6, f32(SIX, false)], ['150', 2, f32([7, 8], false)]], false);
  assert.deepEqual([...(await read('legacy-be.bin', bigEndian)).tensors.get('a')!.data], SIX);

  const wrongCount = legacyCheckpoint(pkl, [['140', 5, f32(SIX)], ['150', 2, f32([7, 8])]]);
  await assertUserError(read('count.bin', wrongCount), 'bad-weights', 'count.bin', 'storage 140');
});

test('a tensor reaching past its storage is refused, naming the tensor', async () => {
  const pkl = stateDict([{ name: 'too.long', key: '0', storageNumel: 6, offset: 3, shape: [2, 3], stride: [3, 1] }], false);
  await assertUserError(read('past.bin', zipCheckpoint(pkl, { 0: f32(SIX) })), 'bad-weights', 'past.bin', 'too.long');
  const broadcast = stateDict([{ name: 'expanded', key: '0', storageNumel: 6, shape: [1000, 6], stride: [0, 1] }], false);
  await assertUserError(read('broadcast.bin', zipCheckpoint(broadcast, { 0: f32(SIX) })), 'bad-weights', 'expanded');
});

test('a zip missing a storage, or with a short one, is refused, naming the tensor', async () => {
  const pkl = stateDict([{ name: 'lost', key: '7', storageNumel: 6, shape: [6], stride: [1] }], false);
  await assertUserError(read('nodata.bin', zipCheckpoint(pkl, {})), 'bad-weights', 'nodata.bin', 'archive/data/7', 'lost');
  await assertUserError(read('short.bin', zipCheckpoint(pkl, { 7: f32([1, 2]) })), 'bad-weights', 'short.bin', 'lost');
});

test('a zip that is not a torch checkpoint is refused', async () => {
  await assertUserError(read('plain.bin', zipSync({ 'readme.txt': Buffer.from('hi') })), 'bad-weights', 'plain.bin', 'data.pkl');
  const pkl = new Pickle().op('\x80\x02K\x01.').bytes();
  await assertUserError(read('int.bin', zipCheckpoint(pkl, {})), 'bad-weights', 'int.bin', 'state_dict');
});

test('data.pkl calling builtins.eval through STACK_GLOBAL is refused', async () => {
  // protocol 4: SHORT_BINUNICODE 'builtins', 'eval', STACK_GLOBAL, then eval("print('owned')")
  const pkl = Buffer.from('8004952a000000000000008c086275696c74696e73948c046576616c9493948c0e7072696e7428276f776e6564272994859452942e', 'hex');
  await assertUserError(read('eval.bin', zipCheckpoint(pkl, {})), 'unsafe-pickle', 'eval.bin', 'builtins.eval');
});

test('a state_dict pickle with a refused global inside a tensor is refused as a whole', async () => {
  const pkl = Buffer.from(
    stateDict([{ name: 'w', key: '0', storageNumel: 6, shape: [6], stride: [1] }], false)
      .toString('latin1')
      .replace('torch._utils\n_rebuild_tensor_v2\n', 'posix\nsystem\n'),
    'latin1',
  );
  await assertUserError(read('posix.bin', zipCheckpoint(pkl, { 0: f32(SIX) })), 'unsafe-pickle', 'posix.bin', 'data.pkl', 'posix.system');
});
