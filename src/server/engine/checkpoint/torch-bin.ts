/**
 * `pytorch_model.bin`, as written by `torch.save(state_dict)`, in both of PyTorch's formats:
 *
 * - zip (PyTorch ≥ 1.6): one top folder, whose name varies, holding `data.pkl` (the pickled
 *   state_dict, whose persistent ids are `('storage', storage_type, key, location, numel)`),
 *   `data/<key>` (each storage's raw bytes), `version` and, from PyTorch 2.1, `byteorder`.
 * - legacy (`_use_new_zipfile_serialization=False`): pickles in a row — the magic number, the
 *   protocol version 1001, sys info, the state_dict (persistent ids
 *   `('storage', storage_type, key, location, numel, view_metadata)`), the list of storage keys —
 *   then for each key an 8-byte little-endian element count and the raw data.
 *
 * The pickles are read by ./pickle.ts, which refuses anything but a state_dict's vocabulary.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { unzipSync } from 'fflate';
import { UserError } from '../errors';
import { isTorchTensor, torchStorageFromPersistentId, unpickle, type PickleValue, type TorchStorage, type TorchTensor } from './pickle';
import {
  DTYPE_SIZE,
  checkFloatDtype,
  decodeToFloat32,
  isFloatDtype,
  numelOf,
  readSharded,
  type ReadOptions,
  type WeightMap,
  type WeightsRead,
} from './safetensors';

export type TorchFormat = 'torch-zip' | 'torch-legacy';

export interface TorchBinRead extends WeightsRead {
  format: TorchFormat;
}

export async function readTorchBin(file: string, options: ReadOptions = {}): Promise<TorchBinRead> {
  const bytes = await readWholeFile(file);
  if (bytes.length === 0) throw truncated(file, `${basename(file)} is empty.`);
  if (isZip(bytes)) return { format: 'torch-zip', ...readZipCheckpoint(bytes, file, options) };
  if (bytes[0] === 0x80) return { format: 'torch-legacy', ...readLegacyCheckpoint(bytes, file, options) };
  if (isTar(bytes)) {
    throw badWeights(file, `${basename(file)} is in the tar format of PyTorch before 0.4, which is not read here.`);
  }
  throw badWeights(file, `${basename(file)} is not a PyTorch checkpoint (neither a zip nor a pickle).`);
}

/** `pytorch_model.bin.index.json`: a sharded `.bin` checkpoint. */
export async function readShardedTorchBin(indexFile: string, options: ReadOptions = {}): Promise<TorchBinRead> {
  let format: TorchFormat = 'torch-zip';
  const result = await readSharded(indexFile, options, async (shard, shardOptions) => {
    const read = await readTorchBin(shard, shardOptions);
    format = read.format;
    return read;
  });
  return { ...result, format };
}

// ---------------------------------------------------------------------------------------------
// Zip format

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // "PK\3\4"

/** Also true for the first bytes of a zip cut short, so that it is reported as cut short. */
function isZip(bytes: Uint8Array): boolean {
  return ZIP_MAGIC.slice(0, bytes.length).every((b, i) => bytes[i] === b);
}

function readZipCheckpoint(bytes: Uint8Array, file: string, options: ReadOptions): WeightsRead {
  const entries = listZipEntries(bytes, file);
  const pickleName = findDataPkl(entries, file);
  const folder = pickleName.slice(0, -'data.pkl'.length);
  const littleEndian = readByteOrder(bytes, entries, folder, file);
  const root = unpickle(zipEntry(bytes, entries, pickleName, file), {
    file,
    part: pickleName,
    persistentLoad: (pid, offset) => torchStorageFromPersistentId(pid, { file, offset }),
  }).value;
  const storageBytes = (key: string, forTensor: string) => {
    const name = `${folder}data/${key}`;
    if (!entries.has(name)) throw badWeights(file, `${basename(file)} has no entry ${name}, which holds the data of tensor ${forTensor}.`);
    return zipEntry(bytes, entries, name, file);
  };
  return materialiseStateDict(root, file, options, storageBytes, littleEndian);
}

/** Entry name → stored size, read from the central directory without extracting anything. */
function listZipEntries(bytes: Uint8Array, file: string): Map<string, number> {
  const entries = new Map<string, number>();
  unzipWith(bytes, file, (entry) => {
    entries.set(entry.name, entry.originalSize);
    return false;
  });
  return entries;
}

/** One entry, extracted alone so that a large checkpoint is never copied whole. */
function zipEntry(bytes: Uint8Array, entries: Map<string, number>, name: string, file: string): Uint8Array {
  const data = unzipWith(bytes, file, (entry) => entry.name === name)[name];
  // fflate cuts a stored entry short at the end of the buffer instead of failing
  if (data === undefined || data.length !== entries.get(name)) {
    throw truncated(file, `${basename(file)} is cut short: the zip entry ${name} is incomplete.`);
  }
  return data;
}

function unzipWith(bytes: Uint8Array, file: string, filter: (entry: { name: string; originalSize: number }) => boolean) {
  try {
    return unzipSync(bytes, { filter });
  } catch (e) {
    // the end-of-zip record is the last thing in the file: when it is missing, the file was cut short
    if ((e as Error).message === 'invalid zip data') {
      throw truncated(file, `${basename(file)} is cut short or corrupt: the zip's central directory at its end is missing.`);
    }
    throw badWeights(file, `${basename(file)} is a damaged zip (${(e as Error).message}).`);
  }
}

function findDataPkl(entries: Map<string, number>, file: string): string {
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw badWeights(file, `${basename(file)} is a zip but not a PyTorch checkpoint: it should hold exactly one <folder>/data.pkl, it holds ${pickles.length}.`);
  }
  return pickles[0];
}

function readByteOrder(bytes: Uint8Array, entries: Map<string, number>, folder: string, file: string): boolean {
  const name = `${folder}byteorder`;
  if (!entries.has(name)) return true; // written since PyTorch 2.1; before, every writer was little-endian in practice
  const order = new TextDecoder().decode(zipEntry(bytes, entries, name, file)).trim();
  if (order !== 'little' && order !== 'big') throw badWeights(file, `${basename(file)}: ${name} says ${JSON.stringify(order)}, not "little" or "big".`);
  return order === 'little';
}

// ---------------------------------------------------------------------------------------------
// Legacy format

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

function readLegacyCheckpoint(bytes: Uint8Array, file: string, options: ReadOptions): WeightsRead {
  let pos = 0;
  const next = (part: string, persistentLoad?: (pid: PickleValue, offset: number) => PickleValue) => {
    const { value, end } = unpickle(bytes, { file, part, start: pos, persistentLoad });
    pos = end;
    return value;
  };
  if (next('magic number') !== LEGACY_MAGIC) throw badWeights(file, `${basename(file)} starts with a pickle but is not a PyTorch checkpoint (wrong magic number).`);
  const version = next('protocol version');
  if (version !== LEGACY_PROTOCOL_VERSION) throw badWeights(file, `${basename(file)} has PyTorch legacy protocol version ${String(version)}; only ${LEGACY_PROTOCOL_VERSION} is read.`);
  const littleEndian = isLittleEndian(next('sys info'));

  const storages = new Map<string, TorchStorage>();
  const root = next('state_dict', (pid, offset) => {
    const storage = torchStorageFromPersistentId(pid, { file, offset });
    storages.set(storage.key, storage);
    return storage;
  });
  const keys = next('storage keys');
  const data = readLegacyStorages(bytes, pos, keys, storages, file);
  const storageBytes = (key: string, forTensor: string) => {
    const found = data.get(key);
    if (!found) throw badWeights(file, `${basename(file)}: the data of tensor ${forTensor} (storage ${key}) is not in the file.`);
    return found;
  };
  return materialiseStateDict(root, file, options, storageBytes, littleEndian);
}

function isLittleEndian(sysInfo: PickleValue): boolean {
  return !(sysInfo instanceof Map && sysInfo.get('little_endian') === false);
}

/** After the pickles: for each key, an 8-byte element count, then the storage's bytes. */
function readLegacyStorages(bytes: Uint8Array, start: number, keys: PickleValue, storages: Map<string, TorchStorage>, file: string) {
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && storages.has(k))) {
    throw badWeights(file, `${basename(file)}: the list of storage keys after the state_dict does not match the storages it uses.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, Uint8Array>();
  let pos = start;
  for (const key of keys as string[]) {
    const storage = storages.get(key)!;
    if (pos + 8 > bytes.length) throw truncated(file, `${basename(file)} is cut short at byte ${pos}, before storage ${key}.`);
    const numel = Number(view.getBigUint64(pos, true));
    if (numel !== storage.numel) throw badWeights(file, `${basename(file)}: storage ${key} at byte ${pos} holds ${numel} elements, the state_dict says ${storage.numel}.`);
    const byteLength = numel * DTYPE_SIZE[storage.dtype];
    if (pos + 8 + byteLength > bytes.length) {
      throw truncated(file, `${basename(file)} is cut short in the data of storage ${key} (bytes ${pos + 8} to ${pos + 8 + byteLength}; the file ends at ${bytes.length}).`);
    }
    data.set(key, bytes.subarray(pos + 8, pos + 8 + byteLength));
    pos += 8 + byteLength;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// From the unpickled state_dict to float32 tensors

function materialiseStateDict(
  root: PickleValue,
  file: string,
  options: ReadOptions,
  storageBytes: (key: string, forTensor: string) => Uint8Array,
  littleEndian: boolean,
): WeightsRead {
  const refs = tensorsOf(root, file);
  const names = options.names ? options.names.filter((n) => refs.has(n)) : [...refs.keys()];
  if (options.names) for (const name of names) checkFloatDtype(name, refs.get(name)!.storage.dtype, file);
  const result: WeightsRead = { tensors: new Map(), skipped: [] };
  for (const name of names) {
    const ref = refs.get(name)!;
    if (!isFloatDtype(ref.storage.dtype)) {
      result.skipped.push({ name, dtype: ref.storage.dtype });
      continue;
    }
    const data = materialise(name, ref, storageBytes(ref.storage.key, name), littleEndian, file);
    result.tensors.set(name, { shape: ref.shape, dtype: ref.storage.dtype, data });
  }
  return result;
}

/** The tensors at the top level of the unpickled dict (anything else there is ignored). */
function tensorsOf(root: PickleValue, file: string): Map<string, TorchTensor> {
  const refs = new Map<string, TorchTensor>();
  if (root instanceof Map) {
    for (const [key, value] of root) if (typeof key === 'string' && isTorchTensor(value)) refs.set(key, value);
  }
  if (refs.size === 0) {
    throw badWeights(
      file,
      `${basename(file)} holds no state_dict: its top level is not a dict of tensors.`,
      'Save the weights with torch.save(model.state_dict(), path), or model.save_pretrained(folder).',
    );
  }
  return refs;
}

/** The tensor's elements in row-major order; strides are honoured, so a transposed view comes out right. */
function materialise(name: string, ref: TorchTensor, storage: Uint8Array, littleEndian: boolean, file: string): Float32Array {
  const { dtype, numel: storageNumel, view } = ref.storage;
  const elementSize = DTYPE_SIZE[dtype];
  if (storage.length < storageNumel * elementSize) {
    throw badWeights(file, `${basename(file)}: the storage of tensor ${name} holds ${storage.length} bytes, ${storageNumel * elementSize} were expected.`);
  }
  const numel = numelOf(ref.shape);
  if (numel === 0) return new Float32Array(0);
  if (numel > storageNumel) {
    // only a broadcast view (a stride of 0) has more elements than its storage; state_dicts hold none
    throw badWeights(file, `${basename(file)}: tensor ${name} has ${numel} elements but its storage ${ref.storage.key} only ${storageNumel}.`);
  }
  const first = (view?.offset ?? 0) + ref.storageOffset;
  const span = ref.shape.reduce((last, size, d) => last + (size - 1) * ref.stride[d], 0) + 1;
  const limit = view ? view.offset + view.numel : storageNumel;
  if (first + span > limit) {
    throw badWeights(file, `${basename(file)}: tensor ${name} (shape [${ref.shape.join(', ')}], offset ${ref.storageOffset}) reaches past the end of its storage ${ref.storage.key}.`);
  }
  const values = decodeToFloat32(storage.subarray(first * elementSize, (first + span) * elementSize), dtype, littleEndian);
  return isContiguous(ref.shape, ref.stride) ? values : gatherStrided(values, ref.shape, ref.stride, numel);
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

function gatherStrided(values: Float32Array, shape: number[], stride: number[], numel: number): Float32Array {
  const out = new Float32Array(numel);
  const index = new Array<number>(shape.length).fill(0);
  let source = 0;
  for (let i = 0; i < numel; i++) {
    out[i] = values[source];
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]++;
      source += stride[d];
      if (index[d] < shape[d]) break;
      source -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files and errors

/** Node buffers stop at 4 GB (2^32 − 1 bytes on 64-bit Node 20); such checkpoints come sharded or as safetensors. */
const MAX_FILE_BYTES = 2 ** 32 - 1;

async function readWholeFile(file: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new UserError({ kind: 'missing-file', message: `${basename(file)} does not exist.`, file, fix: 'Check the model folder; download the model again if files are missing.' });
  }
  try {
    const size = (await fh.stat()).size;
    if (size > MAX_FILE_BYTES) {
      throw new UserError({
        kind: 'too-large',
        message: `${basename(file)} is ${size} bytes; a single PyTorch .bin above 4 GB cannot be read here.`,
        file,
        fix: 'Use the model\'s safetensors weights, or a sharded checkpoint.',
      });
    }
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await fh.read(bytes, done, Math.min(1 << 30, size - done), done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return bytes;
  } finally {
    await fh.close();
  }
}

function isTar(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar';
}

function truncated(file: string, message: string): UserError {
  return new UserError({ kind: 'truncated-weights', message, file, fix: 'The download was probably interrupted: download the model again.' });
}

function badWeights(file: string, message: string, fix = 'Download the checkpoint again, or use the model\'s model.safetensors.'): UserError {
  return new UserError({ kind: 'bad-weights', message, file, fix });
}
