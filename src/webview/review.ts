/**
 * The review of a finished run, in the panel: the rows behind a confusion-matrix cell (chosen by a
 * click or Enter on it), the possible label errors, and the calibration (reliability diagram, ECE
 * before and after the temperature, and for two classes a decision-threshold picker). The language
 * server computes them from the run's saved model on the validation and test rows; this page only
 * asks (once per run shown) and renders. A row's location button asks the host to open the dataset
 * file at that line.
 *
 * State on <body> for tests: `data-review` and `data-calibration` (none | loading | ready |
 * unavailable), `data-cell` (`t,p`: the true and predicted class of the cell listed, empty for none),
 * `data-threshold` (the curve's threshold the picker is on). Each confusion-matrix button has
 * `data-true`, `data-predicted` and `data-count`; each row's location button `data-file` and `data-line`.
 */
import type { PanelToHostMessage, ReviewedRow, RunCalibration, RunReview, ThresholdMetrics } from '../shared/protocol';
import { ReliabilityChart } from './charts';
import { button, element, tableBody as body, tableCell, tableHead as head } from './dom';
import { pct, t } from './strings';

/** Possible label errors listed (all of them go into the CSV). */
const LABEL_ERRORS_SHOWN = 100;
/** Characters of a row's text shown (the whole text is its tooltip). */
const TEXT_SHOWN = 160;

type ReviewState = 'none' | 'loading' | 'ready' | 'unavailable';

export class RunReviewView {
  private runId: string | undefined;
  private requested: string | undefined;
  private review: RunReview | undefined;
  private calibration: RunCalibration | undefined;
  private cell: [number, number] | undefined;
  private readonly chart = new ReliabilityChart('reliability-chart');

  constructor(private readonly post: (message: PanelToHostMessage) => void) {
    element('export-label-errors').addEventListener('click', () => this.runId && this.post({ type: 'exportLabelErrors', runId: this.runId }));
    const input = element<HTMLInputElement>('threshold-input');
    input.addEventListener('input', () => this.renderThresholdMetrics());
    element('save-threshold').addEventListener('click', () => {
      if (this.runId) this.post({ type: 'saveThreshold', runId: this.runId, threshold: Number(input.value) });
    });
    element('clear-threshold').addEventListener('click', () => this.runId && this.post({ type: 'saveThreshold', runId: this.runId }));
    this.reset(undefined);
  }

  /** The saved model's review of the run on show, once it is in. */
  get reviewed(): RunReview | undefined {
    return this.review;
  }

  /** Another run is on show: what was shown of the previous one goes. */
  reset(runId: string | undefined): void {
    if (runId !== undefined && runId === this.runId) return;
    this.runId = runId;
    this.requested = undefined;
    this.review = undefined;
    this.calibration = undefined;
    this.cell = undefined;
    this.setState('review', 'none');
    this.setState('calibration', 'none');
    element('review').hidden = true;
    element('label-errors-section').hidden = true;
    element('calibration-section').hidden = true;
    this.chart.show(undefined);
  }

  /** The run on show has ended with a saved model: asks for its review (once). */
  request(runId: string): void {
    this.reset(runId);
    if (this.requested === runId) return;
    this.requested = runId;
    this.setState('review', 'loading');
    this.setState('calibration', 'loading');
    this.post({ type: 'review', runId });
    if (this.cell) this.renderCell();
  }

  showReview(review: RunReview): void {
    if (review.runId !== this.runId) return;
    this.review = review;
    this.setState('review', 'ready');
    this.renderLabelErrors();
    if (this.cell) this.renderCell();
  }

  showCalibration(calibration: RunCalibration): void {
    if (calibration.runId !== this.runId) return;
    this.calibration = calibration;
    this.setState('calibration', 'ready');
    this.renderCalibration();
  }

  unavailable(runId: string, part: 'rows' | 'calibration', reason: string): void {
    if (runId !== this.runId) return;
    if (part === 'calibration') {
      this.setState('calibration', 'unavailable');
      element('calibration-section').hidden = false;
      element('calibration-summary').textContent = reason;
      element('threshold').hidden = true;
      return;
    }
    this.setState('review', 'unavailable');
    element('label-errors-section').hidden = true;
    element('review-status').textContent = reason;
    if (this.cell) this.renderCell(reason);
  }

  /** A confusion-matrix cell was chosen: lists its rows (asked for when the run has ended). */
  selectCell(trueClass: number, predicted: number): void {
    this.cell = [trueClass, predicted];
    document.body.dataset.cell = `${trueClass},${predicted}`;
    this.renderCell();
  }

  private renderCell(problem?: string): void {
    const section = element('review');
    section.hidden = false;
    const [trueClass, predicted] = this.cell ?? [0, 0];
    const status = element('review-status');
    const table = element<HTMLTableElement>('cell-rows');
    const review = this.review;
    if (!review) {
      element('cell-title').textContent = t('Rows of a confusion-matrix cell');
      status.textContent = problem ?? (this.requested ? t('Predicting the validation and test rows with the saved model…') : t('The rows are listed once the run has ended.'));
      table.replaceChildren();
      return;
    }
    const cell = review.cells[trueClass]?.[predicted];
    const labels = review.labels;
    element('cell-title').textContent = t('True "{0}", predicted "{1}"', labels[trueClass] ?? '?', labels[predicted] ?? '?');
    if (!cell) {
      status.textContent = '';
      table.replaceChildren();
      return;
    }
    const bySplit = Object.entries(countSplits(cell.rows)).map(([split, n]) => `${t(splitName(split))} ${n}`).join(', ');
    status.textContent = [
      t("{0} rows of the saved model's validation and test predictions, most confident first", cell.count),
      bySplit,
      cell.count > cell.rows.length ? t('the first {0} shown', cell.rows.length) : '',
    ].filter(Boolean).join(' · ');
    table.replaceChildren(
      head([t('row'), t('split'), t('confidence'), t('text')]),
      body(cell.rows.map((row) => this.rowLine(row, [t(splitName(row.split)), pct(row.confidence)]))),
    );
  }

  private renderLabelErrors(): void {
    const review = this.review;
    if (!review) return;
    element('label-errors-section').hidden = false;
    const errors = review.possibleLabelErrors;
    const shown = errors.slice(0, LABEL_ERRORS_SHOWN);
    const total = Object.values(review.splits).reduce((a, b) => a + b, 0);
    element('label-errors-caption').textContent = [
      t('{0} of the {1} validation and test rows, most doubtful first: the model gives their label less probability than that class usually gets, and another class more.', errors.length, total),
      errors.length > shown.length ? t('the first {0} shown', shown.length) : '',
    ].filter(Boolean).join(' · ');
    button('export-label-errors').disabled = errors.length === 0;
    element<HTMLTableElement>('label-errors').replaceChildren(
      head([t('row'), t('split'), t('labelled'), t('model says'), t('text')]),
      body(shown.map((row) => this.rowLine(row, [t(splitName(row.split)), `${review.labels[row.label]} ${pct(row.labelProbability)}`, `${review.labels[row.predicted]} ${pct(row.confidence)}`]))),
    );
  }

  /** A table row: the row's location (a button that opens the file there), `values`, its text. */
  private rowLine(row: ReviewedRow, values: string[]): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const where = document.createElement('th');
    where.scope = 'row';
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link';
    open.textContent = `${row.file.split(/[\\/]/).pop()}:${row.line}`;
    open.title = t('Open {0} at line {1}', row.file, row.line);
    Object.assign(open.dataset, { file: row.file, line: String(row.line) });
    open.addEventListener('click', () => this.runId && this.post({ type: 'openRow', runId: this.runId, file: row.file, line: row.line }));
    where.append(open);
    tr.append(where, ...values.map((v) => cell(v)));
    const text = cell(row.text.length > TEXT_SHOWN ? `${row.text.slice(0, TEXT_SHOWN - 1)}…` : row.text);
    text.className = 'text';
    text.title = row.text;
    tr.append(text);
    // The whole row opens it too, for the mouse; the button is the keyboard's way.
    tr.addEventListener('click', (event) => {
      if (event.target !== open) open.click();
    });
    return tr;
  }

  private renderCalibration(): void {
    const c = this.calibration;
    if (!c) return;
    element('calibration-section').hidden = false;
    const summary = element('calibration-summary');
    const cal = c.calibration;
    if (!cal) {
      summary.textContent = t('This model has no calibration.json (it was not fine-tuned here, or before calibration existed).');
      this.chart.show(undefined);
    } else {
      summary.textContent = t(
        'Temperature {0}, fitted on {1} validation rows: expected calibration error {2} before, {3} after; NLL {4} → {5}',
        cal.temperature.toFixed(2),
        cal.fittedOn,
        pct(cal.before.ece),
        pct(cal.after.ece),
        cal.before.nll.toFixed(3),
        cal.after.nll.toFixed(3),
      );
      this.chart.show({ before: cal.before.bins, after: cal.after.bins });
    }
    const picker = element('threshold');
    const curve = c.thresholdCurve;
    picker.hidden = c.labels.length !== 2 || (!curve && !c.curveProblem);
    if (picker.hidden) return;
    element('threshold-label').textContent = t('Decision threshold: predict "{0}" from probability', c.labels[1]);
    const input = element<HTMLInputElement>('threshold-input');
    const saved = cal?.threshold;
    input.value = String(snap(saved ?? 0.5));
    input.disabled = !curve || !cal;
    button('save-threshold').disabled = !curve || !cal;
    button('clear-threshold').disabled = saved === undefined;
    element('threshold-saved').textContent = saved !== undefined
      ? t('Saved: "{0}" from probability {1} on.', c.labels[1], saved)
      : t('None saved: predictions take the most probable class.');
    this.renderThresholdMetrics();
  }

  private renderThresholdMetrics(): void {
    const c = this.calibration;
    const input = element<HTMLInputElement>('threshold-input');
    const value = Number(input.value);
    element('threshold-value').textContent = value.toFixed(2);
    const at = c?.thresholdCurve?.reduce<ThresholdMetrics | undefined>((best, m) => (!best || Math.abs(m.threshold - value) < Math.abs(best.threshold - value) ? m : best), undefined);
    document.body.dataset.threshold = at ? String(at.threshold) : '';
    element('threshold-metrics').textContent = at
      ? t('On the validation rows: precision {0}, recall {1}, F1 {2} of "{3}"; accuracy {4}', pct(at.precision), pct(at.recall), pct(at.f1), c?.labels[1] ?? '', pct(at.accuracy))
      : (c?.curveProblem ?? '');
  }

  private setState(part: 'review' | 'calibration', state: ReviewState): void {
    document.body.dataset[part] = state;
    if (part === 'review') {
      element('review-status').textContent = state === 'loading' ? t('Predicting the validation and test rows with the saved model…') : '';
      if (state === 'none') document.body.dataset.cell = '';
    }
  }
}

/** The nearest of the picker's steps 0.05, 0.10, …, 0.95. */
function snap(threshold: number): number {
  return Math.min(0.95, Math.max(0.05, Math.round(threshold * 20) / 20));
}

function countSplits(rows: ReviewedRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.split] = (counts[row.split] ?? 0) + 1;
  return counts;
}

function splitName(split: string): 'train' | 'validation' | 'test' {
  return split === 'test' ? 'test' : split === 'train' ? 'train' : 'validation';
}

function cell(text: string): HTMLTableCellElement {
  return tableCell('td', text);
}
