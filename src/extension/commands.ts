/**
 * The commands, registered from one table. Each entry is a function of the context that returns
 * the command's handler; handlers report failures as one clear message.
 */
import * as vscode from 'vscode';
import { engineInfo, type EngineInfo, predict, type Prediction } from '../shared/protocol';
import type { Ctx } from './ctx';
import { checkTrusted, showError } from './errors';
import { installNativeAcceleration } from './native/command';
import { describeBackendSource, nativeNotUsed, nativeSearchPaths } from './native/install';
import { TrainingPanel } from './panel';
import {
  fineTune,
  loadModel,
  openModelFolder,
  openSampleWorkspace,
  resumeTraining,
  stopTraining,
} from './training/commands';

/** A command's handler; what it returns is the command's result (e.g. the id of the run started). */
export type Handler = (...args: unknown[]) => unknown;

const commands: Record<string, (ctx: Ctx) => Handler> = {
  'bertWorkbench.predictSelection': predictSelection,
  'bertWorkbench.showEngineInfo': showEngineInfo,
  'bertWorkbench.installNativeAcceleration': installNativeAcceleration,
  'bertWorkbench.fineTune': fineTune,
  'bertWorkbench.openPanel': openPanel,
  'bertWorkbench.stopTraining': stopTraining,
  'bertWorkbench.resumeTraining': resumeTraining,
  'bertWorkbench.loadModel': loadModel,
  'bertWorkbench.openModelFolder': openModelFolder,
  'bertWorkbench.openSampleWorkspace': openSampleWorkspace,
};

export function registerCommands(ctx: Ctx): void {
  for (const [id, makeHandler] of Object.entries(commands)) {
    const handler = makeHandler(ctx);
    ctx.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(...args);
        } catch (error) {
          showError(error, ctx.outputChannel);
          return undefined;
        }
      }),
    );
  }
}

/** Classifies the selection (or the cursor's line) and shows the label and every probability. */
function predictSelection(ctx: Ctx): Handler {
  return async () => {
    const editor = vscode.window.activeTextEditor;
    const text = editor ? textToClassify(editor) : '';
    if (!text.trim()) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t('BERT: select some text, or put the cursor on a line that has some.'),
      );
      return;
    }
    if (!checkTrusted()) return;
    const client = await ctx.languageClient();
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('BERT: predicting…') },
      // The model trained or loaded in this workspace, else the setting's.
      () => client.sendRequest(predict, { model: ctx.activeModel.current?.ref ?? ctx.config.modelRef, texts: [text], maxLength: ctx.config.maxLength }),
    );
    void vscode.window.showInformationMessage(formatPrediction(result.predictions[0]));
    // The same content as the inline predictions' hovers (every class, a bar each, the model): annotations/index.ts.
    void vscode.commands.executeCommand('bertWorkbench.showPredictionHover', result.info.modelRef);
  };
}

function textToClassify(editor: vscode.TextEditor): string {
  const { selection, document } = editor;
  return selection.isEmpty ? document.lineAt(selection.active.line).text : document.getText(selection);
}

/** `BERT: positive — negative 12.3%, positive 87.7%` */
export function formatPrediction(prediction: Prediction): string {
  const probabilities = Object.entries(prediction.probs)
    .map(([label, p]) => `${label} ${(p * 100).toFixed(1)}%`)
    .join(', ');
  return vscode.l10n.t('BERT: {0} — {1}', prediction.label, probabilities);
}

/**
 * Loads the configured model (if needed) and shows the backend and where it was loaded from, the
 * model and its labels; also why native acceleration, when installed, is not in use.
 */
function showEngineInfo(ctx: Ctx): Handler {
  return async () => {
    if (!checkTrusted()) return;
    const client = await ctx.languageClient();
    const info = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('BERT: loading the model…') },
      () => client.sendRequest(engineInfo, { model: ctx.config.modelRef }),
    );
    ctx.outputChannel.appendLine(JSON.stringify(info, null, 2));
    const details = vscode.l10n.t('Details');
    const searchPaths = nativeSearchPaths(ctx.extension.globalStorageUri.fsPath);
    const choice = await vscode.window.showInformationMessage(describeEngine(info, ctx.config.model, searchPaths, ctx.config.backend), details);
    if (choice === details) ctx.outputChannel.show(true);
  };
}

function describeEngine(info: EngineInfo, model: string, searchPaths: string[], backendSetting: string): string {
  const t = (message: string, ...args: (string | number)[]) => vscode.l10n.t(message, ...args);
  const labels = info.model?.labels.join(', ') ?? '?';
  const notes = [...(info.model?.warnings ?? []), nativeNotUsed(info, searchPaths, backendSetting, t)].filter((n): n is string => !!n);
  return vscode.l10n.t(
    'BERT engine: backend {0} ({1}) · training workers {6} · model {2} · labels {3} · TF.js {4}{5}',
    info.computes,
    describeBackendSource(info, searchPaths, t),
    model,
    labels,
    info.versions['@tensorflow/tfjs-core'] ?? '?',
    notes.length ? ` (${notes.join('; ')})` : '',
    info.autoWorkers,
  );
}

/** Opens the training panel, on the given run (a run id) or the newest. */
function openPanel(ctx: Ctx): Handler {
  return (runId?: unknown) => TrainingPanel.show(ctx, typeof runId === 'string' ? runId : undefined);
}
