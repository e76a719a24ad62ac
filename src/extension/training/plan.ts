/**
 * A training plan: the choices of the flow (or of a command's arguments) turned into the request
 * the engine takes, with the output folder made: `<output folder>/<dataset>-<time>/` in the
 * dataset's workspace folder by default. Nothing outside that folder is written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import type { FineTuneRequest } from '../../server/engine/fine-tune';
import type { StartRunParams } from '../../shared/protocol';
import type { Config, TrainingDefaults } from '../config';

export interface TrainingPlan {
  /** The dataset file or folder. */
  data: string;
  folder: vscode.WorkspaceFolder | undefined;
  textColumn?: string;
  labelColumn?: string;
  model: string;
  settings: TrainingDefaults;
  /** The model folder to write; made from the settings when not given. */
  outDir?: string;
}

export function startParams(plan: TrainingPlan, config: Config): StartRunParams {
  const s = plan.settings;
  const request: FineTuneRequest = {
    data: plan.data,
    dataset: { textColumn: plan.textColumn, labelColumn: plan.labelColumn, validationSplit: s.validationSplit, seed: s.seed, maxRowBytes: s.maxRowBytes },
    model: plan.model,
    outDir: plan.outDir ?? newModelFolder(plan, config),
    settings: {
      epochs: s.epochs,
      batchSize: s.batchSize,
      maxLength: s.maxLength,
      seed: s.seed,
      earlyStoppingPatience: s.patience,
      freeze: { embeddings: false, layers: s.freezeLayers, allButHead: false },
      ...(s.learningRate !== undefined ? { learningRate: s.learningRate } : {}),
      ...(s.maxSteps !== undefined ? { maxSteps: s.maxSteps } : {}),
    },
    ...(s.adaptSteps > 0 ? { adaptSteps: s.adaptSteps } : {}),
    hub: config.hub(plan.folder?.uri),
    // 0: the engine chooses (as many as the machine can spare).
    workers: s.workers,
  };
  return { title: `${datasetName(plan.data)} · ${modelName(plan.model)}`, request };
}

/** `…/.bert-workbench/models/reviews-20250101-120000`, unique. */
export function newModelFolder(plan: TrainingPlan, config: Config, now = new Date()): string {
  const parent = config.outputFolder(plan.folder);
  const stamp = localStamp(now);
  let dir = path.join(parent, `${safeName(datasetName(plan.data))}-${stamp}`);
  for (let n = 2; fs.existsSync(dir); n++) dir = path.join(parent, `${safeName(datasetName(plan.data))}-${stamp}-${n}`);
  return dir;
}

/**
 * Keeps models out of version control: a `.gitignore` of `*` in the `.bert-workbench` folder the
 * models go into (only when that folder is ours, i.e. named so, and has none yet).
 */
export function ignoreModelsInGit(outDir: string): void {
  const ours = outDir.split(path.sep).lastIndexOf('.bert-workbench');
  if (ours < 0) return;
  const root = outDir.split(path.sep).slice(0, ours + 1).join(path.sep);
  const file = path.join(root, '.gitignore');
  if (fs.existsSync(file)) return;
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(file, '# Models and checkpoints trained by BERT Workbench\n*\n');
}

export function datasetName(data: string): string {
  const base = path.basename(data);
  const ext = path.extname(base);
  return ext && ext !== base ? base.slice(0, -ext.length) : base;
}

/** `tiny-bert`, `bert_uncased_L-4_H-256_A-4`, or a folder's name. */
export function modelName(model: string): string {
  if (model.startsWith('builtin:')) return model.slice('builtin:'.length);
  return path.basename(model.replace(/[\\/]+$/, ''));
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'dataset';
}

function localStamp(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}
