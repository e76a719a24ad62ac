/**
 * The server's training runs as the extension sees them: the requests that start, stop, resume
 * and replay runs, the `runEvent` notifications (re-fired for the status bar, the progress
 * notification, the log and the panel), the `bertWorkbench.training` context key, the active model
 * once a run has saved one, and what to say when a run was cut short by a server that stopped.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type LanguageClient, State } from 'vscode-languageclient/node';
import {
  activeRunStatuses,
  listRuns,
  resumeRun,
  runEvent,
  type RunEventParams,
  runHistory,
  type RunHistory,
  type RunInfo,
  startRun,
  type StartRunParams,
  stopRun,
} from '../../shared/protocol';
import type { Ctx } from '../ctx';

const ACKNOWLEDGED_KEY = 'bertWorkbench.acknowledgedInterruptedRuns';

export function isActive(run: RunInfo | undefined): boolean {
  return run !== undefined && activeRunStatuses.includes(run.status);
}

export class TrainingRuns implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunEventParams>();
  /** Every change of every run (a new run arrives first with status `preparing`). */
  readonly onDidChange = this.changed.event;
  private readonly started = new vscode.EventEmitter<RunInfo>();
  /** A run this window has not seen before has started (from the flow, a resume, or another window). */
  readonly onDidStart = this.started.event;
  private readonly interrupted = new vscode.EventEmitter<{ run: RunInfo; serverStopped: boolean }>();
  /** A run was cut short by a server that stopped (a crash, a restart, a window reload). */
  readonly onDidInterrupt = this.interrupted.event;

  private readonly known = new Map<string, RunInfo>();
  private readonly disposables: vscode.Disposable[] = [this.changed, this.started, this.interrupted];

  constructor(private readonly ctx: Ctx) {
    this.disposables.push(ctx.onDidCreateClient((client) => this.wire(client)));
  }

  /** The run going on now, if any. */
  get active(): RunInfo | undefined {
    return [...this.known.values()].find(isActive);
  }

  /** The newest run this window knows of. */
  get latest(): RunInfo | undefined {
    return [...this.known.values()].sort((a, b) => b.id.localeCompare(a.id))[0];
  }

  get(runId: string): RunInfo | undefined {
    return this.known.get(runId);
  }

  async start(params: StartRunParams): Promise<RunInfo> {
    const run = await (await this.ctx.languageClient()).sendRequest(startRun, params);
    this.receive({ run });
    return run;
  }

  async stop(runId?: string): Promise<boolean> {
    const { stopped } = await (await this.ctx.languageClient()).sendRequest(stopRun, { runId });
    return stopped;
  }

  async resume(runId: string): Promise<RunInfo> {
    const run = await (await this.ctx.languageClient()).sendRequest(resumeRun, { runId });
    this.receive({ run });
    return run;
  }

  async list(): Promise<RunInfo[]> {
    const { runs } = await (await this.ctx.languageClient()).sendRequest(listRuns, {});
    for (const run of runs) this.known.set(run.id, run);
    return runs;
  }

  async history(runId: string): Promise<RunHistory | undefined> {
    return (await (await this.ctx.languageClient()).sendRequest(runHistory, { runId })) ?? undefined;
  }

  private wire(client: LanguageClient): void {
    client.onNotification(runEvent, (params) => this.receive(params));
    this.disposables.push(
      client.onDidChangeState(({ newState }) => {
        if (newState === State.Running) void this.sync().catch((error) => this.ctx.outputChannel.appendLine(`Reading the training runs failed: ${error}`));
      }),
    );
  }

  private receive(params: RunEventParams): void {
    const { run } = params;
    const before = this.known.get(run.id);
    this.known.set(run.id, run);
    if (!before && isActive(run)) this.started.fire(run);
    this.changed.fire(params);
    if (isActive(before) !== isActive(run)) void vscode.commands.executeCommand('setContext', 'bertWorkbench.training', isActive(this.active));
    if (params.event?.event === 'done' && run.status !== 'interrupted') void this.useModelOf(run);
  }

  /** A finished run's model becomes the one predictions use. */
  private async useModelOf(run: RunInfo): Promise<void> {
    await this.ctx.activeModel.set({ ref: run.outDir, trainedAt: run.finishedAt ?? new Date().toISOString(), name: path.basename(run.outDir) });
  }

  /**
   * After the server (re)starts: learn its runs, and report runs it found cut short. A run this
   * window watched while it was active means the server stopped under it; others were cut short
   * by a reload or a closed window. Each is reported once.
   */
  private async sync(): Promise<void> {
    const before = new Map([...this.known].map(([id, run]) => [id, run.status]));
    const runs = await this.list();
    for (const run of runs) if (before.has(run.id) && before.get(run.id) !== run.status) this.changed.fire({ run });
    void vscode.commands.executeCommand('setContext', 'bertWorkbench.training', isActive(this.active));
    const acknowledged = new Set(this.ctx.extension.workspaceState.get<string[]>(ACKNOWLEDGED_KEY, []));
    const fresh = runs.filter((run) => run.status === 'interrupted' && !acknowledged.has(run.id));
    if (fresh.length === 0) return;
    await this.ctx.extension.workspaceState.update(ACKNOWLEDGED_KEY, [...acknowledged, ...fresh.map((run) => run.id)].slice(-50));
    // Only the newest is worth a message; older ones stay resumable from the panel.
    const newest = fresh[0];
    const watched = before.has(newest.id) && activeRunStatuses.includes(before.get(newest.id)!);
    this.interrupted.fire({ run: newest, serverStopped: watched });
  }

  dispose(): void {
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
