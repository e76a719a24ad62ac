/**
 * How runs read in the status bar, notifications and the log: short, localized, the same everywhere.
 */
import * as vscode from 'vscode';
import type { LearningCheck, RunInfo } from '../../shared/protocol';

/** `1:05` or `1:02:05`; `—` when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

export function percent(share: number | undefined, digits = 1): string {
  return share === undefined ? '—' : `${(share * 100).toFixed(digits)}%`;
}

/** Steps done out of the total, 0…1. */
export function progressShare(run: RunInfo): number {
  const p = run.progress;
  return p && p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0;
}

/** One line: what the run is doing now (adapting to the dataset's text first, or fine-tuning). */
export function describeProgress(run: RunInfo): string {
  const p = run.progress;
  if (run.status === 'preparing' || !p) {
    return run.activity ? vscode.l10n.t('preparing: {0}', run.activity) : vscode.l10n.t('reading the data and loading the model…');
  }
  if (run.phase === 'mlm') {
    return vscode.l10n.t('adapting to the dataset: masked-LM step {0}/{1} · loss {2} · ETA {3}', p.step, p.totalSteps, p.loss?.toFixed(4) ?? '—', formatDuration(p.etaSec));
  }
  return vscode.l10n.t(
    'step {0}/{1} · epoch {2}/{3} · loss {4} · ETA {5}',
    p.step,
    p.totalSteps,
    p.epoch.toFixed(2),
    p.epochs,
    p.loss?.toFixed(4) ?? '—',
    formatDuration(p.etaSec),
  );
}

/** How a run ended, for a message. */
export function describeOutcome(run: RunInfo): string {
  const best = run.best
    ? vscode.l10n.t('best validation accuracy {0} (macro F1 {1}) at epoch {2}', percent(run.best.accuracy), percent(run.best.macroF1), run.best.epoch.toFixed(1))
    : vscode.l10n.t('no evaluation ran');
  switch (run.status) {
    case 'completed':
      return vscode.l10n.t('BERT: training finished: {0}.', best);
    case 'early-stopped':
      return vscode.l10n.t('BERT: training stopped early (no more improvement): {0}.', best);
    case 'cancelled':
      return vscode.l10n.t('BERT: training stopped; the best weights so far were kept: {0}.', best);
    default:
      return vscode.l10n.t('BERT: training {0}.', run.status);
  }
}

/** The small-data guard's finding (see the engine's learning-check.ts), for a message. */
export function describeLearning(check: LearningCheck): string {
  return check.best <= check.baseline
    ? vscode.l10n.t(
        'Validation accuracy {0} is no better than always answering "{1}" ({2}): the model did not learn from {3} training examples.',
        percent(check.best),
        check.baselineLabel,
        percent(check.baseline),
        check.numTrain,
      )
    : vscode.l10n.t(
        'Validation accuracy {0} is not clearly better than always answering "{1}" ({2}): the model hardly learned from {3} training examples.',
        percent(check.best),
        check.baselineLabel,
        percent(check.baseline),
        check.numTrain,
      );
}
