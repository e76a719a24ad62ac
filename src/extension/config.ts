/**
 * Typed access to the `bertWorkbench.*` settings, and the one place that knows which of them the
 * language server reads at start (changing those restarts it).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendChoice } from '../server/engine/backend';

const SECTION = 'bertWorkbench';
/** What predictions use before any model is trained or loaded: untrained, so annotations skip it. */
const DEFAULT_MODEL = 'builtin:tiny-bert';
/** What a run fine-tunes by default: the pre-trained model that ships with the extension. */
const DEFAULT_BASE_MODEL = 'builtin:review-bert';
const BACKENDS: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** Settings passed to the server in its initialization options. */
const RESTART_SETTINGS = ['backend', 'hub.cacheDir'];
const DEFAULT_OUTPUT_FOLDER = '${workspaceFolder}/.bert-workbench/models';

/** The defaults of a training run, from the `bertWorkbench.train.*` settings. */
export interface TrainingDefaults {
  baseModel: string;
  epochs: number;
  /** undefined: "auto", chosen by the engine for the model's size. */
  learningRate?: number;
  batchSize: number;
  maxLength: number;
  freezeLayers: number;
  /** Masked-LM steps on the dataset's text before fine-tuning (domain-adaptive pre-training); 0 = off. */
  adaptSteps: number;
  /** undefined: no limit (the epochs decide). */
  maxSteps?: number;
  validationSplit: number;
  patience: number;
  seed: number;
  /** Data-parallel worker threads for the engine; 0: as many as the machine can spare. */
  workers: number;
  /** The largest CSV/TSV row the dataset reader holds, in bytes. */
  maxRowBytes: number;
}

export class Config {
  /** The model reference as written in the settings. */
  get model(): string {
    return this.settings.get<string>('model', DEFAULT_MODEL).trim() || DEFAULT_MODEL;
  }

  /** The model reference the server can open: relative folders made absolute. */
  get modelRef(): string {
    return resolveModelRef(this.model, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  }

  get maxLength(): number {
    const value = Math.round(this.settings.get<number>('maxLength', 128));
    return Number.isFinite(value) ? Math.min(Math.max(value, 8), 512) : 128;
  }

  get backend(): BackendChoice {
    const value = this.settings.get<string>('backend', 'auto');
    return BACKENDS.includes(value as BackendChoice) ? (value as BackendChoice) : 'auto';
  }

  /** Training defaults as set for `scope` (a dataset's workspace folder: multi-root folders may differ). */
  trainingDefaults(scope?: vscode.Uri): TrainingDefaults {
    const train = vscode.workspace.getConfiguration(`${SECTION}.train`, scope);
    const int = (name: string, fallback: number, min: number, max: number) => clampInt(train.get<number>(name), fallback, min, max);
    const lr = Number(train.get<string | number>('learningRate', 'auto'));
    const maxSteps = int('maxSteps', 0, 0, 10_000_000);
    return {
      baseModel: train.get<string>('baseModel', DEFAULT_BASE_MODEL).trim() || DEFAULT_BASE_MODEL,
      epochs: int('epochs', 3, 1, 1000),
      learningRate: lr > 0 && lr <= 1 ? lr : undefined,
      batchSize: int('batchSize', 32, 1, 4096),
      maxLength: int('maxLength', 128, 8, 512),
      freezeLayers: int('freezeLayers', 0, 0, 48),
      adaptSteps: int('adaptSteps', 0, 0, 1_000_000),
      maxSteps: maxSteps > 0 ? maxSteps : undefined,
      validationSplit: Math.min(Math.max(Number(train.get<number>('validationSplit', 0.1)) || 0.1, 0.01), 0.5),
      patience: int('earlyStoppingPatience', 2, 0, 1000),
      seed: int('seed', 42, 0, 2 ** 31 - 1),
      workers: int('workers', 0, 0, 16),
      maxRowBytes: int('maxRowMB', 8, 1, 256) * 2 ** 20,
    };
  }

  /** The folder new models go into, for a dataset in `folder`: `${workspaceFolder}`, `~/` and relative paths resolved. */
  outputFolder(folder: vscode.WorkspaceFolder | undefined): string {
    const value = vscode.workspace.getConfiguration(`${SECTION}.train`, folder?.uri).get<string>('outputFolder', '').trim();
    const resolved = resolveModelRef(value || DEFAULT_OUTPUT_FOLDER, folder?.uri.fsPath);
    return path.resolve(folder?.uri.fsPath ?? os.homedir(), resolved);
  }

  /** Whether the training panel opens when a run starts. */
  get openPanelOnTrain(): boolean {
    return vscode.workspace.getConfiguration(`${SECTION}.train`).get<boolean>('openPanel', true);
  }

  /** Hugging Face Hub downloads: offline mode and the cache folder (undefined: the extension's storage). */
  hub(scope?: vscode.Uri): { offline: boolean; cacheDir?: string } {
    const hub = vscode.workspace.getConfiguration(`${SECTION}.hub`, scope);
    const cacheDir = hub.get<string>('cacheDir', '').trim();
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return { offline: hub.get<boolean>('offline', false), cacheDir: cacheDir ? resolveModelRef(cacheDir, folder) : undefined };
  }

  needsServerRestart(event: vscode.ConfigurationChangeEvent): boolean {
    return RESTART_SETTINGS.some((name) => event.affectsConfiguration(`${SECTION}.${name}`));
  }

  affectsModel(event: vscode.ConfigurationChangeEvent): boolean {
    return event.affectsConfiguration(`${SECTION}.model`);
  }

  private get settings(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
  const n = Math.round(Number(value));
  return Number.isFinite(n) ? Math.min(Math.max(n, min), max) : fallback;
}

/**
 * Hub ids (`bert-base-uncased`, `google/bert_uncased_L-4_H-256_A-4`) and `builtin:` names pass
 * through; `${workspaceFolder}/…`, `./…`, `../…` and `~/…` become absolute folders.
 */
export function resolveModelRef(ref: string, workspaceFolder: string | undefined): string {
  if (ref.startsWith('~/')) return path.join(os.homedir(), ref.slice(2));
  if (!workspaceFolder) return ref;
  if (ref.startsWith('${workspaceFolder}')) return path.join(workspaceFolder, ref.slice('${workspaceFolder}'.length));
  if (ref.startsWith('./') || ref.startsWith('../')) return path.resolve(workspaceFolder, ref);
  return ref;
}
