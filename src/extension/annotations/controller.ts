/**
 * Inline predictions in the editor: an annotation at the end of each line (`▸ positive 0.94`) and a
 * hover with every class's probability, for documents of the configured languages.
 *
 * Why client-side decorations fed by a prediction request, and not LSP inlay hints and hovers:
 * - an inlay hint can only be styled as a "type" or "parameter" hint — one colour for everything —
 *   while annotations need a colour per class and a dimmed look below the confidence threshold;
 *   decorations take any theme colour, per kind (one decoration type each, made once);
 * - an inlay hint sits inside the line and moves the text after it while the user types; an
 *   `after` decoration at the end of the line never moves anything;
 * - the extension decides what to ask for: what is on screen first, then a page above and below,
 *   each text once (a cache by text here, another in the server), with the requests of a document
 *   cancelled when it closes or the view moves on. LSP would have the server predict whatever
 *   range VS Code asks for and make every document of those languages cross the wire in full.
 * The hover is a client-side `HoverProvider` reading the same cache, so it agrees with the
 * annotation to the digit. The engine still runs only in the language server; the extension host
 * does string work (splitting lines and sentences) and drawing, nothing else.
 */
import * as vscode from 'vscode';
import { LSPErrorCodes, ResponseError } from 'vscode-languageclient/node';
import type { Explanation } from '../../server/engine/classifier-api';
import {
  explainText,
  type InlineModelInfo,
  type InlinePrediction,
  type InlinePriority,
  isUserErrorData,
  predictInline,
} from '../../shared/protocol';
import { LruCache } from '../../server/predictions/cache';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { AnnotationDecorations } from './decorations';
import { annotateLines, firstEndingAtOrAfter, type HoverItem, hoverMarkdown, type HoverModel, segmentsOnLine } from './render';
import { type Segment, splitIntoSegments } from './segments';
import { annotationModel, type AnnotationModel, AnnotationSettings, shortName } from './settings';


/** How long a hover waits for its word attributions before it shows without them. */
const EXPLAIN_BUDGET_MS = 2_000;
/** Quiet time after the last keystroke before the changed lines are predicted. */
const EDIT_DEBOUNCE_MS = 300;
/** Quiet time after scrolling before the newly visible lines are predicted. */
const SCROLL_DEBOUNCE_MS = 60;
/** Texts per request: visible ones in small requests so that the first annotations come early. */
const VISIBLE_CHUNK = 16;
const NEARBY_CHUNK = 32;
const SCHEMES = new Set(['file', 'untitled']);

interface DocumentState {
  version: number;
  /** The settings the segments were cut with. */
  cutWith: string;
  segments: Segment[];
  /** The document's requests in flight; cancelled when it closes or a newer refresh replaces them. */
  requests?: vscode.CancellationTokenSource;
  timer?: ReturnType<typeof setTimeout>;
}

export class AnnotationController implements vscode.Disposable {
  private readonly settings = new AnnotationSettings();
  private readonly decorations = new AnnotationDecorations();
  /** Predictions of the current model by text (the server keeps its own cache too). */
  private readonly cache = new LruCache<InlinePrediction>(50_000);
  private readonly explanations = new LruCache<Explanation>(500);
  private readonly documents = new Map<string, DocumentState>();
  private readonly disposables: vscode.Disposable[] = [];
  private model: AnnotationModel | undefined;
  private modelInfo: InlineModelInfo | undefined;
  /** Bumped when the model or its settings change: answers to older requests are dropped. */
  private generation = 0;
  /** The generation whose requests failed for a reason the user has to fix (shown once). */
  private failedGeneration = -1;
  /** The "Toggle Inline Predictions" state. */
  private globalOn = true;
  /** Per-file choices ("… for This File", "Clear"), by URI; they override `globalOn`. */
  private readonly fileChoices = new Map<string, boolean>();
  private readonly renderQueue = new Set<vscode.TextDocument>();
  private renderTimer: ReturnType<typeof setTimeout> | undefined;
  /** The hover "Predict Sentiment of Selection" asked for, shown while the cursor is in its range. */
  private selectionHover: { uri: string; range: vscode.Range; hover: vscode.Hover } | undefined;

  constructor(private readonly ctx: Ctx) {
    this.disposables.push(
      this.decorations,
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        const visible = new Set(editors.map((e) => e.document));
        // Nobody looks at the documents that went out of view: their requests stop.
        for (const [uri, state] of this.documents) {
          if (state.requests && !editors.some((e) => e.document.uri.toString() === uri)) cancel(state);
        }
        for (const document of visible) this.refresh(document);
      }),
      vscode.window.onDidChangeTextEditorVisibleRanges(({ textEditor }) => this.refreshSoon(textEditor.document, SCROLL_DEBOUNCE_MS)),
      vscode.window.onDidChangeTextEditorSelection(({ textEditor }) => {
        if (this.selectionHover?.uri === textEditor.document.uri.toString()) this.selectionHover = undefined;
      }),
      vscode.workspace.onDidChangeTextDocument(({ document, contentChanges }) => {
        if (contentChanges.length === 0) return;
        for (const editor of this.editorsOf(document)) this.decorations.forget(editor);
        this.refreshSoon(document, EDIT_DEBOUNCE_MS);
      }),
      // A language change closes and reopens the document.
      vscode.workspace.onDidOpenTextDocument((document) => this.refresh(document)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document)),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (this.ctx.config.affectsModel(event) || event.affectsConfiguration('bertWorkbench.maxLength')) this.reset();
        else if (this.settings.affects(event)) this.refreshAll();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.reset()),
      ctx.activeModel.onDidChange(() => this.reset()),
      vscode.languages.registerHoverProvider(
        [...SCHEMES].map((scheme) => ({ scheme })),
        { provideHover: (document, position, token) => this.provideHover(document, position, token) },
      ),
    );
    this.reset();
  }

  // ---- commands ---------------------------------------------------------------------------

  /** Turns annotations on or off in every file (and forgets the per-file choices). */
  toggle(): void {
    if (!this.explainWhyOff()) return;
    this.globalOn = !this.globalOn;
    this.fileChoices.clear();
    this.failedGeneration = -1; // the user may have fixed what failed: try again
    this.refreshAll();
  }

  /** Turns annotations on or off in the active editor's file. */
  toggleFile(): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !this.explainWhyOff()) return;
    const { document } = editor;
    if (!this.annotatesLanguage(document)) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t(
          'BERT: {0} files get no inline predictions. Add "{0}" to the setting bertWorkbench.annotations.languages to have them.',
          document.languageId,
        ),
      );
      return;
    }
    this.fileChoices.set(document.uri.toString(), !this.isOn(document));
    this.failedGeneration = -1;
    this.refresh(document);
  }

  /** Removes the annotations of every open file (they stay off there until toggled back on) and forgets the predictions. */
  clear(): void {
    for (const document of vscode.workspace.textDocuments) this.fileChoices.set(document.uri.toString(), false);
    this.cache.clear();
    this.explanations.clear();
    this.refreshAll();
  }

  /**
   * Shows the hover of the selection (or of the cursor's line) in the active editor, predicted by
   * `modelRef` (default: the annotations' model, else the `bertWorkbench.model` setting). Used by
   * "Predict Sentiment of Selection" so that it shows what hovers show.
   */
  async showSelectionHover(modelRef?: unknown): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !vscode.workspace.isTrusted) return;
    const { document, selection } = editor;
    const range = selection.isEmpty ? document.lineAt(selection.active.line).range : new vscode.Range(selection.start, selection.end);
    const text = document.getText(range);
    if (!text.trim()) return;
    const ref = typeof modelRef === 'string' && modelRef ? modelRef : (this.model?.ref ?? this.ctx.config.modelRef);
    const client = await this.ctx.languageClient();
    const result = await client.sendRequest(predictInline, {
      model: ref,
      texts: [text],
      maxLength: this.ctx.config.maxLength,
      priority: 'visible',
    });
    const annotations = ref === this.model?.ref ? this.model : undefined;
    const model: HoverModel = {
      name: annotations?.name ?? shortName(result.model.modelRef),
      trainedAt: formatTime(annotations?.trainedAt ?? result.model.trainedAt),
    };
    const markdown = hoverMarkdown([{ text, prediction: result.predictions[0] }], model);
    this.selectionHover = { uri: document.uri.toString(), range, hover: new vscode.Hover(new vscode.MarkdownString(markdown), range) };
    if (vscode.window.activeTextEditor === editor) await vscode.commands.executeCommand('editor.action.showHover');
  }

  // ---- what is annotated ------------------------------------------------------------------

  private annotatesLanguage(document: vscode.TextDocument): boolean {
    return SCHEMES.has(document.uri.scheme) && this.settings.languages.includes(document.languageId);
  }

  private isOn(document: vscode.TextDocument): boolean {
    return this.fileChoices.get(document.uri.toString()) ?? this.globalOn;
  }

  private isAnnotated(document: vscode.TextDocument): boolean {
    return (
      this.model !== undefined &&
      this.settings.enabled &&
      vscode.workspace.isTrusted &&
      this.annotatesLanguage(document) &&
      this.isOn(document)
    );
  }

  /** Says why a toggle cannot help, if it cannot; true when toggling makes sense. */
  private explainWhyOff(): boolean {
    if (!this.settings.enabled) {
      const open = vscode.l10n.t('Open Settings');
      void vscode.window
        .showInformationMessage(vscode.l10n.t('BERT: inline predictions are turned off in the settings.'), open)
        .then((choice) => choice === open && vscode.commands.executeCommand('workbench.action.openSettings', 'bertWorkbench.annotations.enabled'));
      return false;
    }
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showInformationMessage(vscode.l10n.t('BERT: models are not loaded in an untrusted workspace.'));
      return false;
    }
    if (!this.model) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t('BERT: no model to predict with yet. Fine-tune one, load one, or set bertWorkbench.model.'),
      );
      return false;
    }
    return true;
  }

  // ---- refreshing ------------------------------------------------------------------------

  /** A new model, or new settings for it: everything predicted so far is forgotten. */
  private reset(): void {
    this.generation += 1;
    this.model = annotationModel(this.ctx);
    this.modelInfo = undefined;
    this.cache.clear();
    this.explanations.clear();
    this.fileChoices.clear();
    for (const state of this.documents.values()) cancel(state);
    this.refreshAll();
    this.warmUp();
  }

  /** Loads the model in the server now, so that the first file opened does not wait for it. */
  private warmUp(): void {
    if (!this.model || !this.settings.enabled || !vscode.workspace.isTrusted) return;
    this.send([], 'visible', undefined).catch(() => undefined);
  }

  private refreshAll(): void {
    const documents = new Set(vscode.window.visibleTextEditors.map((e) => e.document));
    for (const document of documents) this.refresh(document);
  }

  private refreshSoon(document: vscode.TextDocument, delayMs: number): void {
    if (!this.annotatesLanguage(document)) return;
    const state = this.stateOf(document);
    if (state.timer) clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!document.isClosed) this.refresh(document);
    }, delayMs);
  }

  /**
   * Draws what is known for `document` in each editor showing it, then asks the server for the
   * texts still missing: the visible ones first, then those a page above and below.
   */
  private refresh(document: vscode.TextDocument): void {
    const editors = this.editorsOf(document);
    if (!this.isAnnotated(document)) {
      for (const editor of editors) this.decorations.clear(editor);
      const state = this.documents.get(document.uri.toString());
      if (state) cancel(state);
      return;
    }
    if (editors.length === 0) return;
    const segments = this.segmentsOf(document);
    const visible = new Set<string>();
    const nearby = new Set<string>();
    for (const editor of editors) {
      const { from, to, window } = viewOf(editor);
      this.render(editor, segments, window);
      for (let i = firstEndingAtOrAfter(segments, window.from); i < segments.length && segments[i].start.line <= window.to; i++) {
        const { text, start, end } = segments[i];
        if (this.cache.has(text)) continue;
        if (end.line >= from && start.line <= to) visible.add(text);
        else nearby.add(text);
      }
    }
    for (const text of visible) nearby.delete(text);
    this.request(document, [...visible], [...nearby]);
  }

  private request(document: vscode.TextDocument, visible: string[], nearby: string[]): void {
    const state = this.stateOf(document);
    cancel(state);
    if ((visible.length === 0 && nearby.length === 0) || this.failedGeneration === this.generation) return;
    const requests = new vscode.CancellationTokenSource();
    state.requests = requests;
    const chunks: Array<[string[], InlinePriority]> = [
      ...chunk(visible, VISIBLE_CHUNK).map((texts): [string[], InlinePriority] => [texts, 'visible']),
      ...chunk(nearby, NEARBY_CHUNK).map((texts): [string[], InlinePriority] => [texts, 'nearby']),
    ];
    for (const [texts, priority] of chunks) {
      this.send(texts, priority, requests.token).then(
        (answered) => answered && this.renderSoon(document),
        (error) => this.requestFailed(error),
      );
    }
  }

  /** Asks the server for `texts` and caches the answers; false when they arrived too late to count. */
  private async send(texts: string[], priority: InlinePriority, token: vscode.CancellationToken | undefined): Promise<boolean> {
    const model = this.model;
    if (!model) return false;
    const generation = this.generation;
    const client = await this.ctx.languageClient();
    const result = await client.sendRequest(
      predictInline,
      { model: model.ref, texts, maxLength: this.ctx.config.maxLength, priority },
      token,
    );
    if (generation !== this.generation) return false;
    this.modelInfo = result.model;
    texts.forEach((text, i) => this.cache.set(text, result.predictions[i]));
    return true;
  }

  private requestFailed(error: unknown): void {
    if (error instanceof vscode.CancellationError) return;
    if (error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled) return;
    if (!(error instanceof ResponseError)) {
      // The server is restarting or not up yet: the next refresh tries again.
      this.ctx.outputChannel.appendLine(`Inline predictions: ${describeError(error)}`);
      return;
    }
    if (this.failedGeneration === this.generation) return;
    this.failedGeneration = this.generation;
    if (!isUserErrorData(error.data)) this.ctx.outputChannel.appendLine(`Inline predictions: ${error.message}`);
    void vscode.window.showErrorMessage(vscode.l10n.t('BERT: no inline predictions: {0}', describeError(error)));
  }

  // ---- drawing ---------------------------------------------------------------------------

  private render(editor: vscode.TextEditor, segments: readonly Segment[], window: { from: number; to: number }): void {
    const annotations = annotateLines(segments, (text) => this.cache.get(text), {
      threshold: this.settings.confidenceThreshold,
      labels: this.modelInfo?.labels ?? [],
      fromLine: window.from,
      toLine: window.to,
    });
    this.decorations.show(editor, annotations);
  }

  /** Redraws `document`'s editors shortly, once for all the answers that arrive meanwhile. */
  private renderSoon(document: vscode.TextDocument): void {
    this.renderQueue.add(document);
    this.renderTimer ??= setTimeout(() => {
      this.renderTimer = undefined;
      const documents = [...this.renderQueue];
      this.renderQueue.clear();
      for (const doc of documents) {
        if (doc.isClosed || !this.isAnnotated(doc)) continue;
        const segments = this.segmentsOf(doc);
        for (const editor of this.editorsOf(doc)) this.render(editor, segments, viewOf(editor).window);
      }
    }, 15);
  }

  // ---- hovers ----------------------------------------------------------------------------

  private async provideHover(
    document: vscode.TextDocument,
    position: vscode.Position,
    token: vscode.CancellationToken,
  ): Promise<vscode.Hover | undefined> {
    const armed = this.selectionHover;
    if (armed && armed.uri === document.uri.toString() && armed.range.contains(position)) return armed.hover;
    if (!this.isAnnotated(document)) return undefined;
    const segments = segmentsOnLine(this.segmentsOf(document), position.line);
    if (segments.length === 0) return undefined;
    const texts = segments.map((s) => s.text);
    const missing = texts.filter((text) => !this.cache.has(text));
    if (missing.length > 0) {
      try {
        if (!(await this.send(missing, 'visible', token))) return undefined;
      } catch (error) {
        this.requestFailed(error);
        return undefined;
      }
    }
    const items: HoverItem[] = [];
    for (const text of texts) {
      const prediction = this.cache.get(text);
      if (prediction) items.push({ text, prediction });
    }
    if (items.length === 0 || token.isCancellationRequested) return undefined;
    if (items.length === 1) items[0].explanation = await this.explanationOf(items[0].text, token);
    if (token.isCancellationRequested) return undefined;
    // The hovered line's part of the segments: from where the first starts (on this line) to where the last ends.
    const line = document.lineAt(position.line).range;
    const startsHere = segments[0].start.line === position.line;
    const endsHere = segments[segments.length - 1].end.line === position.line;
    const range = new vscode.Range(
      startsHere ? new vscode.Position(position.line, segments[0].start.character) : line.start,
      endsHere ? new vscode.Position(position.line, segments[segments.length - 1].end.character) : line.end,
    );
    const markdown = new vscode.MarkdownString(hoverMarkdown(items, this.hoverModel()));
    markdown.supportHtml = true; // the attribution colours (spans); the text itself is escaped
    return new vscode.Hover(markdown, range);
  }

  /**
   * Word attributions for a hovered text, if they come within EXPLAIN_BUDGET_MS (the hover is not
   * held up longer); cancelled with the hover. Kept by text, as predictions are.
   */
  private async explanationOf(text: string, token: vscode.CancellationToken): Promise<Explanation | undefined> {
    const model = this.model;
    if (!model) return undefined;
    const known = this.explanations.get(text);
    if (known) return known;
    const client = await this.ctx.languageClient();
    const source = new vscode.CancellationTokenSource();
    const forward = token.onCancellationRequested(() => source.cancel());
    const timer = setTimeout(() => source.cancel(), EXPLAIN_BUDGET_MS);
    try {
      const explanation = await client.sendRequest(explainText, { model: model.ref, text, maxLength: this.ctx.config.maxLength }, source.token);
      this.explanations.set(text, explanation);
      return explanation;
    } catch (error) {
      if (!source.token.isCancellationRequested) this.ctx.outputChannel.appendLine(`Explanation: ${describeError(error)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
      forward.dispose();
      source.dispose();
    }
  }

  private hoverModel(): HoverModel {
    return {
      name: this.model?.name ?? '?',
      trainedAt: formatTime(this.model?.trainedAt ?? this.modelInfo?.trainedAt),
    };
  }

  // ---- documents -------------------------------------------------------------------------

  private editorsOf(document: vscode.TextDocument): vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((editor) => editor.document === document);
  }

  private stateOf(document: vscode.TextDocument): DocumentState {
    const key = document.uri.toString();
    let state = this.documents.get(key);
    if (!state) this.documents.set(key, (state = { version: -1, cutWith: '', segments: [] }));
    return state;
  }

  /** The document's segments, cut again only when the text or the settings changed. */
  private segmentsOf(document: vscode.TextDocument): Segment[] {
    const state = this.stateOf(document);
    const options = {
      granularity: this.settings.granularity,
      minLength: this.settings.minLength,
      markdown: document.languageId === 'markdown',
    };
    const cutWith = JSON.stringify(options);
    if (state.version !== document.version || state.cutWith !== cutWith) {
      state.segments = splitIntoSegments(document.getText().split(/\r\n|\r|\n/), options);
      state.version = document.version;
      state.cutWith = cutWith;
    }
    return state.segments;
  }

  private forget(document: vscode.TextDocument): void {
    const key = document.uri.toString();
    const state = this.documents.get(key);
    if (state) {
      cancel(state);
      if (state.timer) clearTimeout(state.timer);
    }
    this.documents.delete(key);
    this.renderQueue.delete(document);
    if (this.selectionHover?.uri === key) this.selectionHover = undefined;
  }

  dispose(): void {
    for (const document of [...this.documents.keys()]) {
      const state = this.documents.get(document);
      if (state) {
        cancel(state);
        if (state.timer) clearTimeout(state.timer);
      }
    }
    this.documents.clear();
    if (this.renderTimer) clearTimeout(this.renderTimer);
    for (const disposable of this.disposables.splice(0).reverse()) disposable.dispose();
  }
}

/**
 * The lines an editor shows (`from…to`) and the window around them that gets annotations and
 * predictions ahead of scrolling: a page above and a page below.
 */
function viewOf(editor: vscode.TextEditor): { from: number; to: number; window: { from: number; to: number } } {
  const ranges = editor.visibleRanges;
  const from = ranges.length > 0 ? Math.min(...ranges.map((r) => r.start.line)) : 0;
  const to = ranges.length > 0 ? Math.max(...ranges.map((r) => r.end.line)) : Math.min(editor.document.lineCount - 1, 60);
  const page = Math.max(to - from + 1, 20);
  return { from, to, window: { from: Math.max(from - page, 0), to: to + page } };
}

function cancel(state: DocumentState): void {
  state.requests?.cancel();
  state.requests?.dispose();
  state.requests = undefined;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function formatTime(iso: string | undefined): string | undefined {
  if (!iso) return undefined;
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : time.toLocaleString(vscode.env.language);
}
