/**
 * The extension's state: the settings, the language client (started on first use, restarted when
 * a setting the server reads changes) and everything that has to be disposed.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { createClient } from './client';
import { ActiveModel } from './active-model';
import { Config } from './config';
import { TrainingRuns } from './training/runs';

export class Ctx implements vscode.Disposable {
  readonly config = new Config();
  readonly outputChannel = vscode.window.createOutputChannel('BERT Workbench');
  readonly activeModel: ActiveModel;
  private client: Promise<LanguageClient> | undefined;
  private readonly disposables: vscode.Disposable[] = [this.outputChannel];
  private readonly clientCreated = new vscode.EventEmitter<LanguageClient>();
  /** Fires with each new language client before it starts, so that notification handlers can be registered. */
  readonly onDidCreateClient = this.clientCreated.event;
  /** The server's training runs, as the extension sees them. */
  readonly training: TrainingRuns;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.activeModel = new ActiveModel(extension.workspaceState);
    this.training = new TrainingRuns(this);
    this.push(
      this.activeModel,
      this.clientCreated,
      this.training,
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (this.config.needsServerRestart(event)) void this.restartServer();
      }),
    );
  }

  get extensionUri(): vscode.Uri {
    return this.extension.extensionUri;
  }

  /** The running language client; the first call starts the server. */
  languageClient(): Promise<LanguageClient> {
    if (!this.client) {
      const client = createClient(this.extension, this.config, this.outputChannel);
      this.clientCreated.fire(client);
      const started = client.start().then(() => client);
      // A server that failed to start is thrown away; the next use tries again.
      started.catch(() => {
        if (this.client === started) this.client = undefined;
        void client.dispose().catch(() => undefined);
      });
      this.client = started;
    }
    return this.client;
  }

  async restartServer(): Promise<void> {
    await this.stopServer();
    await this.languageClient();
  }

  async stopServer(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.then((c) => c.dispose(), () => undefined);
  }

  push(...disposables: vscode.Disposable[]): void {
    this.disposables.push(...disposables);
  }

  dispose(): void {
    void this.stopServer();
    for (const disposable of this.disposables.splice(0).reverse()) disposable.dispose();
  }
}
