/**
 * What the user is told when a run ends: its result (with the panel and the model folder a click
 * away), its problem (going to the line of the dataset that caused it), or that it was cut short
 * and can be resumed.
 */
import * as vscode from 'vscode';
import { resumableRunStatuses, type RunEventParams, type RunInfo } from '../../shared/protocol';
import type { Ctx } from '../ctx';
import { showError } from '../errors';
import { describeLearning, describeOutcome } from './format';
import { showProblem } from './problems';
import { isActive } from './runs';

export function announceOutcomes(ctx: Ctx): vscode.Disposable {
  return vscode.Disposable.from(
    ctx.training.onDidChange((params) => void announceEnd(ctx, params)),
    ctx.training.onDidInterrupt(({ run, serverStopped }) => void offerResume(ctx, run, serverStopped)),
  );
}

async function announceEnd(ctx: Ctx, { run, event }: RunEventParams): Promise<void> {
  if (run.status === 'failed' && !event) return announceFailure(ctx, run);
  if (event?.event !== 'done' || isActive(run) || run.status === 'interrupted') return;
  const openPanel = vscode.l10n.t('Open Training Panel');
  const openFolder = vscode.l10n.t('Open Model Folder');
  const message = `${describeOutcome(run)} ${vscode.l10n.t('Predictions now use this model.')}`;
  // The small-data guard: a model that did not learn is a warning, with what to try (listed in full in the panel).
  const learning = run.learning
    ? ` ${describeLearning(run.learning)} ${vscode.l10n.t('Try more epochs, a pre-trained model, adapting to the dataset first, or more labelled data: the training panel says more.')}`
    : '';
  const choice = learning
    ? await vscode.window.showWarningMessage(`${message}${learning}`, openPanel, openFolder)
    : await vscode.window.showInformationMessage(message, openPanel, openFolder);
  if (choice === openPanel) await vscode.commands.executeCommand('bertWorkbench.openPanel', run.id);
  if (choice === openFolder) await vscode.commands.executeCommand('bertWorkbench.openModelFolder', run.id);
}

async function announceFailure(ctx: Ctx, run: RunInfo): Promise<void> {
  const error = run.error ?? { message: vscode.l10n.t('unknown error') };
  if (error.kind) return showProblem(error, vscode.l10n.t('BERT: training failed: '));
  const showLog = vscode.l10n.t('Show Log');
  const choice = await vscode.window.showErrorMessage(vscode.l10n.t('BERT: training failed: {0}', error.message), showLog);
  if (choice === showLog) ctx.outputChannel.show(true);
}

async function offerResume(ctx: Ctx, run: RunInfo, serverStopped: boolean): Promise<void> {
  const message = serverStopped
    ? vscode.l10n.t('BERT: the language server stopped during training ({0}) and has been restarted. Resume from the last checkpoint?', run.title)
    : vscode.l10n.t('BERT: the training run {0} was interrupted (the window was reloaded or closed). Resume from the last checkpoint?', run.title);
  const resume = vscode.l10n.t('Resume Training');
  const showLog = vscode.l10n.t('Show Log');
  const choice = await vscode.window.showWarningMessage(message, resume, showLog);
  if (choice === showLog) ctx.outputChannel.show(true);
  if (choice !== resume || !resumableRunStatuses.includes(ctx.training.get(run.id)?.status ?? run.status)) return;
  await ctx.training.resume(run.id).catch((error) => showError(error, ctx.outputChannel));
}
