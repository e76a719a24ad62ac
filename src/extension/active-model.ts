/**
 * The model whose predictions the editor shows: the one last trained or loaded in this workspace
 * (remembered across sessions in the workspace state), else the `bertWorkbench.model` setting.
 */
import * as vscode from 'vscode';

const STATE_KEY = 'bertWorkbench.activeModel';

export interface ActiveModelInfo {
  /** A model folder, a Hub id, or `builtin:…`. */
  ref: string;
  /** When it was trained (ISO time), if it was trained here. */
  trainedAt?: string;
  /** A short name to show, e.g. the folder name. */
  name: string;
}

export class ActiveModel implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ActiveModelInfo | undefined>();
  /** Fires when a run finishes or a model is loaded (and when it is cleared). */
  readonly onDidChange = this.changed.event;

  constructor(private readonly workspaceState: vscode.Memento) {}

  /** The remembered model, if one was trained or loaded in this workspace. */
  get current(): ActiveModelInfo | undefined {
    return this.workspaceState.get<ActiveModelInfo>(STATE_KEY);
  }

  async set(info: ActiveModelInfo | undefined): Promise<void> {
    await this.workspaceState.update(STATE_KEY, info);
    this.changed.fire(info);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
