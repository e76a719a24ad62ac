/**
 * One run per output folder. A run (fine-tuning, pre-training) holds `<out>/.bert-workbench.lock`
 * from before it reads anything until it ends; the file says who holds it: {pid, host, startedAt,
 * command}. A second run into the same folder, from this process or any other (the CLI, another
 * window's language server), gets one UserError naming the holder instead of racing it and dying on
 * a rename an epoch later.
 *
 * The file appears whole and atomically (written under a temporary name, then hard-linked to the
 * lock's name, which fails when it exists; `wx` where links are not supported). It is removed when
 * the run ends (`release`, in a finally), when the process exits (process.exit, a second Ctrl-C),
 * and on SIGINT/SIGTERM when nothing else handles them. A lock left by a process that died without
 * any of that (kill -9, a crash of the machine) is taken over when its pid is no longer alive on
 * this host; a lock from another host is never taken over, since its pid means nothing here.
 */
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors';

export const LOCK_FILE = '.bert-workbench.lock';

/** What the lock file holds. */
export interface LockInfo {
  pid: number;
  host: string;
  /** ISO 8601. */
  startedAt: string;
  /** The command line of the process that holds it. */
  command: string;
}

export interface OutputLock {
  /** The lock file. */
  readonly file: string;
  readonly info: LockInfo;
  /** The lock of a dead process that was taken over, if any. */
  readonly recovered?: LockInfo;
  /** Removes the lock file (once; later calls do nothing). */
  release(): void;
}

/** A lock being written by its holder at this moment may read as empty for so long. */
const UNREADABLE_GRACE_MS = 5_000;
/** A takeover that left its marker behind (its process died mid-way) is ignored after this long. */
const TAKEOVER_STALE_MS = 10_000;
const ATTEMPTS = 50;

/** Lock files held by this process, by path: released at exit and on signals. */
const held = new Map<string, LockInfo>();

/**
 * Takes the lock of `outDir` (which must exist) for this process, or throws a UserError
 * (`output-locked`) naming the run that holds it. Reusable by any entry point that writes a run
 * into a folder (fineTune, pre-training).
 */
export function acquireOutputLock(outDir: string, options: { command?: string } = {}): OutputLock {
  const file = resolve(outDir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: options.command ?? commandLine() };
  let recovered: LockInfo | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (create(file, info)) {
      hold(file, info);
      let released = false;
      return {
        file,
        info,
        recovered,
        release: () => {
          if (released) return;
          released = true;
          releaseFile(file, info);
        },
      };
    }
    const holder = readLock(file);
    if (holder === 'gone') continue; // released between our attempt and the read: try again
    if (holder === 'unreadable') {
      if (ageMs(file) < UNREADABLE_GRACE_MS) throw inUse(outDir, file, undefined);
      if (takeOver(file, undefined)) continue;
      sleep(20);
      continue;
    }
    if (!isStale(file, holder)) throw inUse(outDir, file, holder);
    if (takeOver(file, holder)) recovered = holder;
    else sleep(20); // someone else is taking it over; see who wins
  }
  throw inUse(outDir, file, readLockInfo(file));
}

/** Creates the lock file with `info`, atomically; false when it exists. */
function create(file: string, info: LockInfo): boolean {
  const content = `${JSON.stringify(info)}\n`;
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { flag: 'wx' });
  try {
    linkSync(temp, file);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS'].includes((e as { code?: string }).code ?? '')) throw e;
    return createExclusive(file, content); // a file system without hard links
  } finally {
    unlinkSync(temp);
  }
}

function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readLock(file: string): LockInfo | 'gone' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info.pid === 'number' && typeof info.host === 'string' ? info : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function readLockInfo(file: string): LockInfo | undefined {
  const info = readLock(file);
  return typeof info === 'object' ? info : undefined;
}

/**
 * A lock is stale when its process is gone: the pid is not alive on this host, or it is this
 * process's pid but this process does not hold it (a process before us had the same pid).
 */
function isStale(file: string, holder: LockInfo): boolean {
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return !held.has(file);
  return !isAlive(holder.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * Removes a stale lock, unless another process is taking it over at the same moment: a marker file
 * created with `wx` decides who may, and the lock is removed only if it still is the stale one.
 */
function takeOver(file: string, stale: LockInfo | undefined): boolean {
  const marker = `${file}.takeover`;
  try {
    closeSync(openSync(marker, 'wx'));
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    if (ageMs(marker) > TAKEOVER_STALE_MS) removeFile(marker);
    return false;
  }
  try {
    const now = readLock(file);
    const same = stale === undefined ? now === 'unreadable' : typeof now === 'object' && now.pid === stale.pid && now.host === stale.host && now.startedAt === stale.startedAt;
    if (same) removeFile(file);
    return same || now === 'gone';
  } finally {
    removeFile(marker);
  }
}

function inUse(outDir: string, file: string, holder: LockInfo | undefined): UserError {
  const who = holder ? ` (pid ${holder.pid} on host ${holder.host}, started ${holder.startedAt}${holder.command ? `: ${holder.command}` : ''})` : '';
  return new UserError({
    kind: 'output-locked',
    message: `The output folder ${outDir} is in use by another training run${who}.`,
    fix: `Wait for that run to end or stop it, or choose another output folder (--out). If no run is using the folder any more, delete ${file}.`,
  });
}

// ---- releasing ------------------------------------------------------------------------------

function releaseFile(file: string, info: LockInfo): void {
  held.delete(file);
  if (held.size === 0) unwatchProcess();
  const now = readLock(file);
  // Only our own lock: a folder whose lock was deleted by hand may hold another run's by now.
  if (typeof now === 'object' && now.pid === info.pid && now.host === info.host && now.startedAt === info.startedAt) removeFile(file);
}

function hold(file: string, info: LockInfo): void {
  held.set(file, info);
  if (held.size === 1) watchProcess();
}

function releaseAll(): void {
  for (const [file, info] of [...held]) releaseFile(file, info);
}

/** SIGINT and SIGTERM end the process unless someone handles them: then the locks go first. */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // handled elsewhere (the CLI's Ctrl-C stops the run); exit releases
  releaseAll();
  unwatchProcess();
  process.kill(process.pid, signal); // as if we had not been listening: the default action
}

const onSigint = () => onSignal('SIGINT');
const onSigterm = () => onSignal('SIGTERM');

function watchProcess(): void {
  process.on('exit', releaseAll);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
}

function unwatchProcess(): void {
  process.removeListener('exit', releaseAll);
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
}

// ---- small things ---------------------------------------------------------------------------

function commandLine(): string {
  const [node, script, ...args] = process.argv;
  const line = [basename(node), script ? basename(script) : '', ...args].filter(Boolean).join(' ');
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
