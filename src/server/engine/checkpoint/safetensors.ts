/**
 * The `.safetensors` format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}`, then the data, offsets counted from the end of the header.
 *
 * Also home to what every checkpoint reader shares: the tensor map type, the dtype table, the
 * F16/BF16 conversions and the sharded-checkpoint index (`*.index.json`).
 */
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors';

// ---------------------------------------------------------------------------------------------
// Shared types

/** Dtype names as safetensors spells them; torch storages are mapped onto the same names. */
export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'C64' | 'C128';

/** One tensor, whatever its stored dtype, as float32 in row-major order. */
export interface WeightTensor {
  shape: number[];
  /** The dtype it was stored as (the data has been converted to float32). */
  dtype: string;
  data: Float32Array;
}

export type WeightMap = Map<string, WeightTensor>;

export interface ReadOptions {
  /**
   * Read only these tensors. Names not in the file are simply absent from the result; a named
   * tensor whose dtype cannot become float32 (I64, BOOL, ...) is an error. Without `names`,
   * such tensors are skipped and listed in `skipped`.
   */
  names?: readonly string[];
}

export interface WeightsRead {
  tensors: WeightMap;
  /** Tensors left out because their dtype is not a float type (e.g. BERT's I64 `position_ids`). */
  skipped: { name: string; dtype: string }[];
}

export interface SafetensorsRead extends WeightsRead {
  metadata: Record<string, string>;
}

/** Bytes per element; dtypes missing here are unknown to us and can only be skipped. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, C64: 8, C128: 16,
};

const FLOAT_DTYPES = new Set<string>(['F64', 'F32', 'F16', 'BF16']);

export function isFloatDtype(dtype: string): boolean {
  return FLOAT_DTYPES.has(dtype);
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The safetensors library refuses headers above 100 MB; so do we (it is surely not safetensors). */
const MAX_HEADER_BYTES = 100_000_000;

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export async function readSafetensors(file: string, options: ReadOptions = {}): Promise<SafetensorsRead> {
  const fh = await openForReading(file);
  try {
    const fileSize = (await fh.stat()).size;
    const { entries, metadata, dataStart } = await readHeader(fh, file, fileSize);
    checkDataFits(entries, file, fileSize - dataStart);
    const { wanted, skipped } = selectEntries(entries, options, file);
    const tensors: WeightMap = new Map();
    for (const entry of wanted) {
      tensors.set(entry.name, { shape: entry.shape, dtype: entry.dtype, data: await readTensorData(fh, entry, dataStart) });
    }
    return { tensors, skipped, metadata };
  } finally {
    await fh.close();
  }
}

async function openForReading(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError({ kind: 'missing-file', message: `${basename(file)} does not exist.`, file, fix: 'Check the model folder; download the model again if files are missing.' });
    }
    throw e;
  }
}

async function readHeader(fh: FileHandle, file: string, fileSize: number) {
  const name = basename(file);
  if (fileSize < 8) {
    throw truncated(file, `${name} is ${fileSize} bytes long, too short to hold even the 8-byte header length of a safetensors file.`);
  }
  const headerLength = Number((await readBytes(fh, 0, 8)).readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES) {
    throw badWeights(file, `${name} is not a safetensors file: its first 8 bytes give a header length of ${headerLength} bytes.`);
  }
  if (8 + headerLength > fileSize) {
    throw truncated(file, `${name} is cut short inside its header: the header needs bytes 8 to ${8 + headerLength} but the file ends at byte ${fileSize}.`);
  }
  const json = parseHeaderJson(await readBytes(fh, 8, headerLength), file);
  const { entries, metadata } = checkHeader(json, file);
  return { entries, metadata, dataStart: 8 + headerLength };
}

function parseHeaderJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw badWeights(file, `${basename(file)} is not a safetensors file: its header is not valid JSON (${(e as Error).message}).`);
  }
}

function checkHeader(json: unknown, file: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  if (!isPlainObject(json)) throw badWeights(file, `${basename(file)}: the safetensors header is not a JSON object.`);
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') metadata = checkMetadata(value, file);
    else entries.push(checkEntry(name, value, file));
  }
  return { entries, metadata };
}

function checkMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw badWeights(file, `${basename(file)}: the safetensors "__metadata__" must map strings to strings.`);
  }
  return value as Record<string, string>;
}

function checkEntry(name: string, value: unknown, file: string): HeaderEntry {
  const bad = (what: string) => badWeights(file, `${basename(file)}: tensor ${name} has ${what} in the header.`);
  if (!isPlainObject(value)) throw bad('no {dtype, shape, data_offsets} object');
  const { dtype, shape, data_offsets: offsets } = value as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (typeof dtype !== 'string') throw bad('no dtype');
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`a bad shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw bad(`bad data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const size = DTYPE_SIZE[dtype as Dtype];
  if (size !== undefined && end - begin !== numelOf(shape) * size) {
    throw bad(`data_offsets [${begin}, ${end}] that do not match its shape [${shape.join(', ')}] and dtype ${dtype}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function checkDataFits(entries: HeaderEntry[], file: string, dataSize: number): void {
  const sorted = [...entries].sort((a, b) => a.end - b.end);
  const cut = sorted.find((e) => e.end > dataSize);
  if (cut) {
    throw truncated(
      file,
      `${basename(file)} is cut short in the data of tensor ${cut.name}: it needs data bytes ${cut.begin} to ${cut.end} but the data ends at ${dataSize}.`,
    );
  }
}

function selectEntries(entries: HeaderEntry[], options: ReadOptions, file: string) {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const asked = options.names ? options.names.map((n) => byName.get(n)).filter((e) => e !== undefined) : entries;
  if (options.names) for (const e of asked) checkFloatDtype(e.name, e.dtype, file);
  const wanted = asked.filter((e) => isFloatDtype(e.dtype));
  const skipped = asked.filter((e) => !isFloatDtype(e.dtype)).map((e) => ({ name: e.name, dtype: e.dtype }));
  return { wanted, skipped };
}

/** A tensor asked for by name must be convertible to float32. */
export function checkFloatDtype(name: string, dtype: string, file: string): void {
  if (isFloatDtype(dtype)) return;
  throw badWeights(
    file,
    `${basename(file)}: tensor ${name} is stored as ${dtype}, which cannot be read as float32 (only F32, F16, BF16 and F64 can).`,
    'Use a checkpoint whose weights are floating point, or leave this tensor out.',
  );
}

async function readTensorData(fh: FileHandle, entry: HeaderEntry, dataStart: number): Promise<Float32Array> {
  const position = dataStart + entry.begin;
  const byteLength = entry.end - entry.begin;
  if (entry.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    const out = new Float32Array(byteLength / 4);
    await readInto(fh, new Uint8Array(out.buffer), position);
    return out;
  }
  return decodeToFloat32(await readBytes(fh, position, byteLength), entry.dtype as Dtype, true);
}

async function readBytes(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  await readInto(fh, buf, position);
  return buf;
}

/** `read` may return fewer bytes than asked and is capped near 2 GB per call. */
async function readInto(fh: FileHandle, target: Uint8Array, position: number): Promise<void> {
  const CHUNK = 1 << 30;
  for (let done = 0; done < target.length; ) {
    const { bytesRead } = await fh.read(target, done, Math.min(CHUNK, target.length - done), position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`); // sizes were checked; a file shrinking under us is not a user error
    done += bytesRead;
  }
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints: `{"metadata": {...}, "weight_map": {tensorName: shardFile}}`

/** Reads a `*.index.json` into shard file (absolute) → the tensor names it holds. */
export async function readShardIndex(indexFile: string): Promise<Map<string, string[]>> {
  const fh = await openForReading(indexFile);
  let text: string;
  try {
    text = await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
  const name = basename(indexFile);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badWeights(indexFile, `${name} is not valid JSON (${(e as Error).message}).`, 'Download the model again.');
  }
  const weightMap = isPlainObject(json) ? json.weight_map : undefined;
  if (!isPlainObject(weightMap)) throw badWeights(indexFile, `${name} has no "weight_map" object.`, 'Download the model again.');
  const shards = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || !isPlainFileName(shard)) {
      throw badWeights(indexFile, `${name}: tensor ${tensor} is mapped to ${JSON.stringify(shard)}, which is not a file name in the same folder.`, 'Download the model again.');
    }
    const path = join(dirname(indexFile), shard);
    shards.set(path, [...(shards.get(path) ?? []), tensor]);
  }
  return shards;
}

/** Reads every shard named in an index with `readShard`, keeping only the tensors the index maps to it. */
export async function readSharded(
  indexFile: string,
  options: ReadOptions,
  readShard: (shardFile: string, options: ReadOptions) => Promise<WeightsRead>,
): Promise<WeightsRead> {
  const wantedNames = options.names ? new Set(options.names) : undefined;
  const result: WeightsRead = { tensors: new Map(), skipped: [] };
  for (const [shard, names] of await readShardIndex(indexFile)) {
    const mapped = new Set(names);
    const asked = wantedNames ? names.filter((n) => wantedNames.has(n)) : undefined;
    if (asked && asked.length === 0) continue;
    await ensureShardExists(shard, indexFile);
    const part = await readShard(shard, { names: asked });
    for (const [name, tensor] of part.tensors) if (mapped.has(name)) result.tensors.set(name, tensor);
    result.skipped.push(...part.skipped.filter((s) => mapped.has(s.name)));
  }
  return result;
}

async function ensureShardExists(shard: string, indexFile: string): Promise<void> {
  const info = await stat(shard).catch(() => undefined);
  if (!info?.isFile()) {
    throw new UserError({
      kind: 'missing-file',
      message: `${basename(indexFile)} lists the shard ${basename(shard)}, which is missing from ${dirname(shard)}.`,
      file: shard,
      fix: 'Download every shard of the model (all files the index names).',
    });
  }
}

export function readShardedSafetensors(indexFile: string, options: ReadOptions = {}): Promise<WeightsRead> {
  return readSharded(indexFile, options, readSafetensors);
}

// ---------------------------------------------------------------------------------------------
// Writing

export type WriteDtype = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
}

export interface WriteOptions {
  metadata?: Record<string, string>;
  /** The dtype to store (default F32); F16 and BF16 round to nearest even. */
  dtype?: WriteDtype;
}

/**
 * Writes `tensors` as a safetensors file, atomically: into a temp file in the same folder, fsync,
 * then rename over `file`. If anything fails, the temp file is removed and `file` is untouched.
 */
export async function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, TensorToWrite>,
  options: WriteOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const names = sortedNames(tensors);
  const header = encodeHeader(names, tensors, dtype, options.metadata);
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(temp, 'wx');
  try {
    await fh.write(header);
    for (const name of names) await writeTensorData(fh, name, tensors.get(name)!, dtype);
    await fh.sync();
    await fh.close();
    await rename(temp, file);
  } catch (e) {
    await fh.close().catch(() => undefined); // already closed if the rename failed
    await rm(temp, { force: true });
    throw e;
  }
  await syncFolder(dirname(file));
}

/** The safetensors library stores tensors (of one dtype) in the byte order of their UTF-8 names. */
function sortedNames(tensors: ReadonlyMap<string, TensorToWrite>): string[] {
  return [...tensors.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function encodeHeader(
  names: string[],
  tensors: ReadonlyMap<string, TensorToWrite>,
  dtype: WriteDtype,
  metadata: Record<string, string> | undefined,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    if (name === '__metadata__') throw new Error('"__metadata__" cannot be a tensor name');
    if (data.length !== numelOf(shape)) throw new Error(`tensor ${name}: shape [${shape.join(', ')}] needs ${numelOf(shape)} values, data has ${data.length}`);
    const end = offset + data.length * DTYPE_SIZE[dtype];
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, ' ')]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([length, padded]);
}

async function writeTensorData(fh: FileHandle, name: string, tensor: TensorToWrite, dtype: WriteDtype): Promise<void> {
  const { data } = tensor;
  const CHUNK = 1 << 20; // elements converted at a time, so a huge tensor needs no huge buffer
  for (let start = 0; start < data.length; start += CHUNK) {
    await fh.write(encodeFloat32(data.subarray(start, start + CHUNK), dtype));
  }
}

function encodeFloat32(values: Float32Array, dtype: WriteDtype): Uint8Array {
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new DataView(new ArrayBuffer(values.length * DTYPE_SIZE[dtype]));
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'F32') out.setFloat32(i * 4, values[i], true);
    else out.setUint16(i * 2, dtype === 'F16' ? float32ToF16Bits(values[i]) : float32ToBf16Bits(values[i]), true);
  }
  return new Uint8Array(out.buffer);
}

/** Makes the rename itself durable; not possible (nor needed) on Windows. */
async function syncFolder(folder: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(folder, 'r');
    await fh.sync();
  } catch {
    // best effort
  } finally {
    await fh?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Number formats

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Converts `bytes` holding values of a float dtype to float32. */
export function decodeToFloat32(bytes: Uint8Array, dtype: Dtype, littleEndian: boolean): Float32Array {
  const size = DTYPE_SIZE[dtype];
  const count = bytes.length / size;
  const out = new Float32Array(count);
  if (dtype === 'F32' && littleEndian === LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, littleEndian);
  else if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, littleEndian);
  else if (dtype === 'F16') {
    const table = f16Table();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, littleEndian)];
  } else if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer); // bf16 is the top half of a float32: exact, NaN payloads kept
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, littleEndian) << 16;
  } else throw new Error(`decodeToFloat32: ${dtype} is not a float dtype`);
  return out;
}

let F16_TABLE: Float32Array | undefined;

/** All 65536 half floats as float32, built once (256 KB). */
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16BitsToFloat32(h);
  }
  return F16_TABLE;
}

export function f16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

export function bf16BitsToFloat32(b: number): number {
  SCRATCH_U32[0] = (b & 0xffff) << 16;
  return SCRATCH_F32[0];
}

const SCRATCH_F32 = new Float32Array(1);
const SCRATCH_U32 = new Uint32Array(SCRATCH_F32.buffer);

/** IEEE half precision, rounding to nearest even; overflow gives ±Infinity, NaN stays NaN. */
export function float32ToF16Bits(value: number): number {
  SCRATCH_F32[0] = value;
  const bits = SCRATCH_U32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent > 0) {
    // drop 13 mantissa bits; a carry out of the mantissa correctly bumps the exponent (up to Infinity)
    return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
  }
  // subnormal half (or zero): value = significand · 2^(exponent − 150) = m · 2^−24
  const shift = 126 - exponent;
  if (shift > 24) return sign;
  return sign | roundShift(mantissa | 0x800000, shift);
}

/** bfloat16 is float32 with the low 16 bits rounded off (to nearest even). */
export function float32ToBf16Bits(value: number): number {
  SCRATCH_F32[0] = value;
  const bits = SCRATCH_U32[0];
  if (Number.isNaN(value)) return (bits >>> 16) | 0x40; // keep it a (quiet) NaN
  return (roundShift(bits, 16) & 0xffff) >>> 0;
}

/** `value >> shift`, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = Math.floor(value / 2 ** shift);
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && kept % 2 === 1) ? kept + 1 : kept;
}

// ---------------------------------------------------------------------------------------------
// Errors and small checks

function truncated(file: string, message: string): UserError {
  return new UserError({ kind: 'truncated-weights', message, file, fix: 'The download was probably interrupted: download the model again.' });
}

function badWeights(file: string, message: string, fix = 'Download the model again, or re-save it with safetensors.torch.save_file.'): UserError {
  return new UserError({ kind: 'bad-weights', message, file, fix });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[\\/]/.test(name);
}
