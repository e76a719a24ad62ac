/**
 * The host of the training panel: a webview that renders only what the extension posts to it
 * (engine state now, training curves later). Its page runs under a strict Content Security
 * Policy: scripts only with this page's nonce, styles and images only from the extension's dist/,
 * nothing remote. Messages from the page are checked before anything acts on them.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import {
  engineInfo,
  type HostToPanelMessage,
  type PanelToHostMessage,
  panelToHostTypes,
} from '../shared/protocol';
import type { Ctx } from './ctx';
import { describeError } from './errors';

export class TrainingPanel implements vscode.Disposable {
  static readonly viewType = 'bertWorkbench.trainingPanel';
  private static current: TrainingPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  /** Reveals the panel, creating it the first time. */
  static show(ctx: Ctx): void {
    if (TrainingPanel.current) {
      TrainingPanel.current.panel.reveal();
      return;
    }
    const dist = vscode.Uri.joinPath(ctx.extensionUri, 'dist');
    const panel = vscode.window.createWebviewPanel(
      TrainingPanel.viewType,
      vscode.l10n.t('BERT Training'),
      vscode.ViewColumn.Active,
      { enableScripts: true, localResourceRoots: [dist] },
    );
    TrainingPanel.current = new TrainingPanel(panel, ctx);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly ctx: Ctx,
  ) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.png');
    panel.webview.html = renderPage(panel.webview, ctx.extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (ctx.config.affectsModel(event)) void this.postEngineState();
      }),
    );
  }

  private receive(raw: unknown): void {
    const message = parsePanelMessage(raw);
    if (!message) {
      this.ctx.outputChannel.appendLine(`Training panel: ignored an unexpected message ${JSON.stringify(raw)}`);
      return;
    }
    switch (message.type) {
      case 'ready':
      case 'refresh':
        void this.postEngineState();
        break;
    }
  }

  private async postEngineState(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'engineUnavailable', reason: vscode.l10n.t('Models are not loaded in an untrusted workspace.') });
      return;
    }
    try {
      const client = await this.ctx.languageClient();
      const info = await client.sendRequest(engineInfo, { model: this.ctx.config.modelRef });
      const engine = { backend: info.backend, model: this.ctx.config.model, labels: info.model?.labels ?? [] };
      this.post({ type: 'engineInfo', engine });
    } catch (error) {
      this.post({ type: 'engineUnavailable', reason: describeError(error) });
    }
  }

  private post(message: HostToPanelMessage): void {
    void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (TrainingPanel.current === this) TrainingPanel.current = undefined;
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/** A message from the page, or undefined when it is not one the panel sends. */
export function parsePanelMessage(raw: unknown): PanelToHostMessage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { type } = raw as { type?: unknown };
  const known = panelToHostTypes.find((name) => name === type);
  return known ? { type: known } : undefined;
}

function renderPage(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', name)).toString();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
  ].join('; ');
  const t = (text: string) => escapeHtml(vscode.l10n.t(text));
  return `<!DOCTYPE html>
<html lang="${escapeHtml(vscode.env.language)}">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${asset('webview.css')}">
  <title>${t('BERT Training')}</title>
</head>
<body data-state="loading" data-backend="" data-model="">
  <header>
    <h1>${t('BERT Training')}</h1>
    <button id="refresh" type="button">${t('Refresh')}</button>
  </header>
  <section class="engine" aria-labelledby="engine-title">
    <h2 id="engine-title">${t('Engine')}</h2>
    <dl>
      <dt>${t('Backend')}</dt><dd id="backend">${t('loading…')}</dd>
      <dt>${t('Model')}</dt><dd id="model">${t('loading…')}</dd>
      <dt>${t('Labels')}</dt><dd id="labels">${t('loading…')}</dd>
    </dl>
    <p id="engine-problem" class="problem" role="alert" hidden></p>
  </section>
  <section class="training" aria-labelledby="loss-title">
    <h2 id="loss-title">${t('Training loss')}</h2>
    <div class="chart">
      <canvas id="loss-chart" data-points="0" role="img" aria-label="${t('Training loss by step')}"></canvas>
      <p id="no-run" class="empty">${t('No training run yet')}</p>
    </div>
  </section>
  <script nonce="${nonce}" src="${asset('webview.js')}"></script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
