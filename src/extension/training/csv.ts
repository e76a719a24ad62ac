/**
 * A run's metrics as CSV, one row per progress report and per evaluation, for a spreadsheet or
 * pandas: `kind` says which (`step`, `eval`; a run that adapted its base model to the dataset
 * first also has `mlm-step` rows and an `mlm-eval` row, whose steps count from 1 again and whose
 * accuracy is that of the predicted tokens on held-out text), and the columns that do not apply stay empty.
 */
import type { FineTuneEvent } from '../../server/engine/fine-tune';
import type { RunHistory } from '../../shared/protocol';

const BASE_COLUMNS = ['run', 'kind', 'split', 'step', 'epoch', 'loss', 'learning_rate', 'grad_norm', 'samples_per_sec', 'accuracy', 'macro_f1'];

export function metricsCsv({ run, events }: RunHistory): string {
  const labels = labelsOf(events);
  const header = [...BASE_COLUMNS, ...labels.flatMap((l) => [`precision_${l}`, `recall_${l}`, `f1_${l}`])];
  const rows: (string | number | undefined)[][] = [];
  for (const e of events) {
    if (e.event === 'step') {
      rows.push([run.id, e.phase === 'mlm' ? 'mlm-step' : 'step', 'train', e.step, e.epoch, e.loss, e.learningRate, e.gradNorm, e.samplesPerSec]);
    } else if (e.event === 'mlm-eval') {
      rows.push([run.id, 'mlm-eval', 'held-out', e.step, e.epoch, e.metrics.loss, undefined, undefined, undefined, e.metrics.accuracy]);
    } else if (e.event === 'eval') {
      const m = e.metrics;
      const perClass = labels.flatMap((l) => [m.perClass[l]?.precision, m.perClass[l]?.recall, m.perClass[l]?.f1]);
      rows.push([run.id, 'eval', e.split, e.step, e.epoch, m.loss, undefined, undefined, undefined, m.accuracy, m.macroF1, ...perClass]);
    }
  }
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';
}

function labelsOf(events: FineTuneEvent[]): string[] {
  for (const e of events) if (e.event === 'start' && e.phase !== 'mlm') return e.labels;
  for (const e of events) if (e.event === 'eval') return Object.keys(e.metrics.perClass);
  return [];
}

function cell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
