/**
 * Where a run writes (`train --out`, the extension's output folder) is checked before anything slow
 * happens: it must be a folder or creatable as one, writable (a probe file is really created and
 * removed), and have room for a checkpoint of the model. Each problem is one UserError naming the
 * folder and the fix, never a stack trace after a whole epoch.
 *
 * The tests run as root, where chmod does not stop writes: read-only is tested on a read-only tmpfs
 * mount (skipped where mounting is not allowed) and under /proc, and chmod only when not root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../../../src/server/engine/backend';
import { fineTune } from '../../../src/server/engine/fine-tune';
import { checkFreeSpace, checkpointBytes } from '../../../src/server/engine/train/output-folder';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const SST2 = join(FIXTURES, 'datasets', 'sst2');
const scratch = mkdtempSync(join(tmpdir(), 'output-folder-'));
/** Never read: when the output check comes first, the error is about the output, not this. */
const MISSING_DATA = join(scratch, 'no-such-dataset.csv');
after(() => rmSync(scratch, { recursive: true, force: true }));
before(() => initBackend('wasm'));

async function expectOutputError(outDir: string, pattern: RegExp, kind = 'output-unwritable') {
  await assert.rejects(fineTune({ data: MISSING_DATA, model: TINY_BERT, outDir, settings: { maxSteps: 1 } }), (e: any) => {
    assert.equal(e.name, 'UserError', e.stack);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, pattern);
    assert.ok(e.fix, 'the error says what to do');
    return true;
  });
}

test('--out naming an existing file: refused before the data is read, the file untouched', async () => {
  const file = join(scratch, 'notes.txt');
  writeFileSync(file, 'keep me\n');
  await expectOutputError(file, /notes\.txt is a file, not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'keep me\n');
});

test('--out under an existing file (ENOTDIR): the error names the file in the way', async () => {
  const file = join(scratch, 'in-the-way');
  writeFileSync(file, '');
  await expectOutputError(join(file, 'runs', 'model'), /in-the-way is a file, not a folder/);
});

test('--out where no folder can be made (/proc): refused up front', async () => {
  await expectOutputError('/proc/bert-workbench-test/model', /\/proc\/bert-workbench-test\/model/);
});

function mountReadOnly(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const readOnly = join(scratch, 'read-only');
test('--out on a read-only file system: says read-only (not ENOENT), for a new and an existing folder', { skip: !mountReadOnly(readOnly) && 'needs root to mount a read-only tmpfs' }, async () => {
  try {
    await expectOutputError(join(readOnly, 'model'), /read-only/);
    await expectOutputError(readOnly, /read-only/);
  } finally {
    execFileSync('umount', [readOnly]);
  }
});

function mountSmall(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const small = join(scratch, 'small-disk');
test('--out on a disk too small for a checkpoint (2 MB for tiny-bert\'s ~13 MB): refused before the data is read', { skip: !mountSmall(small) && 'needs root to mount a small tmpfs' }, async () => {
  try {
    await expectOutputError(join(small, 'model'), /has 2 MB free, but a checkpoint of this model and the saved model need at least \d+ MB/, 'disk-full');
  } finally {
    execFileSync('umount', [small]);
  }
});

test('--out in a folder without write permission', { skip: process.getuid?.() === 0 && 'root writes through chmod' }, async () => {
  const locked = join(scratch, 'no-write');
  mkdirSync(locked);
  chmodSync(locked, 0o500);
  try {
    await expectOutputError(join(locked, 'model'), /permission|read-only/i);
    await expectOutputError(locked, /permission|read-only/i);
  } finally {
    chmodSync(locked, 0o700);
  }
});

test('a run that fails before writing anything leaves no folder behind, and a good run no probe files', async () => {
  const outDir = join(scratch, 'fresh', 'model');
  await assert.rejects(fineTune({ data: MISSING_DATA, model: TINY_BERT, outDir, settings: { maxSteps: 1 } }));
  assert.equal(existsSync(join(scratch, 'fresh')), false, 'the folders made for the run are gone again');
  const good = join(scratch, 'good');
  const result = await fineTune({ data: SST2, model: TINY_BERT, outDir: good, settings: { maxSteps: 2, batchSize: 8, maxLength: 32 } });
  assert.equal(result.status, 'completed');
  assert.deepEqual(readdirSync(good).filter((f) => f.startsWith('.')), [], 'no probe or lock file is left');
});

test('the CLI: train --out <a file> is one line on stderr and exit code 1, at once', { skip: !existsSync(CLI) && 'needs npm run build' }, () => {
  const file = join(scratch, 'cli-file');
  writeFileSync(file, '');
  const run = spawnSync(process.execPath, [CLI, 'train', '--data', SST2, '--model', 'builtin:tiny-bert', '--out', file, '--max-steps', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 1, run.stderr);
  assert.equal(run.stdout, '', 'nothing was read or trained');
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^error: .*cli-file is a file, not a folder\. /);
});

test('room for a checkpoint: 3× the weights (weights and two Adam moments) plus the saved model folder, checked against the free space', () => {
  const model = join(scratch, 'fake-model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), '{"model_type":"bert"}'); // 21 bytes
  writeFileSync(join(model, 'model.safetensors'), Buffer.alloc(1000));
  writeFileSync(join(model, 'pytorch_model.bin'), Buffer.alloc(5000)); // not read: safetensors is preferred
  writeFileSync(join(model, 'vocab.txt'), Buffer.alloc(79));
  assert.equal(checkpointBytes(model), 3 * 1000 + (1000 + 21 + 79));
  writeFileSync(join(model, 'config.json'), '{"torch_dtype":"float16"}'); // 25 bytes: float16 weights are saved as float32, twice the size
  assert.equal(checkpointBytes(model), 3 * 2000 + (2000 + 25 + 79));
  assert.doesNotThrow(() => checkFreeSpace(scratch, model, 8104));
  assert.throws(() => checkFreeSpace(scratch, model, 8103), (e: any) => {
    assert.equal(e.kind, 'disk-full');
    assert.match(e.message, new RegExp(`The output folder ${scratch} has 1 MB free, but a checkpoint of this model and the saved model need at least 1 MB`));
    assert.match(e.fix, /Free some space/);
    return true;
  });
  const sharded = join(scratch, 'sharded-model');
  mkdirSync(sharded);
  writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-1.safetensors', b: 'model-2.safetensors', c: 'model-2.safetensors' } }));
  writeFileSync(join(sharded, 'model-1.safetensors'), Buffer.alloc(300));
  writeFileSync(join(sharded, 'model-2.safetensors'), Buffer.alloc(700));
  assert.equal(checkpointBytes(sharded), 4 * 1000, 'every shard once');
  assert.doesNotThrow(() => checkFreeSpace(scratch, TINY_BERT), 'the real free space of the temp folder holds tiny-bert');
});
