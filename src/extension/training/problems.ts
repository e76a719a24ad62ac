/**
 * Showing a problem the user can fix: one message naming the file and line, with buttons that go
 * to the line (where the server's diagnostic marks it) or open the Problems view.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { ResponseError } from 'vscode-languageclient/node';
import { isUserErrorData, type RunError } from '../../shared/protocol';

/** A problem from a failed request, or undefined when the error is not a user's mistake. */
export function problemOf(error: unknown): RunError | undefined {
  if (!(error instanceof ResponseError) || !isUserErrorData(error.data)) return undefined;
  const { error: message, kind, file, line, fix } = error.data;
  return { message, kind, file, line, fix };
}

/** Shows the problem; resolves once the user has picked a button or closed the message. */
export async function showProblem(problem: RunError, prefix = vscode.l10n.t('BERT: ')): Promise<void> {
  const where = problem.file ? `${vscode.workspace.asRelativePath(problem.file)}${problem.line ? `:${problem.line}` : ''}: ` : '';
  const text = `${prefix}${where}${problem.message}${problem.fix ? ` ${problem.fix}` : ''}`;
  const inFile = problem.file !== undefined && isFile(problem.file);
  const goTo = vscode.l10n.t('Go to Problem');
  const problems = vscode.l10n.t('Show Problems');
  const choice = await vscode.window.showErrorMessage(text, ...(inFile ? [goTo, problems] : []));
  if (choice === goTo) await revealLine(problem.file!, problem.line ?? 1);
  if (choice === problems) await vscode.commands.executeCommand('workbench.actions.view.problems');
}

export async function revealLine(file: string, line: number): Promise<void> {
  const position = new vscode.Position(Math.max(0, line - 1), 0);
  await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(position, position), preview: false });
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
