/**
 * Typed access to the `bertWorkbench.*` settings, and the one place that knows which of them the
 * language server reads at start (changing those restarts it).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendChoice } from '../server/engine/backend';

const SECTION = 'bertWorkbench';
const DEFAULT_MODEL = 'builtin:tiny-bert';
const BACKENDS: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** Settings passed to the server in its initialization options. */
const RESTART_SETTINGS = ['backend'];

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
