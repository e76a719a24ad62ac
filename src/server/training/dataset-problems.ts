/**
 * Dataset problems as diagnostics: a mistake in the data (a `UserError` with a file and a line)
 * is published with `textDocument/publishDiagnostics` on that line of that file, so it shows in
 * the editor and the Problems view like any other error. It is cleared when the dataset next loads
 * cleanly, which is checked again whenever one of its files changes on disk.
 *
 * Published from the server because the server is where the problem is found (while inspecting or
 * while training), and because LSP diagnostics need no client code: the language client shows them.
 */
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve, dirname } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver/node';
import { isUserError, type UserError } from '../engine/errors';
import type { DatasetOptions } from '../engine/data';

export const DIAGNOSTIC_SOURCE = 'BERT Workbench';

export interface DiagnosticsSink {
  sendDiagnostics(params: { uri: string; diagnostics: Diagnostic[] }): void;
}

interface Problem {
  uris: string[];
  options: DatasetOptions;
}

export class DatasetProblems {
  /** By dataset path: the files that carry its diagnostics, and how it was read. */
  private readonly problems = new Map<string, Problem>();
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly sink: DiagnosticsSink,
    /** Loads the dataset again; throws when it is still broken. */
    private readonly recheck: (path: string, options: DatasetOptions) => Promise<unknown>,
  ) {}

  /** Shows `error` on its line when it is a user's mistake in a file; returns whether it did. */
  report(datasetPath: string, options: DatasetOptions, error: unknown): boolean {
    this.clear(datasetPath);
    if (!isUserError(error) || !error.file) return false;
    const file = isAbsolute(error.file) ? error.file : resolve(dirname(datasetPath), error.file);
    if (!isFile(file)) return false;
    const uri = pathToFileURL(file).href;
    this.sink.sendDiagnostics({ uri, diagnostics: [toDiagnostic(error)] });
    this.problems.set(datasetPath, { uris: [uri], options });
    return true;
  }

  /** The dataset loaded cleanly: its diagnostics go. */
  clear(datasetPath: string): void {
    const problem = this.problems.get(datasetPath);
    if (!problem) return;
    this.problems.delete(datasetPath);
    for (const uri of problem.uris) this.sink.sendDiagnostics({ uri, diagnostics: [] });
  }

  /** Files changed on disk: datasets with problems among them are read again (debounced). */
  filesChanged(uris: string[]): void {
    const paths = uris.filter((uri) => uri.startsWith('file:')).map((uri) => fileURLToPath(uri));
    for (const [datasetPath, problem] of this.problems) {
      if (!paths.some((path) => within(path, datasetPath))) continue;
      clearTimeout(this.pending.get(datasetPath));
      this.pending.set(datasetPath, setTimeout(() => void this.check(datasetPath, problem.options), 300));
    }
  }

  private async check(datasetPath: string, options: DatasetOptions): Promise<void> {
    this.pending.delete(datasetPath);
    try {
      await this.recheck(datasetPath, options);
      this.clear(datasetPath);
    } catch (error) {
      this.report(datasetPath, options, error);
    }
  }

  dispose(): void {
    for (const timer of this.pending.values()) clearTimeout(timer);
  }
}

function toDiagnostic(error: UserError): Diagnostic {
  const line = Math.max(0, (error.line ?? 1) - 1);
  return {
    // The whole line: from its start to the start of the next one.
    range: { start: { line, character: 0 }, end: { line: line + 1, character: 0 } },
    severity: DiagnosticSeverity.Error,
    source: DIAGNOSTIC_SOURCE,
    code: error.kind,
    message: error.fix ? `${error.message}\n${error.fix}` : error.message,
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function within(path: string, datasetPath: string): boolean {
  const rel = relative(datasetPath, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
