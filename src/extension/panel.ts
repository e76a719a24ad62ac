/**
 * The host of the training panel: a webview that renders only what the extension posts to it.
 * It keeps no training state: when the page loads (first open, reopened, shown again after being
 * hidden, restored after a window reload) it says `ready` and is sent the runs and the whole
 * history of the run to show, which the language server keeps. Then every run event is passed on.
 *
 * The page runs under a strict Content Security Policy: scripts only with this page's nonce,
 * styles, fonts and images only from the extension's dist/, nothing remote. Messages from the
 * page are checked before anything acts on them.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { reviewedRowsCsv } from '../server/engine/explain/misclassified';
import {
  engineInfo,
  type HostToPanelMessage,
  type PanelToHostMessage,
  panelToHostTypes,
  reviewRows,
  RUN_ID_PATTERN,
  runCalibration,
  type RunReview,
  saveThreshold,
} from '../shared/protocol';
import { PANEL_STRINGS } from '../shared/panel-strings';
import type { Ctx } from './ctx';
import { describeError, showError } from './errors';
import { metricsCsv } from './training/csv';

export class TrainingPanel implements vscode.Disposable {
  static readonly viewType = 'bertWorkbench.trainingPanel';
  private static current: TrainingPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;
  /** The reviews sent to the page, by run: a row it asks to open must be one of them. */
  private readonly reviews = new Map<string, RunReview>();

  /** Reveals the panel (creating it the first time), showing `runId` when given. */
  static show(ctx: Ctx, runId?: string, column = vscode.ViewColumn.Active): void {
    if (TrainingPanel.current) {
      TrainingPanel.current.panel.reveal(undefined, column === vscode.ViewColumn.Beside);
      if (runId) void TrainingPanel.current.showRun(runId);
      return;
    }
    const panel = vscode.window.createWebviewPanel(TrainingPanel.viewType, vscode.l10n.t('BERT Training'), { viewColumn: column, preserveFocus: column === vscode.ViewColumn.Beside }, webviewOptions(ctx));
    TrainingPanel.current = new TrainingPanel(panel, ctx, runId);
  }

  /** Restores the panel VS Code kept across a window reload (see `registerPanelSerializer`). */
  static revive(ctx: Ctx, panel: vscode.WebviewPanel, runId?: string): void {
    TrainingPanel.current?.dispose();
    panel.webview.options = webviewOptions(ctx);
    TrainingPanel.current = new TrainingPanel(panel, ctx, runId);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly ctx: Ctx,
    /** The run to show when the page is ready (else the one it showed before, else the newest). */
    private requestedRun?: string,
  ) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.png');
    panel.webview.html = renderPage(panel.webview, ctx.extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      ctx.training.onDidChange((params) => this.post({ type: 'runEvent', ...params })),
      ctx.activeModel.onDidChange(() => void this.postEngineState()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (ctx.config.affectsModel(event)) void this.postEngineState();
      }),
    );
  }

  private async receive(raw: unknown): Promise<void> {
    const message = parsePanelMessage(raw);
    if (!message) {
      this.ctx.outputChannel.appendLine(`Training panel: ignored an unexpected message ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    try {
      await this.handle(message);
    } catch (error) {
      showError(error, this.ctx.outputChannel);
    }
  }

  private async handle(message: PanelToHostMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        await this.postEngineState();
        return this.postRuns(this.requestedRun ?? message.runId);
      case 'refresh':
        await this.postEngineState();
        return this.postRuns();
      case 'showRun':
        return this.showRun(message.runId);
      case 'stop':
        await this.ctx.training.stop(message.runId);
        return;
      case 'resume':
        await this.ctx.training.resume(message.runId);
        return;
      case 'openModelFolder':
        await vscode.commands.executeCommand('bertWorkbench.openModelFolder', message.runId);
        return;
      case 'exportCsv':
        return this.exportCsv(message.runId);
      case 'review':
        return this.review(message.runId);
      case 'openRow':
        return this.openRow(message.runId, message.file, message.line);
      case 'exportLabelErrors':
        return this.exportLabelErrors(message.runId);
      case 'saveThreshold':
        return this.saveThreshold(message.runId, message.threshold);
    }
  }

  /** A finished run's rows and calibration, computed by the language server (the first time, it predicts the held-out rows). */
  private async review(runId: string): Promise<void> {
    if (!vscode.workspace.isTrusted) return;
    const client = await this.ctx.languageClient();
    await Promise.all([
      client.sendRequest(reviewRows, { runId }).then(
        (review) => {
          this.reviews.set(runId, review);
          for (const old of [...this.reviews.keys()].slice(0, -4)) this.reviews.delete(old);
          this.post({ type: 'review', review });
        },
        (error: unknown) => this.post({ type: 'reviewUnavailable', runId, part: 'rows', reason: describeError(error) }),
      ),
      client.sendRequest(runCalibration, { runId }).then(
        (calibration) => this.post({ type: 'calibration', calibration }),
        (error: unknown) => this.post({ type: 'reviewUnavailable', runId, part: 'calibration', reason: describeError(error) }),
      ),
    ]);
  }

  /** Opens the dataset file at a reviewed row, beside the panel, with the row's line selected. */
  private async openRow(runId: string, file: string, line: number): Promise<void> {
    const review = this.reviews.get(runId);
    const rows = review ? [...review.cells.flat().flatMap((cell) => cell.rows), ...review.possibleLabelErrors] : [];
    if (!rows.some((row) => row.file === file && row.line === line)) {
      this.ctx.outputChannel.appendLine(`Training panel: ${file}:${line} is not a reviewed row of run ${runId}`);
      return;
    }
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    const index = Math.min(line, document.lineCount) - 1;
    const range = document.lineAt(index).range;
    const column = this.panel.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
    const editor = await vscode.window.showTextDocument(document, { viewColumn: column, selection: new vscode.Selection(range.start, range.end), preview: true });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  /** The run's possible label errors as CSV, where the user says (proposed: the run's model folder). */
  private async exportLabelErrors(runId: string): Promise<void> {
    const review = this.reviews.get(runId) ?? (await (await this.ctx.languageClient()).sendRequest(reviewRows, { runId }));
    const history = await this.ctx.training.history(runId);
    const folder = history && fs.existsSync(history.run.outDir) ? history.run.outDir : undefined;
    const target = await vscode.window.showSaveDialog({
      ...(folder ? { defaultUri: vscode.Uri.file(path.join(folder, 'possible-label-errors.csv')) } : {}),
      filters: { CSV: ['csv'] },
      title: vscode.l10n.t('Export the Possible Label Errors'),
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(reviewedRowsCsv(review.possibleLabelErrors, review.labels)));
    void vscode.window.showInformationMessage(vscode.l10n.t('BERT: {0} possible label errors saved to {1}.', review.possibleLabelErrors.length, vscode.workspace.asRelativePath(target)));
  }

  /** Keeps (or, none, removes) a two-class decision threshold in the run's model; the editor's predictions of that model follow it. */
  private async saveThreshold(runId: string, threshold: number | undefined): Promise<void> {
    const client = await this.ctx.languageClient();
    const calibration = await client.sendRequest(saveThreshold, { runId, threshold });
    this.post({ type: 'calibration', calibration });
    const history = await this.ctx.training.history(runId);
    const active = this.ctx.activeModel.current;
    // The annotations and hovers of this model predict again, with the threshold.
    if (history && active && path.resolve(active.ref) === path.resolve(history.run.outDir)) await this.ctx.activeModel.set(active);
    void vscode.window.showInformationMessage(
      threshold === undefined
        ? vscode.l10n.t('BERT: the model now predicts its most probable class again.')
        : vscode.l10n.t('BERT: the model now predicts "{0}" from probability {1} on.', calibration.labels[1] ?? '', threshold.toFixed(2)),
    );
  }

  /** The run list, then the history of `runId` (or of the newest run). */
  private async postRuns(runId?: string): Promise<void> {
    if (!vscode.workspace.isTrusted) return;
    const runs = await this.ctx.training.list();
    this.post({ type: 'runs', runs });
    const shown = runs.find((run) => run.id === runId) ?? runs[0];
    if (shown) await this.showRun(shown.id);
  }

  private async showRun(runId: string): Promise<void> {
    this.requestedRun = undefined;
    const history = await this.ctx.training.history(runId);
    if (history) this.post({ type: 'history', history });
  }

  private async exportCsv(runId: string): Promise<void> {
    const history = await this.ctx.training.history(runId);
    if (!history) return;
    const folder = fs.existsSync(history.run.outDir) ? history.run.outDir : path.dirname(history.run.outDir);
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(folder, 'training-metrics.csv')),
      filters: { CSV: ['csv'] },
      title: vscode.l10n.t('Export the Training Metrics'),
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(metricsCsv(history)));
    void vscode.window.showInformationMessage(vscode.l10n.t('BERT: metrics saved to {0}.', vscode.workspace.asRelativePath(target)));
  }

  private async postEngineState(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.post({ type: 'engineUnavailable', reason: vscode.l10n.t('Training and models are disabled in an untrusted workspace. Trust this workspace to use BERT Workbench.') });
      return;
    }
    const model = this.ctx.activeModel.current?.ref ?? this.ctx.config.modelRef;
    const shownModel = this.ctx.activeModel.current?.name ?? this.ctx.config.model;
    try {
      const client = await this.ctx.languageClient();
      const info = await client.sendRequest(engineInfo, { model });
      this.post({ type: 'engineInfo', engine: { backend: info.backend, model: shownModel, labels: info.model?.labels ?? [] } });
    } catch (error) {
      this.post({ type: 'engineUnavailable', reason: describeError(error) });
    }
  }

  private post(message: HostToPanelMessage): void {
    if (!this.disposed) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (TrainingPanel.current === this) TrainingPanel.current = undefined;
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/** Restores the training panel after a window reload; the page then asks for its run again. */
export function registerPanelSerializer(ctx: Ctx): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(TrainingPanel.viewType, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      const runId = (state as { runId?: unknown } | undefined)?.runId;
      TrainingPanel.revive(ctx, panel, typeof runId === 'string' && RUN_ID_PATTERN.test(runId) ? runId : undefined);
    },
  });
}

function webviewOptions(ctx: Ctx): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(ctx.extensionUri, 'dist')] };
}

/** A message from the page, or undefined when it is not one the panel sends (unknown type, bad run id). */
export function parsePanelMessage(raw: unknown): PanelToHostMessage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { type, runId, file, line, threshold } = raw as { type?: unknown; runId?: unknown; file?: unknown; line?: unknown; threshold?: unknown };
  const known = panelToHostTypes.find((name) => name === type);
  const validRun = typeof runId === 'string' && RUN_ID_PATTERN.test(runId);
  switch (known) {
    case undefined:
      return undefined;
    case 'refresh':
      return { type: known };
    case 'ready':
      return validRun ? { type: known, runId: runId as string } : { type: known };
    case 'openRow':
      return validRun && typeof file === 'string' && path.isAbsolute(file) && Number.isInteger(line) && (line as number) >= 1
        ? { type: known, runId: runId as string, file, line: line as number }
        : undefined;
    case 'saveThreshold':
      if (!validRun) return undefined;
      if (threshold === undefined) return { type: known, runId: runId as string };
      return typeof threshold === 'number' && threshold > 0 && threshold < 1 ? { type: known, runId: runId as string, threshold } : undefined;
    default:
      return validRun ? { type: known, runId: runId as string } : undefined;
  }
}

function renderPage(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', name)).toString();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  const t = (text: string) => escapeHtml(vscode.l10n.t(text));
  const strings = Object.fromEntries(PANEL_STRINGS.map((s) => [s, vscode.l10n.t(s)]));
  return `<!DOCTYPE html>
<html lang="${escapeHtml(vscode.env.language)}">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${asset('webview.css')}">
  <title>${t('BERT Training')}</title>
</head>
<body data-state="loading" data-backend="" data-model="" data-run-id="" data-run-status="none" data-best-step="">
  <header>
    <h1>${t('BERT Training')}</h1>
    <div class="run-picker">
      <label for="run-select">${t('Run')}</label>
      <select id="run-select" disabled></select>
    </div>
    <div class="actions" role="toolbar" aria-label="${t('Run actions')}">
      <button id="stop" type="button" disabled>${t('Stop')}</button>
      <button id="resume" type="button" hidden>${t('Resume')}</button>
      <button id="open-folder" type="button" class="secondary" disabled>${t('Open Model Folder')}</button>
      <button id="export-csv" type="button" class="secondary" disabled>${t('Export CSV')}</button>
      <button id="refresh" type="button" class="secondary" title="${t('Refresh')}" aria-label="${t('Refresh')}">${t('Refresh')}</button>
    </div>
  </header>

  <section class="status" aria-labelledby="status-title">
    <h2 id="status-title" class="visually-hidden">${t('Progress')}</h2>
    <div class="status-line">
      <span id="run-status" class="badge" role="status" aria-live="polite"></span>
      <span id="phase" class="phase" aria-live="polite" hidden></span>
      <span id="run-title"></span>
    </div>
    <progress id="progress" max="1" value="0" aria-label="${t('Training progress')}"></progress>
    <p id="progress-text" class="muted"></p>
    <p id="best" class="best" hidden></p>
    <p id="run-problem" class="problem" role="alert" hidden></p>
    <div id="learning" class="notice" role="alert" hidden>
      <p id="learning-message"></p>
      <p id="learning-advice-title">${t('What may help:')}</p>
      <ul id="learning-advice" aria-labelledby="learning-advice-title"></ul>
    </div>
    <p id="no-run" class="empty"></p>
  </section>

  <section class="charts" aria-label="${t('Training curves')}">
    <figure id="mlm-card" class="card masked-lm" hidden>
      <figcaption id="mlm-title">${t('Adapting to the dataset: masked-LM loss')}</figcaption>
      <div class="chart"><canvas id="mlm-chart" data-points="0" role="img" aria-labelledby="mlm-title"></canvas></div>
      <p id="mlm-result" class="muted"></p>
    </figure>
    <figure class="card">
      <figcaption id="loss-title">${t('Loss')}</figcaption>
      <div class="chart"><canvas id="loss-chart" data-points="0" role="img" aria-labelledby="loss-title"></canvas></div>
    </figure>
    <figure class="card">
      <figcaption id="metrics-title">${t('Accuracy and macro F1 (validation)')}</figcaption>
      <div class="chart"><canvas id="metrics-chart" data-points="0" role="img" aria-labelledby="metrics-title"></canvas></div>
    </figure>
    <figure class="card">
      <figcaption id="lr-title">${t('Learning rate')}</figcaption>
      <div class="chart"><canvas id="lr-chart" data-points="0" role="img" aria-labelledby="lr-title"></canvas></div>
    </figure>
  </section>

  <section class="results" aria-labelledby="results-title">
    <h2 id="results-title">${t('Evaluation')}</h2>
    <p id="eval-caption" class="muted"></p>
    <div class="tables">
      <div class="table-wrap"><table id="confusion" aria-label="${t('Confusion matrix')}"></table></div>
      <div class="table-wrap"><table id="per-class" aria-label="${t('Per-class metrics')}"></table></div>
    </div>
    <p id="test-result" class="muted" hidden></p>
    <div id="review" class="review" hidden>
      <h3 id="cell-title"></h3>
      <p id="review-status" class="muted" role="status" aria-live="polite"></p>
      <div class="table-wrap"><table id="cell-rows" class="rows" aria-labelledby="cell-title"></table></div>
    </div>
  </section>

  <section id="label-errors-section" class="label-errors" aria-labelledby="label-errors-title" hidden>
    <div class="section-title">
      <h2 id="label-errors-title">${t('Possible label errors')}</h2>
      <button id="export-label-errors" type="button" class="secondary" aria-label="${t('Export the possible label errors as CSV')}">${t('Export CSV')}</button>
    </div>
    <p id="label-errors-caption" class="muted"></p>
    <div class="table-wrap"><table id="label-errors" class="rows" aria-labelledby="label-errors-title"></table></div>
  </section>

  <section id="calibration-section" class="calibration" aria-labelledby="calibration-title" hidden>
    <h2 id="calibration-title">${t('Calibration')}</h2>
    <p id="calibration-summary"></p>
    <div class="calibration-grid">
      <figure class="card">
        <figcaption id="reliability-title">${t('Reliability diagram (validation): accuracy against confidence')}</figcaption>
        <div class="chart"><canvas id="reliability-chart" data-points="0" role="img" aria-labelledby="reliability-title"></canvas></div>
      </figure>
      <div id="threshold" class="threshold" hidden>
        <label id="threshold-label" for="threshold-input"></label>
        <div class="threshold-input">
          <input id="threshold-input" type="range" min="0.05" max="0.95" step="0.05" value="0.5">
          <output id="threshold-value" for="threshold-input"></output>
        </div>
        <p id="threshold-metrics" aria-live="polite"></p>
        <p id="threshold-saved" class="muted"></p>
        <div class="threshold-buttons">
          <button id="save-threshold" type="button">${t('Save Threshold')}</button>
          <button id="clear-threshold" type="button">${t('Clear Threshold')}</button>
        </div>
      </div>
    </div>
  </section>

  <section class="details">
    <div>
      <h2 id="run-details-title">${t('This run')}</h2>
      <dl aria-labelledby="run-details-title">
        <dt>${t('Base model')}</dt><dd id="run-model">—</dd>
        <dt>${t('Classes')}</dt><dd id="run-labels">—</dd>
        <dt>${t('Model folder')}</dt><dd id="out-dir">—</dd>
      </dl>
      <h2 id="engine-title">${t('Engine')}</h2>
      <dl aria-labelledby="engine-title">
        <dt>${t('Backend')}</dt><dd id="backend">${t('loading…')}</dd>
        <dt>${t('Model in use')}</dt><dd id="model">${t('loading…')}</dd>
        <dt>${t('Labels')}</dt><dd id="labels">${t('loading…')}</dd>
      </dl>
      <p id="engine-problem" class="problem" role="alert" hidden></p>
    </div>
    <div>
      <h2 id="dataset-title">${t('Dataset')}</h2>
      <div id="dataset" aria-labelledby="dataset-title"><p class="muted">—</p></div>
    </div>
  </section>
  <script type="application/json" id="strings" nonce="${nonce}">${escapeJson(strings)}</script>
  <script nonce="${nonce}" src="${asset('webview.js')}"></script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that cannot close its <script> element. */
function escapeJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}
