/**
 * Starting the language server: the bundled `dist/server.js`, spoken to over Node IPC.
 *
 * A server that dies is restarted (at most five times in three minutes); what that means for a
 * training run cut short is for `training/runs.ts` to tell the user, so the restart itself is quiet.
 */
import * as vscode from 'vscode';
import {
  CloseAction,
  type CloseHandlerResult,
  ErrorAction,
  type ErrorHandler,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';
import type { ServerInitOptions } from '../shared/protocol';
import type { Config } from './config';
import { nativeSearchPaths } from './native/install';

/** Files whose changes may fix (or break) a dataset that has diagnostics. */
const DATASET_FILES = '**/*.{csv,tsv,tab,jsonl,ndjson,json,parquet,txt}';

export function createClient(
  extension: vscode.ExtensionContext,
  config: Config,
  outputChannel: vscode.OutputChannel,
): LanguageClient {
  const module = extension.asAbsolutePath('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6011'] } },
  };
  const storage = extension.storageUri ?? extension.globalStorageUri;
  const initializationOptions: ServerInitOptions = {
    backend: config.backend,
    cacheDir: config.hub().cacheDir ?? vscode.Uri.joinPath(extension.globalStorageUri, 'models').fsPath,
    // Where "Install Native Acceleration" puts the optional @tensorflow/tfjs-node(-gpu) (native/install.ts).
    nativeSearchPaths: nativeSearchPaths(extension.globalStorageUri.fsPath),
    runsDir: vscode.Uri.joinPath(storage, 'runs').fsPath,
  };
  const clientOptions: LanguageClientOptions = {
    // The texts that hovers and annotations will work on.
    documentSelector: [{ scheme: 'file', language: 'plaintext' }],
    initializationOptions,
    outputChannel,
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher(DATASET_FILES, true, false, true) },
    errorHandler: restartingErrorHandler(outputChannel),
  };
  return new LanguageClient('bertWorkbench', 'BERT Workbench', serverOptions, clientOptions);
}

/** Restarts a server that died, unless it keeps dying: five times within three minutes is enough. */
function restartingErrorHandler(log: vscode.OutputChannel): ErrorHandler {
  const restarts: number[] = [];
  return {
    error: () => ({ action: ErrorAction.Continue }),
    closed: (): CloseHandlerResult => {
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && now - restarts[0] > 3 * 60_000) restarts.shift();
      if (restarts.length > 5) {
        return {
          action: CloseAction.DoNotRestart,
          message: vscode.l10n.t('The BERT Workbench language server stopped five times in three minutes and will not be restarted. Reload the window to try again.'),
        };
      }
      log.appendLine(`[${new Date().toLocaleTimeString()}] The language server stopped; restarting it.`);
      return { action: CloseAction.Restart, handled: true };
    },
  };
}
