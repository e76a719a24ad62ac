/**
 * Checking where a run will write before anything slow happens: the output folder must be a folder
 * (or creatable as one), really writable (a probe file is created and removed: permissions alone do
 * not tell, e.g. for root or on a read-only mount), and have room for a checkpoint of the model.
 * Each problem is one UserError that names the folder (in its message: no `file`, so that no
 * diagnostic lands on a file that is merely in the way) and the fix, instead of a raw ENOENT or
 * ENOSPC from the first checkpoint, an epoch later. The same mapping turns a disk that fills up
 * or a folder that goes away during the run into such an error.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors';
import { WEIGHTS_FILES } from '../checkpoint/weights-file';
import { acquireOutputLock, type OutputLock } from './output-lock';

const CHOOSE_ANOTHER = 'Choose another output folder (--out)';
/** What a saved model folder holds besides the weights. */
const SMALL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

export interface OutputFolder {
  /** The first folder this check created (the top of what `mkdir -p` made), if any. */
  created?: string;
}

export interface OpenOutputFolder {
  readonly lock: OutputLock;
  /** Releases the lock, and removes the folder again when the run left it empty. */
  close(): void;
}

/**
 * What a run does first with its output folder: checks that it can write there (creating it) and
 * takes its lock. `close` in a finally undoes both.
 */
export function openOutputFolder(outDir: string): OpenOutputFolder {
  const folder = checkOutputWritable(outDir);
  let lock: OutputLock;
  try {
    lock = acquireOutputLock(outDir);
  } catch (e) {
    removeCreated(folder, outDir);
    throw outputError(e, outDir) ?? e;
  }
  return {
    lock,
    close: () => {
      lock.release();
      removeCreated(folder, outDir);
    },
  };
}

/**
 * Makes sure `outDir` is a folder this process can write into, creating it (and its parents) when
 * missing. Throws a UserError saying why not: a file in the way, a read-only file system, no
 * permission, a full disk, or a place where no folder can be made (/proc, …).
 */
export function checkOutputWritable(outDir: string): OutputFolder {
  const inTheWay = fileInTheWay(outDir);
  if (inTheWay !== undefined) {
    throw new UserError({
      kind: 'output-unwritable',
      message: inTheWay === resolve(outDir) ? `The output folder ${outDir} is a file, not a folder.` : `The output folder ${outDir} cannot be created: ${inTheWay} is a file, not a folder.`,
      fix: `${CHOOSE_ANOTHER}, or move the file away.`,
    });
  }
  let created: string | undefined;
  try {
    created = makeFolders(outDir);
  } catch (e) {
    throw outputError(e, outDir, 'create') ?? e;
  }
  const probe = join(outDir, `.bert-workbench-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(probe, 'wx');
    try {
      writeSync(fd, 'probe');
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (e) {
    try {
      unlinkSync(probe);
    } catch {
      // it was never made
    }
    removeCreated({ created }, outDir);
    throw outputError(e, outDir, 'write') ?? e;
  }
  return { created };
}

/**
 * `mkdir -p`, one level at a time: Node's own recursive mkdirSync never returns where mkdir fails
 * with ENOENT under an existing folder (/proc/x/y spins forever on Node 20). Returns the first
 * folder created, if any.
 */
function makeFolders(dir: string): string | undefined {
  const missing: string[] = [];
  for (let path = resolve(dir); !existsSync(path); path = dirname(path)) {
    missing.unshift(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e; // made meanwhile by someone else: fine
    }
  }
  return missing[0];
}

/** Removes the folders `checkOutputWritable` created, as long as they are still empty. */
export function removeCreated(folder: OutputFolder, outDir: string): void {
  if (!folder.created) return;
  const top = resolve(folder.created);
  for (let dir = resolve(outDir); ; dir = dirname(dir)) {
    try {
      if (readdirSync(dir).length > 0) return;
      rmdirSync(dir);
    } catch {
      return;
    }
    if (dir === top || dirname(dir) === dir) return;
  }
}

/**
 * Bytes a run needs in its output folder, at least: one checkpoint's weights in float32 and
 * AdamW's two moments (3× the weights), plus the saved model folder (the weights again, the config
 * and the tokenizer files).
 */
export function checkpointBytes(modelDir: string): number {
  const weights = weightsBytes(modelDir) * (halfPrecision(modelDir) ? 2 : 1); // saved as float32
  const small = SMALL_FILES.reduce((n, name) => n + sizeOf(join(modelDir, name)), 0);
  return 3 * weights + weights + small;
}

/** The weights the loader reads (the first of WEIGHTS_FILES there; every shard of a sharded one). */
function weightsBytes(modelDir: string): number {
  const found = WEIGHTS_FILES.find((name) => existsSync(join(modelDir, name)));
  if (!found) return 0;
  if (!found.endsWith('.index.json')) return sizeOf(join(modelDir, found));
  try {
    const index = JSON.parse(readFileSync(join(modelDir, found), 'utf8')) as { weight_map?: Record<string, string> };
    return [...new Set(Object.values(index.weight_map ?? {}))].reduce((n, shard) => n + sizeOf(join(modelDir, shard)), 0);
  } catch {
    return 0; // the loader says what is wrong with it
  }
}

function sizeOf(file: string): number {
  return statSync(file, { throwIfNoEntry: false })?.size ?? 0;
}

/** Whether config.json says the weights are stored in 16 bits. */
function halfPrecision(modelDir: string): boolean {
  try {
    const dtype = (JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { torch_dtype?: unknown }).torch_dtype;
    return dtype === 'float16' || dtype === 'bfloat16';
  } catch {
    return false;
  }
}

/** Free bytes for this user on the file system of `dir`. */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Throws a UserError when the output folder has no room for a checkpoint of the model in `modelDir`. */
export function checkFreeSpace(outDir: string, modelDir: string, free = freeBytes(outDir)): void {
  const needed = checkpointBytes(modelDir);
  if (free >= needed) return;
  throw new UserError({
    kind: 'disk-full',
    message: `The output folder ${outDir} has ${megabytes(free)} free, but a checkpoint of this model and the saved model need at least ${megabytes(needed)}.`,
    fix: `Free some space there, or ${CHOOSE_ANOTHER.toLowerCase()} on a disk with more room.`,
  });
}

/**
 * The UserError for a file-system error about the output folder (or undefined when `e` is not
 * one): read-only, no permission, full, a file in the way, the folder gone.
 */
export function outputError(e: unknown, outDir: string, doing: 'create' | 'write' = 'write'): UserError | undefined {
  const { code, path } = (e ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code !== 'string') return undefined;
  // A write without a path (fs.writeSync) that found the disk full: the run writes only there.
  const within = typeof path === 'string' ? isWithin(path, outDir) : code === 'ENOSPC' || code === 'EDQUOT';
  if (!within) return undefined;
  const cannot = doing === 'create' ? `The output folder ${outDir} cannot be created` : `The output folder ${outDir} cannot be written`;
  const unwritable = (why: string, fix: string) => new UserError({ kind: 'output-unwritable', message: `${cannot}: ${why}.`, fix });
  switch (code) {
    case 'EROFS':
      return unwritable('it is on a read-only file system', `${CHOOSE_ANOTHER} on a writable disk.`);
    case 'EACCES':
    case 'EPERM':
      return unwritable(`permission denied (${code}); it is read-only for this user`, `${CHOOSE_ANOTHER}, or make it writable (chmod u+w).`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new UserError({
        kind: 'disk-full',
        message: `${cannot}: no space left on the disk${code === 'EDQUOT' ? ' (quota exceeded)' : ''}.`,
        fix: `Free some space there, or ${CHOOSE_ANOTHER.toLowerCase()} on a disk with more room.`,
      });
    case 'ENOTDIR': {
      const file = fileInTheWay(outDir);
      return unwritable(file ? `${file} is a file, not a folder` : 'part of its path is a file, not a folder', `${CHOOSE_ANOTHER}, or move the file away.`);
    }
    case 'ENOENT':
      // mkdir -p only fails so where no folder can be made (/proc, /sys); during a run, the folder was removed.
      if (doing === 'write' && existsSync(outDir)) return undefined;
      return unwritable(doing === 'create' ? `no folder can be made there (${code})` : 'it was removed during the run', `${CHOOSE_ANOTHER}.`);
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return unwritable(`its path is not usable (${code})`, `${CHOOSE_ANOTHER}.`);
    default:
      return undefined;
  }
}

/** The path itself or the nearest ancestor that exists as something other than a folder. */
function fileInTheWay(outDir: string): string | undefined {
  for (let path = resolve(outDir); ; path = dirname(path)) {
    try {
      return statSync(path).isDirectory() ? undefined : path;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(path) === path) return undefined;
    }
  }
}

/** Whether `path` is `dir`, inside it, or one of its parents (mkdir -p fails on those). */
function isWithin(path: string, dir: string): boolean {
  const inside = (from: string, to: string) => {
    const rel = relative(from, to);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  return inside(dir, path) || inside(path, dir);
}

function megabytes(bytes: number): string {
  return bytes >= 10 * 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : `${Math.ceil(bytes / 1024 ** 2)} MB`;
}
