/**
 * Training checkpoints, for resuming after a crash or a cancel: `<out>/checkpoints/step-<N>/` holds
 * a loadable model folder (the weights at step N), the optimizer's moments and the trainer's state.
 * A checkpoint is written into a temporary folder and renamed into place, so a folder named
 * `step-<N>` is always complete; a failed write (a full disk) leaves the earlier ones as they were.
 * Only the latest and the best checkpoints are kept.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '../tf';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors';
import type { AdamWState } from './optimizer';
import { json, saveModelFolder, writeFileAtomic, type ModelFolderContents } from './save';
import type { ClassificationMetrics } from './metrics';
import type { TrainStepEvent } from './events';

export interface EvalRecord {
  step: number;
  epoch: number;
  split: 'validation' | 'test';
  metrics: ClassificationMetrics;
}

/** Everything besides weights and moments that a resumed run needs to continue exactly. */
export interface TrainerState {
  runId: string;
  /** Optimizer steps done. */
  step: number;
  /** The epoch in progress (0-based) and how many of its batches are done. */
  epoch: number;
  batchInEpoch: number;
  bestStep?: number;
  bestScore?: number;
  evalsWithoutImprovement: number;
  /** What must match for a resume to continue the same run. */
  fingerprint: Record<string, unknown>;
  history: { steps: Omit<TrainStepEvent, 'event'>[]; evals: EvalRecord[] };
}

const STATE_FILE = 'trainer_state.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';

export function checkpointsDir(outDir: string): string {
  return join(outDir, 'checkpoints');
}

export async function saveCheckpoint(
  outDir: string,
  contents: ModelFolderContents,
  optimizer: AdamWState,
  state: TrainerState,
): Promise<string> {
  const root = checkpointsDir(outDir);
  mkdirSync(root, { recursive: true });
  const final = join(root, `step-${state.step}`);
  const temp = join(root, `.step-${state.step}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await saveModelFolder(temp, contents);
    await writeSafetensors(join(temp, OPTIMIZER_FILE), optimizerTensors(optimizer, contents), { metadata: { step: String(optimizer.step) } });
    writeFileAtomic(join(temp, STATE_FILE), json(state));
    rmSync(final, { recursive: true, force: true });
    renameSync(temp, final);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  prune(root, [state.step, state.bestStep]);
  return final;
}

function optimizerTensors(state: AdamWState, contents: ModelFolderContents): Map<string, TensorToWrite> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [prefix, moments] of [['m', state.m], ['v', state.v]] as const) {
    for (const [name, data] of moments) tensors.set(`${prefix}.${name}`, { shape: contents.model.params.get(name)!.shape, data });
  }
  return tensors;
}

/** Removes every checkpoint but the ones whose steps are given. */
function prune(root: string, keep: (number | undefined)[]): void {
  for (const { step, dir } of listCheckpoints(root)) {
    if (!keep.includes(step)) rmSync(dir, { recursive: true, force: true });
  }
  for (const name of readdirSync(root)) if (name.endsWith('.tmp')) rmSync(join(root, name), { recursive: true, force: true });
}

function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ match: /^step-(\d+)$/.exec(name), dir: join(root, name) }))
    .filter((c) => c.match && existsSync(join(c.dir, STATE_FILE)))
    .map((c) => ({ step: Number(c.match![1]), dir: c.dir }))
    .sort((a, b) => a.step - b.step);
}

/** The most recent complete checkpoint of a run, if any. */
export function latestCheckpoint(outDir: string): string | undefined {
  return listCheckpoints(checkpointsDir(outDir)).pop()?.dir;
}

export function checkpointAt(outDir: string, step: number): string | undefined {
  return listCheckpoints(checkpointsDir(outDir)).find((c) => c.step === step)?.dir;
}

export function readTrainerState(checkpointDir: string): TrainerState {
  return JSON.parse(readFileSync(join(checkpointDir, STATE_FILE), 'utf8')) as TrainerState;
}

export async function readOptimizerState(checkpointDir: string): Promise<AdamWState> {
  const { tensors, metadata } = await readSafetensors(join(checkpointDir, OPTIMIZER_FILE));
  const state: AdamWState = { step: Number(metadata.step), m: new Map(), v: new Map() };
  for (const [key, tensor] of tensors) {
    const [prefix, ...rest] = key.split('.');
    (prefix === 'm' ? state.m : state.v).set(rest.join('.'), tensor.data);
  }
  return state;
}

/** Copies the weights of one model's parameters into another's (same shapes). */
export function copyParams(from: Map<string, tf.Variable>, to: Map<string, tf.Variable>): void {
  for (const [name, value] of from) to.get(name)!.assign(value);
}
