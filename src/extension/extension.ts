import type * as vscode from 'vscode';
import { registerAnnotations } from './annotations';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { registerTraining } from './training';

let ctx: Ctx | undefined;

export function activate(extension: vscode.ExtensionContext): void {
  ctx = new Ctx(extension);
  extension.subscriptions.push(ctx);
  registerCommands(ctx);
  registerAnnotations(ctx);
  registerTraining(ctx);
  // Start the server now, so the first command does not wait for it; failures surface on use.
  ctx.languageClient().catch((error) => ctx?.outputChannel.appendLine(`Language server failed to start: ${error}`));
}

export function deactivate(): Promise<void> | undefined {
  return ctx?.stopServer();
}
