/**
 * Turning a failed request into one clear message for the user. A user's mistake arrives from the
 * server as a `ResponseError` carrying `UserError.toJSON()`; anything else is shown by its message
 * and logged in full to the output channel.
 */
import * as vscode from 'vscode';
import { ResponseError } from 'vscode-languageclient/node';
import { describeUserError, isUserErrorData } from '../shared/protocol';

export function describeError(error: unknown): string {
  if (error instanceof ResponseError && isUserErrorData(error.data)) return describeUserError(error.data);
  return error instanceof Error ? error.message : String(error);
}

export function showError(error: unknown, log: vscode.OutputChannel): void {
  const isUserMistake = error instanceof ResponseError && isUserErrorData(error.data);
  if (!isUserMistake) log.appendLine(error instanceof Error ? (error.stack ?? error.message) : String(error));
  void vscode.window.showErrorMessage(vscode.l10n.t('BERT: {0}', describeError(error)));
}

/**
 * Models are code-adjacent (a workspace could point the settings at any folder), so they are not
 * loaded while the workspace is untrusted. Says so (or `message`, for other refusals: installing
 * native acceleration) and returns false in that case.
 */
export function checkTrusted(message?: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  const manage = vscode.l10n.t('Manage Workspace Trust');
  void vscode.window
    .showWarningMessage(
      message ?? vscode.l10n.t('BERT: models are not loaded in an untrusted workspace. Trust this workspace to use BERT Workbench.'),
      manage,
    )
    .then((choice) => choice === manage && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}
