/**
 * The notification that follows a run while it trains: a progress bar with the step, loss and ETA,
 * and a Cancel button that stops the run (keeping the best checkpoint so far).
 */
import * as vscode from 'vscode';
import type { RunInfo } from '../../shared/protocol';
import { describeProgress, progressShare } from './format';
import { isActive, type TrainingRuns } from './runs';

export function showRunProgress(runs: TrainingRuns, run: RunInfo, log: vscode.OutputChannel): void {
  const options = { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('BERT: training {0}', run.title), cancellable: true };
  void vscode.window.withProgress(options, (progress, token) => {
    let shown = 0;
    return new Promise<void>((resolve) => {
      const subscription = runs.onDidChange(({ run: changed }) => {
        if (changed.id !== run.id) return;
        const share = progressShare(changed) * 100;
        progress.report({ message: describeProgress(changed), increment: Math.max(0, share - shown) });
        shown = Math.max(shown, share);
        if (!isActive(changed)) {
          subscription.dispose();
          resolve();
        }
      });
      token.onCancellationRequested(() => {
        progress.report({ message: vscode.l10n.t('stopping after this step; the best weights so far are kept…') });
        runs.stop(run.id).catch((error) => log.appendLine(`Stopping the run failed: ${error}`));
      });
    });
  });
}
