/**
 * The training log in the "BERT Workbench" output channel: the dataset summary, then one line per
 * progress report and evaluation, then the result — what the CLI prints, with times.
 */
import * as vscode from 'vscode';
import type { FineTuneEvent } from '../../server/engine/fine-tune';
import { formatLearningCheck } from '../../server/engine/train/learning-check';
import type { RunEventParams, RunInfo } from '../../shared/protocol';
import { formatDuration, percent } from './format';
import type { TrainingRuns } from './runs';

export class TrainingLog implements vscode.Disposable {
  private readonly subscription: vscode.Disposable;
  private readonly statuses = new Map<string, RunInfo['status']>();

  constructor(runs: TrainingRuns, private readonly channel: vscode.OutputChannel) {
    this.subscription = runs.onDidChange((params) => this.write(params));
  }

  private write({ run, event }: RunEventParams): void {
    const line = event ? eventLine(event) : this.statusLine(run);
    if (line) this.channel.appendLine(`[${new Date().toLocaleTimeString()}] ${run.id} ${line}`);
  }

  private statusLine(run: RunInfo): string | undefined {
    if (this.statuses.get(run.id) === run.status) return run.activity;
    this.statuses.set(run.id, run.status);
    if (run.status === 'preparing') return `${run.title}: ${run.resumedFrom ? `resuming ${run.resumedFrom}` : 'starting'}; model folder ${run.outDir}`;
    if (run.status === 'failed') return `failed: ${run.error?.file ? `${run.error.file}${run.error.line ? `:${run.error.line}` : ''}: ` : ''}${run.error?.message ?? ''} ${run.error?.fix ?? ''}`;
    return run.status;
  }

  dispose(): void {
    this.subscription.dispose();
  }
}

function eventLine(e: FineTuneEvent): string | undefined {
  switch (e.event) {
    case 'dataset': {
      const s = e.summary;
      const splits = (['train', 'validation', 'test'] as const).map((x) => `${x} ${s.splits[x].examples}`).join(', ');
      return `dataset ${s.path} (${s.format}): ${s.rows.kept} of ${s.rows.read} rows kept; ${splits}; labels ${s.id2label.join(', ')}`;
    }
    case 'start':
      if (e.phase === 'mlm') {
        return `adapting ${e.modelRef} to the dataset's text (masked LM) on ${e.backend}${workersText(e.workers)}: ${e.numTrain} texts, ` +
          `${e.numValidation} held out, ${e.totalSteps} steps${e.resumedFromStep ? `, resumed at step ${e.resumedFromStep}` : ''}`;
      }
      return `training ${e.modelRef} on ${e.backend}${workersText(e.workers)}: ${e.numTrain} examples, ${e.totalSteps} steps (${e.stepsPerEpoch} per epoch), ` +
        `${e.trainableParameters.toLocaleString('en-US')} of ${e.numParameters.toLocaleString('en-US')} parameters trained` +
        `${e.resumedFromStep ? `, resumed at step ${e.resumedFromStep}` : ''}`;
    case 'step':
      return `${e.phase === 'mlm' ? 'masked-LM ' : ''}step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  lr ${e.learningRate.toExponential(2)}  ` +
        `${e.samplesPerSec.toFixed(1)} samples/s  ETA ${formatDuration(e.etaSec)}`;
    case 'eval':
      return `${e.split} at step ${e.step}: accuracy ${percent(e.metrics.accuracy, 2)}  macro F1 ${percent(e.metrics.macroF1, 2)}` +
        `${e.metrics.loss !== undefined ? `  loss ${e.metrics.loss.toFixed(4)}` : ''}${e.isBest ? '  (best so far)' : ''}`;
    case 'mlm-eval':
      return `masked LM on held-out text at step ${e.step}: loss ${e.metrics.loss.toFixed(4)}  accuracy ${percent(e.metrics.accuracy, 2)} of ${e.metrics.tokens} tokens`;
    case 'checkpoint':
      return `checkpoint at step ${e.step}: ${e.dir}`;
    case 'done':
      return `${e.status} after ${e.steps} steps in ${formatDuration(e.elapsedSec)}; best step ${e.bestStep ?? '—'}; model saved in ${e.modelDir}` +
        `${e.learning ? `\n${formatLearningCheck(e.learning)}` : ''}`;
    default:
      return undefined;
  }
}

/** ` with 2 workers` (data-parallel threads); nothing for runs journaled before the engine said. */
function workersText(workers: number | undefined): string {
  if (workers === undefined) return '';
  return ` with ${workers} worker${workers === 1 ? '' : 's'}`;
}
