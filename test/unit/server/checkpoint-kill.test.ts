/**
 * kill -9 of the language server in the middle of a checkpoint write (hardening issue, item 9).
 * The built server (dist/server.js, over stdio, as the extension starts it) trains builtin:tiny-bert
 * into an output folder that sits beside the user's dataset file and an older saved model, with a
 * checkpoint every 4 steps. The test watches the checkpoints folder for the temporary folder the
 * checkpoint writer makes (`.step-<N>.<random>.tmp`, see src/server/engine/train/checkpoints.ts)
 * and sends SIGKILL while a file of it is being written: the weights, the optimizer's moments, or
 * the trainer state. Then: the user's files are byte for byte what they were; every folder and
 * file under a final name is whole and loads (the checkpoint before the kill among them); nothing
 * names the checkpoint that was cut short; and a new server resumes the run, which comes back
 * `interrupted`, from that earlier checkpoint to the end.
 *
 * A writer that wrote `step-<N>/` in place (or any file under its own name) fails the second
 * assertion: the kill leaves a folder or file that is named but not whole.
 */
import { test, after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createProtocolConnection, type ProtocolConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver-protocol/node';
import { initBackend } from '../../../src/server/engine/backend';
import { loadModelFolder } from '../../../src/server/engine/classifier';
import { readSafetensors } from '../../../src/server/engine/checkpoint/safetensors';
import { readOptimizerState, readTrainerState } from '../../../src/server/engine/train/checkpoints';
import { listRuns, resumeRun, runEvent, type RunEventParams, type RunInfo, startRun } from '../../../src/shared/protocol';
import { FIXTURES, TINY_BERT } from '../../helpers/golden';

const SERVER = resolve(__dirname, '..', '..', '..', 'dist', 'server.js');
const scratch = mkdtempSync(join(tmpdir(), 'checkpoint-kill-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
before(() => initBackend('wasm'));

const MAX_STEPS = 24;
const SETTINGS = { maxSteps: MAX_STEPS, batchSize: 8, maxLength: 32, evalEverySteps: 4, earlyStoppingPatience: 0 };
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'];
const CHECKPOINT_FILES = [...MODEL_FILES, 'optimizer.safetensors', 'trainer_state.json'];

interface Server {
  child: ChildProcess;
  connection: ProtocolConnection;
  exited: Promise<NodeJS.Signals | null>;
  /** Every run event, in order. */
  events: RunEventParams[];
}

async function startServer(runsDir: string): Promise<Server> {
  const child = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_, signal) => done(signal)));
  const reader = new StreamMessageReader(child.stdout!);
  // A kill that cuts a message in half would leave the reader re-arming its 10 s partial-message
  // timer for ever, and this test process would never exit.
  reader.partialMessageTimeout = 0;
  const connection = createProtocolConnection(reader, new StreamMessageWriter(child.stdin!));
  const events: RunEventParams[] = [];
  connection.onNotification(runEvent, (params) => events.push(params));
  connection.onError(() => undefined); // the kill closes the pipes mid-message
  connection.listen();
  await connection.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { backend: 'wasm', runsDir } });
  await connection.sendNotification('initialized', {});
  return { child, connection, exited, events };
}

async function stopServer(server: Server): Promise<void> {
  await server.connection.sendRequest('shutdown');
  await server.connection.sendNotification('exit');
  await server.exited;
  server.connection.dispose();
}

/** Resolves with the run's summary once it is no longer preparing or training. */
function runEnds(server: Server, runId: string): Promise<RunInfo> {
  return new Promise((done) => {
    const poll = () => {
      const ended = server.events.find((p) => p.run.id === runId && !['preparing', 'training'].includes(p.run.status));
      if (ended) done(ended.run);
      else setTimeout(poll, 20);
    };
    poll();
  });
}

type Phase = 'weights' | 'optimizer' | 'state' | 'final model';
/** The temporary file each phase writes (the safetensors writer's and writeFileAtomic's names). */
const PHASE_FILE: Record<Phase, RegExp> = {
  weights: /^\.model\.safetensors\..*\.tmp$/,
  optimizer: /^\.optimizer\.safetensors\..*\.tmp$/,
  state: /^\.trainer_state\.json\..*\.tmp$/,
  'final model': /^\.model\.safetensors\..*\.tmp$/,
};
/** A checkpoint being written: the writer's temporary folder, or (a writer that wrote in place) its final folder. */
const CHECKPOINT_BEING_WRITTEN = /^\.?step-(\d+)(\..*\.tmp)?$/;
const TEMP_CHECKPOINT = /^\.step-(\d+)\..*\.tmp$/;

/**
 * SIGKILLs the server as soon as the file of `phase` is being written: in a checkpoint after the
 * first one (so that there is one to fall back to), or for 'final model' in the output folder
 * itself. Resolves with the checkpoint's step (0 for the final model); rejects when the run ends
 * first, i.e. no temporary file of that phase was ever seen (a writer that writes in place).
 */
function killDuring(server: Server, outDir: string, phase: Phase): Promise<number> {
  const checkpoints = join(outDir, 'checkpoints');
  return new Promise((done, fail) => {
    const watchers: FSWatcher[] = [];
    const watched = new Set<string>();
    let settled = false;
    const settle = (result: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(runEnded);
      for (const w of watchers) w.close();
      result();
    };
    const finish = (step: number) => settle(() => (server.child.kill('SIGKILL'), done(step)));
    const runEnded = setInterval(() => {
      const ended = server.events.find((p) => !['preparing', 'training'].includes(p.run.status));
      if (ended || server.child.exitCode !== null) settle(() => fail(new Error(`the run ended (${ended?.run.status}) before the ${phase} file was ever written under a temporary name`)));
    }, 20);
    const entries = (dir: string) => {
      try {
        return readdirSync(dir);
      } catch {
        return []; // renamed into place or removed meanwhile
      }
    };
    /** Watches `dir` and kills once it holds the phase's temporary file. */
    const watchFor = (dir: string, step: number) => {
      if (watched.has(dir)) return;
      watched.add(dir);
      const look = () => {
        if (entries(dir).some((f) => PHASE_FILE[phase].test(f))) finish(step);
      };
      try {
        watchers.push(watch(dir, look).on('error', () => undefined));
      } catch {
        return;
      }
      look();
    };
    const complete = () => entries(checkpoints).some((f) => /^step-\d+$/.test(f) && existsSync(join(checkpoints, f, 'trainer_state.json')));
    const watchCheckpoints = () => {
      const w = watch(checkpoints, (_, name) => {
        const match = name ? CHECKPOINT_BEING_WRITTEN.exec(name) : null;
        if (match && complete() && !existsSync(join(checkpoints, name!, 'trainer_state.json'))) watchFor(join(checkpoints, name!), Number(match[1]));
      });
      watchers.push(w.on('error', () => undefined));
    };
    const waitForFolder = () => {
      if (settled) return;
      if (phase === 'final model' && existsSync(outDir)) watchFor(outDir, 0);
      else if (phase !== 'final model' && existsSync(checkpoints)) watchCheckpoints();
      else setTimeout(waitForFolder, 2);
    };
    waitForFolder();
  });
}

function hashes(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (path === skip) continue;
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Every file under `dir` that carries a final name (not a writer's dot-named temporary): whole, or the assertion says which is not. */
async function assertFinalFilesWhole(dir: string): Promise<void> {
  const walk = async (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (name.startsWith('.')) continue; // a writer's temporary (or the run's lock): never read as a result
      if (statSync(path).isDirectory()) {
        if (/^step-\d+$/.test(name)) {
          for (const file of CHECKPOINT_FILES) assert.ok(existsSync(join(path, file)), `${relative(dir, path)} is named like a checkpoint but has no ${file}`);
        }
        await walk(path);
      } else if (name.endsWith('.safetensors')) {
        await assert.doesNotReject(readSafetensors(path), `${relative(dir, path)} is not a whole safetensors file`);
      } else if (name.endsWith('.json')) {
        assert.doesNotThrow(() => JSON.parse(readFileSync(path, 'utf8')), `${relative(dir, path)} is not whole JSON`);
      } else {
        assert.ok(statSync(path).size > 0, `${relative(dir, path)} is empty`);
      }
    }
  };
  await walk(dir);
}

/** Loads `modelDir` as a classifier; `trained`: one of the run's (its classes are the dataset's). */
async function assertLoads(modelDir: string, trained = true): Promise<void> {
  const loaded = await loadModelFolder(modelDir);
  try {
    if (trained) assert.deepEqual(loaded.model.config.id2label, ['negative', 'positive']);
  } finally {
    for (const p of loaded.model.params.values()) p.dispose();
  }
}

/**
 * Trains into `<workspace>/reviews-model-v2` beside the user's `reviews.csv` and `reviews-model-v1/`,
 * kills the server during `phase`, checks what is on disk, and resumes the run in a new server.
 * For 'final model' the output folder already holds an older model that the run was asked to replace.
 */
async function killAndResume(phase: Phase, t: TestContext): Promise<void> {
  const workspace = join(scratch, phase.replace(' ', '-'));
  mkdirSync(join(workspace, 'reviews-model-v1'), { recursive: true });
  copyFileSync(join(FIXTURES, 'datasets', 'sst2', 'train.csv'), join(workspace, 'reviews.csv'));
  for (const file of MODEL_FILES) copyFileSync(join(TINY_BERT, file), join(workspace, 'reviews-model-v1', file));
  const outDir = join(workspace, 'reviews-model-v2');
  const checkpoints = join(outDir, 'checkpoints');
  const replacing = phase === 'final model';
  if (replacing) {
    mkdirSync(outDir);
    for (const file of MODEL_FILES) copyFileSync(join(TINY_BERT, file), join(outDir, file));
  }
  const olderModel = replacing ? hashes(outDir, checkpoints) : undefined;
  const runsDir = join(scratch, `${phase.replace(' ', '-')}-runs`);
  const userFiles = hashes(workspace, outDir);

  const first = await startServer(runsDir);
  const killed = killDuring(first, outDir, phase);
  const run = await first.connection.sendRequest(startRun, {
    title: 'reviews',
    request: { data: join(workspace, 'reviews.csv'), model: 'builtin:tiny-bert', outDir, settings: SETTINGS, overwrite: replacing },
  });
  const cutShort = await killed;
  assert.equal(await first.exited, 'SIGKILL');
  first.connection.dispose();

  // Nothing under a final name is half-written, and the user's files are untouched.
  assert.deepEqual(hashes(workspace, outDir), userFiles, "the user's dataset and older model are byte for byte as they were");
  await assertFinalFilesWhole(outDir);
  const left = readdirSync(checkpoints);
  const steps = left.filter((f) => /^step-\d+$/.test(f)).map((f) => Number(f.slice('step-'.length))).sort((a, b) => a - b);
  if (replacing) {
    // The kill landed while the new weights were written: the older model is still whole in their place.
    assert.ok(readdirSync(outDir).some((f) => PHASE_FILE[phase].test(f)), 'the kill landed outside the write of the final model');
    assert.equal(hashes(outDir, checkpoints).get('model.safetensors'), olderModel!.get('model.safetensors'), 'the older weights are whole until the new ones are complete');
    await assertLoads(outDir, false);
    const cut = readdirSync(outDir).filter((f) => PHASE_FILE[phase].test(f)).map((f) => `${f} ${statSync(join(outDir, f)).size} B`);
    t.diagnostic(`SIGKILL in the write of the final model; the older model.safetensors (${statSync(join(outDir, 'model.safetensors')).size} B) left whole beside ${cut.join(', ')}`);
  } else {
    // The kill landed inside the checkpoint's write: its temporary folder is left, no folder has its final name.
    const temp = left.find((f) => TEMP_CHECKPOINT.test(f) && f.startsWith(`.step-${cutShort}.`));
    assert.ok(temp, `the kill landed after the checkpoint of step ${cutShort} was written: ${left.join(', ')}`);
    assert.ok(readdirSync(join(checkpoints, temp)).some((f) => PHASE_FILE[phase].test(f)), `the kill landed outside the write of the ${phase} file`);
    assert.ok(!left.includes(`step-${cutShort}`), `step-${cutShort} has its final name though its write was cut short`);
    assert.ok(steps.length > 0 && steps.at(-1)! < cutShort, `checkpoints left: ${left.join(', ')}`);
    // What the kill cut short, against the whole checkpoint before it: e.g. a weights file half written.
    const whole = join(checkpoints, `step-${steps.at(-1)}`);
    const cut = readdirSync(join(checkpoints, temp)).map((f) => {
      const final = f.replace(/^\.(.*)\.\d+-[0-9a-f]+\.tmp$/, '$1');
      const size = statSync(join(checkpoints, temp, f)).size;
      return final === f || !existsSync(join(whole, final)) ? `${f} ${size} B` : `${f} ${size} of ${statSync(join(whole, final)).size} B`;
    });
    t.diagnostic(`SIGKILL in the write of step ${cutShort} (${phase}); step-${steps.at(-1)} left whole; ${temp}: ${cut.join(', ')}`);
  }

  // The latest checkpoint left is intact: it loads as a model, with its moments and state.
  const previous = join(checkpoints, `step-${steps.at(-1)}`);
  await assertLoads(previous);
  assert.equal(readTrainerState(previous).step, steps.at(-1));
  assert.equal((await readOptimizerState(previous)).step, steps.at(-1));

  // A new server finds the run interrupted and resumes it from that checkpoint to the end.
  const second = await startServer(runsDir);
  try {
    const { runs } = await second.connection.sendRequest(listRuns, {});
    assert.equal(runs.find((r) => r.id === run.id)?.status, 'interrupted');
    const resumed = await second.connection.sendRequest(resumeRun, { runId: run.id });
    const ended = await runEnds(second, resumed.id);
    assert.equal(ended.status, 'completed', ended.error?.message);
    const events = second.events.filter((p) => p.run.id === resumed.id && p.event).map((p) => p.event!);
    const start = events.find((e) => e.event === 'start');
    assert.equal(start?.event === 'start' && start.resumedFromStep, steps.at(-1), 'resumed from the checkpoint left');
    const done = events.find((e) => e.event === 'done');
    assert.equal(done?.event === 'done' && done.steps, MAX_STEPS);
  } finally {
    await stopServer(second);
  }
  await assertLoads(outDir);
  await assertFinalFilesWhole(outDir);
  assert.ok(!existsSync(checkpoints), 'a finished run keeps only its model');
  if (replacing) assert.notEqual(hashes(outDir, checkpoints).get('model.safetensors'), olderModel!.get('model.safetensors'), 'the new model replaced the older one');
  assert.deepEqual(hashes(workspace, outDir), userFiles, "the user's files are still as they were");
}

for (const phase of ['weights', 'optimizer', 'state'] as const) {
  test(`kill -9 while a checkpoint's ${phase} file is written: the user's files and the checkpoint before survive, and the run resumes to the end`, { timeout: 180_000 }, (t) => killAndResume(phase, t));
}

test('kill -9 while the finished model is written over an older one: the older weights stay whole, and the run resumes to the end', { timeout: 180_000 }, (t) => killAndResume('final model', t));
