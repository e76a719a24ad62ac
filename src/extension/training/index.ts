/**
 * The training UI that lives as long as the extension: the status bar item, the log, the messages
 * when runs end, the progress notification and the panel when one starts, and the panel's
 * restoration after a window reload.
 */
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { registerPanelSerializer, TrainingPanel } from '../panel';
import { TrainingLog } from './log';
import { announceOutcomes } from './outcome';
import { showRunProgress } from './progress';
import { TrainingStatusBar } from './status-bar';

export function registerTraining(ctx: Ctx): void {
  ctx.push(
    new TrainingStatusBar(ctx.training),
    new TrainingLog(ctx.training, ctx.outputChannel),
    announceOutcomes(ctx),
    registerPanelSerializer(ctx),
    ctx.training.onDidStart((run) => {
      showRunProgress(ctx.training, run, ctx.outputChannel);
      if (ctx.config.openPanelOnTrain) TrainingPanel.show(ctx, run.id, vscode.ViewColumn.Beside);
    }),
  );
}
