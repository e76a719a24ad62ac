/**
 * The status bar item of a training run: progress, loss and ETA while it runs, the result for a
 * while after it ends; a click opens the training panel.
 */
import * as vscode from 'vscode';
import type { RunInfo } from '../../shared/protocol';
import { describeLearning, describeProgress, formatDuration, percent, progressShare } from './format';
import { isActive, type TrainingRuns } from './runs';

/** How long the result of a finished run stays in the status bar. */
const RESULT_MS = 60_000;

export class TrainingStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('bertWorkbench.training', vscode.StatusBarAlignment.Left, 10);
  private readonly subscription: vscode.Disposable;
  private hideTimer: NodeJS.Timeout | undefined;

  constructor(runs: TrainingRuns) {
    this.item.name = vscode.l10n.t('BERT Training');
    this.item.command = 'bertWorkbench.openPanel';
    this.subscription = runs.onDidChange(({ run, event }) => {
      // Only the run going on (or the one that just ended) is shown.
      if (isActive(run) || runs.active === undefined) this.show(run);
    });
  }

  private show(run: RunInfo): void {
    clearTimeout(this.hideTimer);
    const p = run.progress;
    if (isActive(run)) {
      const loss = p?.loss !== undefined ? ` · ${p.loss.toFixed(3)}` : '';
      const eta = p?.etaSec !== undefined && p.step > 0 ? ` · ${formatDuration(p.etaSec)}` : '';
      const phase = run.phase === 'mlm' ? `${vscode.l10n.t('adapting')} ` : '';
      this.item.text = `$(loading~spin) BERT ${phase}${Math.floor(progressShare(run) * 100)}%${loss}${eta}`;
      this.item.backgroundColor = undefined;
    } else {
      const ok = run.status === 'completed' || run.status === 'early-stopped';
      const result = run.best ? ` · ${vscode.l10n.t('accuracy {0}', percent(run.best.accuracy))}` : '';
      const icon = run.learning ? '$(warning)' : ok ? '$(pass)' : run.status === 'failed' ? '$(error)' : '$(debug-pause)';
      this.item.text = `${icon} BERT${result}`;
      this.item.backgroundColor = run.status === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
      this.hideTimer = setTimeout(() => this.item.hide(), RESULT_MS);
    }
    this.item.tooltip = tooltip(run, run.workers);
    this.item.accessibilityInformation = { label: `${run.title}: ${run.status}, ${describeProgress(run)}` };
    this.item.show();
  }

  dispose(): void {
    clearTimeout(this.hideTimer);
    this.subscription.dispose();
    this.item.dispose();
  }
}

function tooltip(run: RunInfo, workers: number | undefined): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escape(run.title)}** — ${escape(run.status)}\n\n`);
  md.appendMarkdown(`${escape(describeProgress(run))}\n\n`);
  if (run.backend) {
    const threads = workers === undefined ? '' : ` · ${workers === 1 ? vscode.l10n.t('1 worker') : vscode.l10n.t('{0} workers', workers)}`;
    md.appendMarkdown(`${escape(vscode.l10n.t('backend {0}', run.backend) + threads)}\n\n`);
  }
  if (run.best) md.appendMarkdown(`${escape(vscode.l10n.t('best: accuracy {0}, macro F1 {1} (epoch {2})', percent(run.best.accuracy), percent(run.best.macroF1), run.best.epoch.toFixed(1)))}\n\n`);
  if (run.learning) md.appendMarkdown(`$(warning) ${escape(describeLearning(run.learning))}\n\n`);
  md.appendMarkdown(escape(vscode.l10n.t('Click to open the training panel.')));
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
