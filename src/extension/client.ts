/**
 * Starting the language server: the bundled `dist/server.js`, spoken to over Node IPC.
 */
import * as vscode from 'vscode';
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';
import type { ServerInitOptions } from '../shared/protocol';
import type { Config } from './config';

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
  const initializationOptions: ServerInitOptions = {
    backend: config.backend,
    cacheDir: vscode.Uri.joinPath(extension.globalStorageUri, 'models').fsPath,
    // Users may install the optional @tensorflow/tfjs-node(-gpu) accelerators here.
    nativeSearchPaths: [extension.globalStorageUri.fsPath],
  };
  const clientOptions: LanguageClientOptions = {
    // The texts that hovers and annotations will work on.
    documentSelector: [{ scheme: 'file', language: 'plaintext' }],
    initializationOptions,
    outputChannel,
  };
  return new LanguageClient('bertWorkbench', 'BERT Workbench', serverOptions, clientOptions);
}
