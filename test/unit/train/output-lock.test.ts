/**
 * One run per output folder: a run holds `<out>/.bert-workbench.lock` ({pid, host, startedAt,
 * command}) from before it reads anything until it ends, and a second run into the same folder (the
 * CLI, the language server of another window, or a second call in the same process) gets one
 * UserError naming the holder. The lock goes at the end, on Ctrl-C and on SIGTERM; one left by a
 * process that died (kill -9) is taken over when its pid is no longer alive on this host.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../../../src/server/engine/backend';
import { fineTune, type FineTuneRequest } from '../../../src/server/engine/fine-tune';
import { TrainingRuns } from '../../../src/server/training/runs';
import { acquireOutputLock, LOCK_FILE } from '../../../src/server/engine/train/output-lock';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');
const SST2 = join(FIXTURES, 'datasets', 'sst2');
const LOCK = '.bert-workbench.lock';
const IN_USE = /is in use by another training run \(pid (\d+) on host ([^,]+), started ([^)]+)\)/;
const scratch = mkdtempSync(join(tmpdir(), 'output-lock-'));
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});
before(() => initBackend('wasm'));

const request = (outDir: string, extra: Partial<FineTuneRequest> = {}): FineTuneRequest => ({
  data: SST2,
  model: TINY_BERT,
  outDir,
  settings: { maxSteps: 2, batchSize: 8, maxLength: 32 },
  ...extra,
});

/** A lock file as another process would have left it. */
function writeLock(outDir: string, pid: number, host = hostname()): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, LOCK), JSON.stringify({ pid, host, startedAt: '2025-01-01T00:00:00.000Z', command: 'bert-workbench train' }));
}

/** A live process that is not this one: it sleeps until killed. */
function sleeper(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
}

async function waitFor(what: string, condition: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('two runs into one folder at the same time: exactly one lock error, the other finishes', async () => {
  const outDir = join(scratch, 'shared');
  const results = await Promise.allSettled([fineTune(request(outDir)), fineTune(request(outDir))]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  const done = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof fineTune>>> => r.status === 'fulfilled');
  assert.equal(failed.length, 1, `one run refused: ${failed.map((f) => f.reason?.stack).join('\n')}`);
  const error = failed[0].reason;
  assert.equal(error.name, 'UserError', error.stack);
  assert.equal(error.kind, 'output-locked');
  const [, pid, host] = IN_USE.exec(error.message) ?? assert.fail(error.message);
  assert.equal(Number(pid), process.pid);
  assert.equal(host, hostname());
  assert.match(error.fix, /another output folder/);
  assert.equal(done.length, 1);
  assert.equal(done[0].value.status, 'completed');
  assert.ok(existsSync(join(outDir, 'model.safetensors')));
  assert.equal(existsSync(join(outDir, LOCK)), false, 'the lock is released at the end');
});

test('a folder locked by a live process on this host is refused; after that process is killed -9 it is taken over', async () => {
  const outDir = join(scratch, 'held');
  const holder = sleeper();
  writeLock(outDir, holder.pid!);
  await assert.rejects(fineTune(request(outDir)), (e: any) => {
    assert.equal(e.kind, 'output-locked', e.stack);
    assert.equal(Number(IN_USE.exec(e.message)?.[1]), holder.pid);
    assert.match(e.message, /started 2025-01-01T00:00:00\.000Z/);
    return true;
  });
  assert.equal(JSON.parse(readFileSync(join(outDir, LOCK), 'utf8')).pid, holder.pid, "the other run's lock is left alone");
  holder.kill('SIGKILL');
  await exited(holder);
  const result = await fineTune(request(outDir));
  assert.equal(result.status, 'completed');
  assert.equal(existsSync(join(outDir, LOCK)), false);
});

test('a lock left by a pid that is no longer alive is recovered', async () => {
  const outDir = join(scratch, 'stale');
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  writeLock(outDir, gone);
  const result = await fineTune(request(outDir));
  assert.equal(result.status, 'completed');
  assert.equal(existsSync(join(outDir, LOCK)), false);
});

test('a lock from another host is never taken over: its pid means nothing here', async () => {
  const outDir = join(scratch, 'other-host');
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  writeLock(outDir, gone, 'build-server-7');
  await assert.rejects(fineTune(request(outDir)), (e: any) => {
    assert.equal(e.kind, 'output-locked', e.stack);
    assert.equal(IN_USE.exec(e.message)?.[2], 'build-server-7');
    assert.match(e.fix, new RegExp(`delete .*${LOCK.replace('.', '\\.')}`));
    return true;
  });
});

test('the language server reports a locked folder to the extension as the run\'s error, with the fix', async () => {
  const outDir = join(scratch, 'server');
  const holder = sleeper(); // another window's language server, say
  writeLock(outDir, holder.pid!);
  const runs = new TrainingRuns({ notify: () => {}, fineTune });
  const started = runs.start({ title: 'second window', request: request(outDir) });
  await waitFor('the run to end', () => runs.activeRun === undefined);
  const run = runs.history(started.id)!.run;
  assert.equal(run.status, 'failed');
  assert.equal(run.error?.kind, 'output-locked');
  assert.equal(Number(IN_USE.exec(run.error!.message)?.[1]), holder.pid);
  assert.ok(run.error?.fix);
  holder.kill('SIGKILL');
});

/** `train` from the built CLI for many epochs, so that it is still running when signalled. */
function longCliRun(outDir: string): ChildProcess {
  const args = [CLI, 'train', '--data', SST2, '--model', 'builtin:tiny-bert', '--out', outDir, '--epochs', '1000', '--patience', '0', '--batch-size', '8', '--max-length', '16', '--workers', '1', '--json'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

const noCli = !existsSync(CLI) && 'needs npm run build';

test('the CLI releases the lock on SIGTERM', { skip: noCli }, async () => {
  const outDir = join(scratch, 'cli-term');
  const child = longCliRun(outDir);
  await waitFor('the lock file', () => existsSync(join(outDir, LOCK)));
  assert.equal(JSON.parse(readFileSync(join(outDir, LOCK), 'utf8')).pid, child.pid);
  child.kill('SIGTERM');
  const { signal } = await exited(child);
  assert.equal(signal, 'SIGTERM', 'it still ends as a SIGTERM does');
  assert.equal(existsSync(join(outDir, LOCK)), false);
});

test('the CLI releases the lock on Ctrl-C, and on a second Ctrl-C that quits at once', { skip: noCli }, async () => {
  const graceful = join(scratch, 'cli-int');
  const child = longCliRun(graceful);
  await waitFor('the lock file', () => existsSync(join(graceful, LOCK)));
  child.kill('SIGINT');
  assert.equal((await exited(child)).code, 0, 'stopped after the step, checkpoint saved');
  assert.equal(existsSync(join(graceful, LOCK)), false);

  const quit = join(scratch, 'cli-int-twice');
  const second = longCliRun(quit);
  await waitFor('the lock file', () => existsSync(join(quit, LOCK)));
  second.kill('SIGINT');
  second.kill('SIGINT');
  const ended = await exited(second);
  assert.ok(ended.code === 130 || ended.code === 0, `exit code ${ended.code}`);
  assert.equal(existsSync(join(quit, LOCK)), false);
});

test('after kill -9 of a CLI run, the next run into the folder takes the lock over', { skip: noCli }, async () => {
  const outDir = join(scratch, 'cli-kill');
  const child = longCliRun(outDir);
  await waitFor('the lock file', () => existsSync(join(outDir, LOCK)));
  child.kill('SIGKILL');
  await exited(child);
  assert.ok(existsSync(join(outDir, LOCK)), 'kill -9 leaves the lock behind');
  const result = await fineTune(request(outDir, { overwrite: true }));
  assert.equal(result.status, 'completed');
  assert.equal(existsSync(join(outDir, LOCK)), false);
});

test('acquireOutputLock: the file says who holds it; a second acquire is refused; release is once and only removes its own lock', () => {
  const outDir = join(scratch, 'api');
  mkdirSync(outDir);
  assert.equal(LOCK_FILE, LOCK);
  const lock = acquireOutputLock(outDir, { command: 'bert-workbench pretrain' });
  const info = JSON.parse(readFileSync(join(outDir, LOCK), 'utf8'));
  assert.deepEqual(info, { pid: process.pid, host: hostname(), startedAt: lock.info.startedAt, command: 'bert-workbench pretrain' });
  assert.ok(!Number.isNaN(Date.parse(info.startedAt)));
  assert.throws(() => acquireOutputLock(outDir), (e: any) => e.kind === 'output-locked' && /: bert-workbench pretrain\)/.test(e.message));
  lock.release();
  assert.equal(existsSync(join(outDir, LOCK)), false);
  const next = acquireOutputLock(outDir);
  lock.release(); // a second release of the old lock leaves the new one alone
  assert.ok(existsSync(join(outDir, LOCK)));
  next.release();
  assert.equal(existsSync(join(outDir, LOCK)), false);
});

test('acquireOutputLock: a stale lock is reported as recovered; a lock that cannot be read yet (being written) is respected', () => {
  const outDir = join(scratch, 'api-stale');
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  writeLock(outDir, gone);
  const lock = acquireOutputLock(outDir);
  assert.equal(lock.recovered?.pid, gone);
  lock.release();
  writeFileSync(join(outDir, LOCK), '');
  assert.throws(() => acquireOutputLock(outDir), (e: any) => e.kind === 'output-locked');
});

test('five processes taking over the same stale lock at once: exactly one gets it', async () => {
  const outDir = join(scratch, 'race');
  writeLock(outDir, spawnSync(process.execPath, ['-e', '']).pid);
  const script = join(scratch, 'race.ts');
  writeFileSync(
    script,
    `import { acquireOutputLock } from ${JSON.stringify(join(__dirname, '..', '..', '..', 'src', 'server', 'engine', 'train', 'output-lock'))};
const start = Number(process.argv[2]);
if (Date.now() > start) console.log('late:');
while (Date.now() < start) {}
try {
  const lock = acquireOutputLock(${JSON.stringify(outDir)});
  console.log('got');
  setTimeout(() => lock.release(), 3000);
} catch (e) {
  console.log((e as any).kind);
}`,
  );
  const start = String(Date.now() + 6000); // all five are loaded and spinning by then
  const racers = Array.from({ length: 5 }, () => spawn(process.execPath, ['--import', 'tsx', script, start], { stdio: ['ignore', 'pipe', 'inherit'] }));
  children.push(...racers);
  const outputs = await Promise.all(racers.map((child) => new Promise<string>((done) => {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.once('exit', () => done(out.trim()));
  })));
  assert.deepEqual(outputs.sort(), ['got', 'output-locked', 'output-locked', 'output-locked', 'output-locked']);
  assert.equal(existsSync(join(outDir, LOCK)), false, 'the winner released it');
});
