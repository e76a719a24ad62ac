/**
 * A pickle reader for PyTorch checkpoints, hand-written on purpose: no safe, well-kept JavaScript
 * pickle reader exists, and a general one would be the wrong tool anyway. A pickle is a program;
 * this reader runs only the part of the language that `torch.save(state_dict)` emits and refuses
 * everything else. Nothing in a checkpoint is ever executed: "calling" an allowed global only
 * builds a plain JS description (a Map for an OrderedDict, a `TorchTensor` record for
 * `_rebuild_tensor_v2`, ...).
 *
 * Accepted (protocols 2 to 5, binary opcodes only):
 * - PROTO, FRAME, STOP, MARK, POP, POP_MARK, DUP
 * - None, True/False, BININT/BININT1/BININT2, LONG1/LONG4, BINFLOAT, unicode strings, byte strings
 * - EMPTY_DICT/DICT/SETITEM/SETITEMS, EMPTY_LIST/LIST/APPEND/APPENDS, tuples (TUPLE, TUPLE1-3, EMPTY_TUPLE)
 * - memo: BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET
 * - GLOBAL and STACK_GLOBAL, for the names in ALLOWED_GLOBALS only; REDUCE on those; BUILD
 * - BINPERSID, for torch's `('storage', storage_type, key, location, numel[, view_metadata])`
 * Any other opcode or global is refused with a UserError of kind 'unsafe-pickle'.
 */
import { basename } from 'node:path';
import { UserError } from '../errors';
import type { Dtype } from './safetensors';

// ---------------------------------------------------------------------------------------------
// Values

/** A pickled `torch.XxxStorage` class or `torch.float32`-style dtype, as data. */
export interface TorchDtypeRef {
  kind: 'dtype';
  dtype: Dtype;
}

/** A persistent id naming a storage: its element type, its key (zip: `data/<key>`) and size. */
export interface TorchStorage {
  kind: 'storage';
  dtype: Dtype;
  key: string;
  /** Elements in the whole storage `key`. */
  numel: number;
  /** Legacy format only: the storage is the slice [offset, offset + numel) of storage `key`, in elements. */
  view?: { offset: number; numel: number };
}

/** What `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)` would build. */
export interface TorchTensor {
  kind: 'tensor';
  storage: TorchStorage;
  /** In elements, relative to the storage (or its view). */
  storageOffset: number;
  shape: number[];
  stride: number[];
}

/** A global that was allowed but not yet called. */
interface GlobalRef {
  kind: 'global';
  name: string;
}

/** Pickle lists are mutable arrays; tuples are frozen arrays. Dicts and OrderedDicts are Maps. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | TorchDtypeRef
  | TorchStorage
  | TorchTensor
  | GlobalRef;

export interface UnpickleOptions {
  /** The checkpoint file, for error messages. */
  file: string;
  /** Which pickle inside the file, for error messages (e.g. "data.pkl"). */
  part?: string;
  /** Where the pickle starts in `bytes` (the legacy format holds several in a row). */
  start?: number;
  /** Called for BINPERSID; without it, persistent ids are refused. */
  persistentLoad?: (pid: PickleValue, offset: number) => PickleValue;
}

export function isTorchTensor(value: PickleValue): value is TorchTensor {
  return isObjectOfKind(value, 'tensor');
}

// ---------------------------------------------------------------------------------------------
// Allowed globals

const STORAGE_TYPES: Record<string, Dtype> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8',
  BoolStorage: 'BOOL', ComplexFloatStorage: 'C64', ComplexDoubleStorage: 'C128', UntypedStorage: 'U8',
};

const DTYPE_OBJECTS: Record<string, Dtype> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32',
  int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL', complex64: 'C64', complex128: 'C128',
};

type Call = (args: PickleValue[], at: Reader) => PickleValue;

/** Globals a state_dict can contain, and what "calling" each one builds. */
const ALLOWED_GLOBALS: Map<string, Call | TorchDtypeRef> = new Map<string, Call | TorchDtypeRef>([
  ['collections.OrderedDict', newOrderedDict],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_tensor', rebuildTensor],
  ['torch._utils._rebuild_parameter', rebuildParameter],
  ['torch._utils._rebuild_parameter_with_state', rebuildParameter],
  ...Object.entries(STORAGE_TYPES).map(([name, dtype]) => [`torch.${name}`, { kind: 'dtype', dtype }] as const),
  ['torch.storage.UntypedStorage', { kind: 'dtype', dtype: 'U8' }],
  ...Object.entries(DTYPE_OBJECTS).map(([name, dtype]) => [`torch.${name}`, { kind: 'dtype', dtype }] as const),
]);

function newOrderedDict(args: PickleValue[], at: Reader): PickleValue {
  // protocol 2 pickles an OrderedDict as OrderedDict() followed by SETITEMS
  if (args.length !== 0) throw at.malformed('OrderedDict called with arguments');
  return new Map();
}

function rebuildTensor(args: PickleValue[], at: Reader): PickleValue {
  const [storage, storageOffset, size, stride] = args;
  if (!isObjectOfKind(storage, 'storage')) throw at.malformed('a tensor without a storage');
  if (!isCount(storageOffset) || !isCountTuple(size) || !isCountTuple(stride) || size.length !== stride.length) {
    throw at.malformed('a tensor with a bad offset, size or stride');
  }
  return { kind: 'tensor', storage, storageOffset, shape: [...size], stride: [...stride] };
}

function rebuildParameter(args: PickleValue[], at: Reader): PickleValue {
  if (!isObjectOfKind(args[0], 'tensor')) throw at.malformed('a Parameter without a tensor');
  return args[0];
}

/** Torch's persistent id for a storage, in both checkpoint formats. */
export function torchStorageFromPersistentId(pid: PickleValue, at: { file: string; offset: number }): TorchStorage {
  const malformed = () => new UserError({
    kind: 'bad-weights',
    message: `${basename(at.file)}: the persistent id at byte ${at.offset} is not a torch storage reference.`,
    file: at.file,
    fix: 'Download the checkpoint again, or re-save it with torch.save(model.state_dict()).',
  });
  if (!Array.isArray(pid) || pid[0] !== 'storage') throw malformed();
  const [, type, key, , numel, viewMetadata] = pid;
  if (!isObjectOfKind(type, 'dtype') || typeof key !== 'string' || !isCount(numel)) throw malformed();
  const storage: TorchStorage = { kind: 'storage', dtype: type.dtype, key, numel };
  if (viewMetadata !== undefined && viewMetadata !== null) {
    const [, offset, size] = Array.isArray(viewMetadata) ? viewMetadata : [];
    if (!isCount(offset) || !isCount(size) || offset + size > numel) throw malformed();
    storage.view = { offset, numel: size };
  }
  return storage;
}

// ---------------------------------------------------------------------------------------------
// The machine

/** Returns the pickled value and the offset just after its STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): { value: PickleValue; end: number } {
  const r = new Reader(bytes, options);
  const machine = new Machine(r, options);
  for (;;) {
    const opcodeOffset = r.pos;
    const op = r.byte();
    if (op === STOP) return { value: machine.finish(), end: r.pos };
    const handler = OPCODES[op];
    if (!handler) throw r.unsafe(`the opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opcodeOffset}`);
    handler(machine, r);
  }
}

const STOP = 0x2e; // '.'

class Machine {
  stack: PickleValue[] = [];
  private marks: PickleValue[][] = [];
  memo = new Map<number, PickleValue>();

  constructor(
    readonly r: Reader,
    readonly options: UnpickleOptions,
  ) {}

  push(value: PickleValue): void {
    this.stack.push(value);
  }

  pop(): PickleValue {
    if (this.stack.length === 0) throw this.r.malformed('the stack is empty');
    return this.stack.pop()!;
  }

  top(): PickleValue {
    if (this.stack.length === 0) throw this.r.malformed('the stack is empty');
    return this.stack[this.stack.length - 1];
  }

  mark(): void {
    this.marks.push(this.stack);
    this.stack = [];
  }

  /** The items pushed since the last MARK, removing the mark. */
  popMark(): PickleValue[] {
    const items = this.stack;
    const below = this.marks.pop();
    if (!below) throw this.r.malformed('no MARK before this opcode');
    this.stack = below;
    return items;
  }

  memoGet(index: number): void {
    if (!this.memo.has(index)) throw this.r.malformed(`memo entry ${index} was never stored`);
    this.push(this.memo.get(index)!);
  }

  global(module: string, name: string): void {
    const qualified = `${module}.${name}`;
    const allowed = ALLOWED_GLOBALS.get(qualified);
    if (!allowed) throw this.r.unsafe(`the Python global ${qualified}`);
    this.push(typeof allowed === 'function' ? { kind: 'global', name: qualified } : allowed);
  }

  reduce(): void {
    const args = this.pop();
    const callable = this.pop();
    if (!isObjectOfKind(callable, 'global')) throw this.r.unsafe(`a call to something other than an allowed function`);
    if (!Array.isArray(args)) throw this.r.malformed('REDUCE without an argument tuple');
    this.push((ALLOWED_GLOBALS.get(callable.name) as Call)(args, this.r));
  }

  persistentLoad(offset: number): void {
    const pid = this.pop();
    if (!this.options.persistentLoad) throw this.r.unsafe(`a persistent id (BINPERSID)`);
    this.push(this.options.persistentLoad(pid, offset));
  }

  finish(): PickleValue {
    if (this.stack.length !== 1 || this.marks.length !== 0) throw this.r.malformed('STOP with a stack that does not hold exactly one value');
    return this.stack[0];
  }
}

type Opcode = (m: Machine, r: Reader) => void;

const char = (c: string) => c.charCodeAt(0);

const OPCODES: Record<number, Opcode> = {
  0x80: (m, r) => checkProtocol(r.byte(), r), // PROTO
  0x95: (m, r) => void r.uint64(), // FRAME: a length hint, nothing to do
  [char('(')]: (m) => m.mark(), // MARK
  [char('0')]: (m) => void m.pop(), // POP
  [char('1')]: (m) => void m.popMark(), // POP_MARK
  [char('2')]: (m) => m.push(m.top()), // DUP

  [char('N')]: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  [char('J')]: (m, r) => m.push(r.int32()), // BININT
  [char('K')]: (m, r) => m.push(r.byte()), // BININT1
  [char('M')]: (m, r) => m.push(r.uint16()), // BININT2
  0x8a: (m, r) => m.push(r.long(r.byte())), // LONG1
  0x8b: (m, r) => m.push(r.long(r.uint32())), // LONG4
  [char('G')]: (m, r) => m.push(r.float64BigEndian()), // BINFLOAT

  [char('X')]: (m, r) => m.push(r.utf8(r.uint32())), // BINUNICODE
  0x8c: (m, r) => m.push(r.utf8(r.byte())), // SHORT_BINUNICODE
  0x8d: (m, r) => m.push(r.utf8(r.uint64())), // BINUNICODE8
  [char('U')]: (m, r) => m.push(r.latin1(r.byte())), // SHORT_BINSTRING (Python 2 str)
  [char('T')]: (m, r) => m.push(r.latin1(r.uint32())), // BINSTRING
  [char('C')]: (m, r) => m.push(r.bytes(r.byte()).slice()), // SHORT_BINBYTES
  [char('B')]: (m, r) => m.push(r.bytes(r.uint32()).slice()), // BINBYTES
  0x8e: (m, r) => m.push(r.bytes(r.uint64()).slice()), // BINBYTES8

  [char(')')]: (m) => m.push(tuple([])), // EMPTY_TUPLE
  [char('t')]: (m) => m.push(tuple(m.popMark())), // TUPLE
  0x85: (m) => m.push(tuple([m.pop()])), // TUPLE1
  0x86: (m) => tupleOf(m, 2), // TUPLE2
  0x87: (m) => tupleOf(m, 3), // TUPLE3
  [char(']')]: (m) => m.push([]), // EMPTY_LIST
  [char('l')]: (m) => m.push(m.popMark()), // LIST
  [char('a')]: (m) => appendTo(m, [m.pop()]), // APPEND
  [char('e')]: (m) => appendTo(m, m.popMark()), // APPENDS
  [char('}')]: (m) => m.push(new Map()), // EMPTY_DICT
  [char('d')]: (m) => m.push(dictOf(m, m.popMark())), // DICT
  [char('s')]: (m) => setItems(m, [m.pop(), m.pop()].reverse()), // SETITEM
  [char('u')]: (m) => setItems(m, m.popMark()), // SETITEMS

  [char('q')]: (m, r) => void m.memo.set(r.byte(), m.top()), // BINPUT
  [char('r')]: (m, r) => void m.memo.set(r.uint32(), m.top()), // LONG_BINPUT
  0x94: (m) => void m.memo.set(m.memo.size, m.top()), // MEMOIZE
  [char('h')]: (m, r) => m.memoGet(r.byte()), // BINGET
  [char('j')]: (m, r) => m.memoGet(r.uint32()), // LONG_BINGET

  [char('c')]: (m, r) => m.global(r.line(), r.line()), // GLOBAL: "module\nname\n"
  0x93: (m) => stackGlobal(m), // STACK_GLOBAL
  [char('R')]: (m) => m.reduce(), // REDUCE
  [char('b')]: (m) => void m.pop(), // BUILD: the state of an OrderedDict or Parameter; dropping it loses no weights
  [char('Q')]: (m, r) => m.persistentLoad(r.pos - 1), // BINPERSID
};

function checkProtocol(protocol: number, r: Reader): void {
  if (protocol < 2 || protocol > 5) throw r.malformed(`pickle protocol ${protocol} (only 2 to 5 are read)`);
}

function tupleOf(m: Machine, n: number): void {
  m.push(tuple(Array.from({ length: n }, () => m.pop()).reverse()));
}

/** Tuples are frozen so that APPEND can tell them from lists. */
function tuple(items: PickleValue[]): PickleValue {
  return Object.freeze(items) as PickleValue[];
}

function appendTo(m: Machine, items: PickleValue[]): void {
  const list = m.top();
  if (!Array.isArray(list) || Object.isFrozen(list)) throw m.r.malformed('APPEND to something that is not a list');
  for (const item of items) list.push(item); // not push(...items): a long MARK run would overflow the call stack
}

function dictOf(m: Machine, items: PickleValue[]): Map<PickleValue, PickleValue> {
  const dict = new Map<PickleValue, PickleValue>();
  if (items.length % 2 !== 0) throw m.r.malformed('a dict with an odd number of items');
  for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  return dict;
}

function setItems(m: Machine, items: PickleValue[]): void {
  const dict = m.top();
  if (!(dict instanceof Map)) throw m.r.malformed('SETITEM on something that is not a dict');
  for (const [key, value] of dictOf(m, items)) dict.set(key, value);
}

function stackGlobal(m: Machine): void {
  const name = m.pop();
  const module = m.pop();
  if (typeof module !== 'string' || typeof name !== 'string') throw m.r.malformed('STACK_GLOBAL without two strings');
  m.global(module, name);
}

// ---------------------------------------------------------------------------------------------
// Bytes

class Reader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    readonly options: UnpickleOptions,
  ) {
    this.pos = options.start ?? 0;
  }

  private take(n: number): number {
    const at = this.pos;
    if (!Number.isSafeInteger(n) || at + n > this.buf.length) {
      throw new UserError({
        kind: 'truncated-weights',
        message: `${this.where()} is cut short: the pickle needs ${n} more bytes at byte ${at} but only ${this.buf.length - at} are left.`,
        file: this.options.file,
        fix: 'The download was probably interrupted: download the model again.',
      });
    }
    this.pos += n;
    return at;
  }

  byte(): number {
    return this.buf[this.take(1)];
  }

  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }

  private view(n: number): DataView {
    const at = this.take(n);
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, n);
  }

  uint16(): number {
    return this.view(2).getUint16(0, true);
  }

  uint32(): number {
    return this.view(4).getUint32(0, true);
  }

  int32(): number {
    return this.view(4).getInt32(0, true);
  }

  uint64(): number {
    const value = this.view(8).getBigUint64(0, true);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value); // Infinity fails take()
  }

  float64BigEndian(): number {
    return this.view(8).getFloat64(0, false);
  }

  /** A little-endian two's-complement integer of n bytes; a bigint if it does not fit a double exactly. */
  long(n: number): number | bigint {
    const b = this.bytes(n);
    if (n === 0) return 0;
    let value = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`); // linear, unlike shifting byte by byte
    if (b[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  utf8(n: number): string {
    return new TextDecoder('utf-8').decode(this.bytes(n));
  }

  latin1(n: number): string {
    return Buffer.from(this.bytes(n)).toString('latin1');
  }

  /** A newline-terminated ASCII argument (GLOBAL's module and name). */
  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.take(this.buf.length - this.pos + 1); // throws: truncated
    const text = Buffer.from(this.bytes(end - this.pos)).toString('latin1');
    this.take(1);
    return text;
  }

  private where(): string {
    const name = basename(this.options.file);
    return this.options.part ? `${name} (${this.options.part})` : name;
  }

  unsafe(what: string): UserError {
    return new UserError({
      kind: 'unsafe-pickle',
      message: `${this.where()} asks for ${what}, which a PyTorch state_dict never contains; it was refused and nothing in the file was run.`,
      file: this.options.file,
      fix: 'Use the model\'s model.safetensors instead, or re-save the weights from a source you trust with torch.save(model.state_dict()).',
    });
  }

  malformed(what: string): UserError {
    return new UserError({
      kind: 'bad-weights',
      message: `${this.where()} is not a PyTorch state_dict pickle: ${what} (near byte ${this.pos}).`,
      file: this.options.file,
      fix: 'Download the checkpoint again, or re-save it with torch.save(model.state_dict()).',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Small checks

function isObjectOfKind<K extends 'storage' | 'tensor' | 'dtype' | 'global'>(
  value: PickleValue | undefined,
  kind: K,
): value is Extract<PickleValue, { kind: K }> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Uint8Array) && value.kind === kind;
}

function isCount(value: PickleValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCountTuple(value: PickleValue | undefined): value is number[] {
  return Array.isArray(value) && value.every(isCount);
}
