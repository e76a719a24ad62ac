/**
 * The training panel's page script (runs in the webview, bundled with chart.js into
 * dist/webview.js). It renders what the extension posts and keeps no training state of its own:
 * the server owns the runs, so a reopened or restored panel asks for them again. The only thing it
 * remembers (webview state) is which run it was showing.
 *
 * State for tests and styles on <body>: `data-state` (engine: loading | ready | unavailable),
 * `data-backend`, `data-model` (the model predictions use), `data-run-id`, `data-run-status`
 * (none | preparing | training | completed | early-stopped | cancelled | failed | interrupted),
 * `data-run-model`, `data-resumed-from`, `data-events` (events shown), `data-evals`, `data-best-step` (once the run
 * ended), `data-run-backend` (what the run computes on, for people) and `data-workers` (its data-parallel worker
 * threads, once its start event arrived), `data-learning` (`no-learning` when the run ended with a model that did not
 * learn: the notice #learning shows why and what may help), `data-phase` (`mlm` while the run adapts its base model
 * to the dataset's text, `fine-tune` after; empty for none yet) and `data-mlm-events` (the masked-LM events shown:
 * such a run has the #mlm-card chart). Each chart canvas has `data-points` and `data-series` (see charts.ts).
 * A finished run's review (review.ts) adds `data-review`, `data-calibration`, `data-cell` and `data-threshold`;
 * `data-matrix` says whose the confusion matrix is (`validation`: the last evaluation; `saved-model`: the review's).
 */
import type { FineTuneEvent } from '../server/engine/fine-tune';
import type { LearningAdvice } from '../server/engine/train/events';
import type { ClassificationMetrics } from '../server/engine/train/metrics';
import type { HostToPanelMessage, PanelEngineState, PanelToHostMessage, RunCalibration, RunHistory, RunInfo, RunReview } from '../shared/protocol';
import { isMaskedLMEvent } from '../shared/run-events';
import { activeRunStatuses, resumableRunStatuses } from '../shared/run-status';
import { TrainingCharts } from './charts';
import { button, element, paragraph } from './dom';
import { duration, pct, t } from './strings';
import { RunReviewView } from './review';
import { renderConfusion, renderDataset, renderPerClass } from './tables';

interface VsCodeApi {
  postMessage(message: PanelToHostMessage): void;
  getState(): { runId?: string } | undefined;
  setState(state: { runId?: string }): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const charts = new TrainingCharts();
/** The rows behind the confusion matrix, the possible label errors and the calibration of a finished run (review.ts). */
const reviewView = new RunReviewView((message) => vscode.postMessage(message));
/** The run on show's last validation evaluation (the tables' content until its review is in). */
let lastEvaluation: { metrics: ClassificationMetrics; step: number; epoch: number } | undefined;
const runs = new Map<string, RunInfo>();
/**
 * The run on show, how many of its events have been applied (of them, how many validation evaluations
 * and masked-LM adaptation events), and its worker threads (from its start event).
 */
let shown: { run: RunInfo; events: number; evals: number; maskedLM: number; workers?: number } | undefined;

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = parseHostMessage(event.data);
  if (message) receive(message);
});
wireButtons();
renderRun(undefined);
vscode.postMessage({ type: 'ready', runId: vscode.getState()?.runId });

function receive(message: HostToPanelMessage): void {
  switch (message.type) {
    case 'engineInfo':
      return showEngine(message.engine);
    case 'engineUnavailable':
      return showUnavailable(message.reason);
    case 'runs':
      runs.clear();
      for (const run of message.runs) runs.set(run.id, run);
      renderRunPicker();
      if (!shown) renderRun(undefined);
      return;
    case 'history':
      return showHistory(message.history);
    case 'runEvent':
      return applyRunEvent(message.run, message.event, message.index);
    case 'review':
      reviewView.showReview(message.review);
      return renderEvaluation();
    case 'calibration':
      return reviewView.showCalibration(message.calibration);
    case 'reviewUnavailable':
      return reviewView.unavailable(message.runId, message.part, message.reason);
  }
}

function showHistory({ run, events }: RunHistory): void {
  shown = { run, events: 0, evals: 0, maskedLM: 0 };
  reviewView.reset(run.id);
  lastEvaluation = undefined;
  document.body.dataset.matrix = '';
  runs.set(run.id, run);
  vscode.setState({ runId: run.id });
  charts.clear();
  for (const id of ['confusion', 'per-class']) element(id).replaceChildren();
  element('dataset').replaceChildren(paragraph('—', 'muted'));
  element('eval-caption').textContent = '';
  element('test-result').hidden = true;
  element('mlm-result').textContent = '';
  for (const event of events) applyEvent(event);
  renderRunPicker();
  renderRun(run);
}

function applyRunEvent(run: RunInfo, event: FineTuneEvent | undefined, index: number | undefined): void {
  const isNew = !runs.has(run.id);
  runs.set(run.id, run);
  if (isNew) renderRunPicker();
  else updatePickerLabel(run);
  if (shown?.run.id !== run.id) {
    // A new run starting is what the user wants to watch, unless the one on show is still going.
    if (isNew && !(shown && activeRunStatuses.includes(shown.run.status))) vscode.postMessage({ type: 'showRun', runId: run.id });
    return;
  }
  shown.run = run;
  if (event && index !== undefined && index > shown.events) {
    vscode.postMessage({ type: 'showRun', runId: run.id }); // missed some: replay
    return;
  }
  if (event && (index === undefined || index === shown.events)) applyEvent(event);
  renderRun(run);
}

function applyEvent(event: FineTuneEvent): void {
  if (!shown) return;
  shown.events += 1;
  switch (event.event) {
    case 'dataset':
      renderDataset(element('dataset'), event.summary);
      break;
    case 'start':
      // The masked-LM phase's start has no classes (its workers: the phase's own).
      if (event.phase !== 'mlm') element('run-labels').textContent = event.labels.join(', ');
      // Runs journaled before the engine reported workers have none.
      shown.workers = typeof event.workers === 'number' ? event.workers : undefined;
      break;
    case 'step':
      charts.add(event);
      break;
    case 'mlm-eval':
      charts.add(event);
      element('mlm-result').textContent = t(
        'Held-out text at masked-LM step {0}: loss {1}, accuracy of the predicted tokens {2}',
        event.step,
        event.metrics.loss.toFixed(3),
        pct(event.metrics.accuracy),
      );
      break;
    case 'eval':
      if (event.split === 'test') {
        showTestResult(event.metrics);
        break;
      }
      shown.evals += 1;
      charts.add(event);
      showEvaluation(event.metrics, event.step, event.epoch);
      break;
    case 'done':
      charts.markBest(event.bestStep);
      break;
  }
  if (isMaskedLMEvent(event)) shown.maskedLM += 1;
  document.body.dataset.events = String(shown.events);
  document.body.dataset.evals = String(shown.evals);
  document.body.dataset.mlmEvents = String(shown.maskedLM);
}

function showEvaluation(metrics: ClassificationMetrics, step: number, epoch: number): void {
  lastEvaluation = { metrics, step, epoch };
  renderEvaluation();
}

/**
 * The tables show the last validation while the run goes on; once the finished run's review is in,
 * the saved model's results on the held-out rows, so that a cell lists exactly the rows it counts.
 */
function renderEvaluation(): void {
  const review = reviewView.reviewed;
  const metrics = review?.metrics ?? lastEvaluation?.metrics;
  if (!metrics) return;
  if (review) {
    const splits = Object.entries(review.splits).map(([split, n]) => `${t(split === 'test' ? 'test' : 'validation')} ${n}`).join(', ');
    element('eval-caption').textContent = t('The saved model on the rows training held out ({0}); choose a cell to list its rows', splits);
  } else if (lastEvaluation) {
    element('eval-caption').textContent = t('Validation at step {0} (epoch {1})', lastEvaluation.step, lastEvaluation.epoch.toFixed(2));
  }
  document.body.dataset.matrix = review ? 'saved-model' : 'validation';
  renderConfusion(element<HTMLTableElement>('confusion'), metrics, (trueClass, predicted) => reviewView.selectCell(trueClass, predicted));
  renderPerClass(element<HTMLTableElement>('per-class'), metrics);
}

function showTestResult(metrics: ClassificationMetrics): void {
  const p = element('test-result');
  p.textContent = t('Test split: accuracy {0}, macro F1 {1}', pct(metrics.accuracy), pct(metrics.macroF1));
  p.hidden = false;
}

/** Status, progress, best result, problem and buttons of the run on show (or the empty state). */
function renderRun(run: RunInfo | undefined): void {
  const active = run !== undefined && activeRunStatuses.includes(run.status);
  const ended = run !== undefined && !active;
  Object.assign(document.body.dataset, {
    runId: run?.id ?? '',
    runStatus: run?.status ?? 'none',
    runModel: run?.model ?? '',
    resumedFrom: run?.resumedFrom ?? '',
    bestStep: ended && run.best ? String(run.best.step) : '',
    runBackend: run?.backend ?? '',
    workers: run && shown?.run.id === run.id && shown.workers !== undefined ? String(shown.workers) : '',
  });
  const empty = element('no-run');
  empty.hidden = run !== undefined;
  empty.textContent = runs.size === 0 ? `${t('No training run yet')}. ${t('Run the command "Fine-tune on Workspace Data" to start one.')}` : '';
  element('run-status').textContent = run ? t(run.status) : '';
  element('run-title').textContent = run ? `${run.title}${run.resumedFrom ? ` (${t('resumed from {0}', run.resumedFrom)})` : ''}` : '';
  element('run-model').textContent = run?.model ?? '—';
  element('out-dir').textContent = run?.outDir ?? '—';
  renderPhase(run);
  renderProgress(run);
  renderBest(run);
  renderLearning(run);
  const problem = element('run-problem');
  problem.hidden = !run?.error;
  problem.textContent = run?.error ? [run.error.file && `${run.error.file}${run.error.line ? `:${run.error.line}` : ''}`, run.error.message, run.error.fix].filter(Boolean).join(' — ') : '';
  button('stop').disabled = !active;
  button('resume').hidden = !(run && resumableRunStatuses.includes(run.status));
  button('open-folder').disabled = !run || run.status === 'preparing' || run.status === 'failed';
  button('export-csv').disabled = !shown || shown.events === 0;
  // A run that ended with a saved model (it had an evaluation): its rows and calibration are reviewed.
  if (ended && shown?.run.id === run.id && run.status !== 'failed' && run.best) reviewView.request(run.id);
}

/**
 * A run that adapts its base model to the dataset's text first: which phase it is in (while it
 * runs), and the masked-LM chart (kept once the run goes on to fine-tuning, and after it ended).
 */
function renderPhase(run: RunInfo | undefined): void {
  const adapted = run !== undefined && shown?.run.id === run.id && (shown.maskedLM > 0 || run.phase === 'mlm');
  element('mlm-card').hidden = !adapted;
  document.body.dataset.phase = run?.phase ?? '';
  const label = element('phase');
  const active = run !== undefined && activeRunStatuses.includes(run.status);
  label.textContent = !active || !adapted ? '' : run.phase === 'mlm' ? t('Adapting to the dataset (masked LM)') : t('Fine-tuning the adapted model');
  label.hidden = label.textContent === '';
}

function renderProgress(run: RunInfo | undefined): void {
  const bar = element<HTMLProgressElement>('progress');
  const p = run?.progress;
  const share = p && p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0;
  bar.value = share;
  bar.setAttribute('aria-valuetext', pct(share, 0));
  bar.hidden = !run;
  const text = element('progress-text');
  if (!run) text.textContent = '';
  else if (!p) text.textContent = run.activity ?? t('Reading the data and loading the model…');
  else {
    // The masked-LM phase counts its own steps; its epochs are passes over the dataset's text.
    const parts = run.phase === 'mlm'
      ? [t('masked-LM step {0}/{1}', p.step, p.totalSteps)]
      : [t('epoch {0}/{1}', p.epoch.toFixed(2), p.epochs), t('step {0}/{1}', p.step, p.totalSteps)];
    if (p.samplesPerSec !== undefined) parts.push(t('{0} samples/s', p.samplesPerSec.toFixed(1)));
    if (activeRunStatuses.includes(run.status) && p.etaSec !== undefined) parts.push(t('ETA {0}', duration(p.etaSec)));
    if (run.backend) parts.push(run.backend);
    const workers = shown?.run.id === run.id ? shown.workers : undefined;
    if (workers !== undefined) parts.push(workers === 1 ? t('1 worker') : t('{0} workers', workers));
    text.textContent = parts.join(' · ');
  }
}

function renderBest(run: RunInfo | undefined): void {
  const best = element('best');
  best.hidden = !run?.best;
  if (!run?.best) return;
  const ended = !activeRunStatuses.includes(run.status);
  const template = ended ? 'Best: epoch {0} (step {1}) — accuracy {2}, macro F1 {3}' : 'Best so far: epoch {0} (step {1}) — accuracy {2}, macro F1 {3}';
  best.textContent = t(template, run.best.epoch.toFixed(2), run.best.step, pct(run.best.accuracy), pct(run.best.macroF1));
  best.classList.toggle('final', ended);
}

/** The small-data guard's notice once a run ended with a model that did not learn (see the engine's learning-check.ts). */
function renderLearning(run: RunInfo | undefined): void {
  const check = run?.learning;
  const notice = element('learning');
  notice.hidden = !check;
  document.body.dataset.learning = check ? check.kind : '';
  if (!check) return;
  const template = check.best <= check.baseline
    ? 'Validation accuracy {0} is no better than always answering "{1}" ({2}): the model did not learn from {3} training examples.'
    : 'Validation accuracy {0} is not clearly better than always answering "{1}" ({2}): the model hardly learned from {3} training examples.';
  const sentences = [t(template, pct(check.best), check.baselineLabel, pct(check.baseline), check.numTrain)];
  if (check.singleClass !== undefined) sentences.push(t('It answers "{0}" for every validation text.', check.singleClass));
  element('learning-message').textContent = sentences.join(' ');
  element('learning-advice').replaceChildren(...check.advice.map((advice) => {
    const item = document.createElement('li');
    item.dataset.kind = advice.kind;
    item.textContent = adviceText(advice, check.numTrain);
    return item;
  }));
}

function adviceText(advice: LearningAdvice, numTrain: number): string {
  switch (advice.kind) {
    case 'train-longer':
      return t('Train longer: {0} epochs or more.', advice.epochs ?? '—');
    case 'pretrained-model':
      return t('Start from a pre-trained model, e.g. {0}.', advice.model ?? '—');
    case 'adapt':
      return t("Adapt the model to the dataset's text first (masked-LM pre-training, no labels needed).");
    case 'more-data':
      return t('Label more examples: {0} training examples are very few; a few hundred per class is a usual start.', numTrain);
    default:
      return advice.message;
  }
}

function renderRunPicker(): void {
  const select = element<HTMLSelectElement>('run-select');
  select.replaceChildren(...[...runs.values()].sort((a, b) => b.id.localeCompare(a.id)).map(runOption));
  select.value = shown?.run.id ?? '';
  select.disabled = runs.size === 0;
}

function updatePickerLabel(run: RunInfo): void {
  const option = Array.from(element<HTMLSelectElement>('run-select').options).find((o) => o.value === run.id);
  if (option) option.textContent = runLabel(run);
}

function runOption(run: RunInfo): HTMLOptionElement {
  const option = document.createElement('option');
  option.value = run.id;
  option.textContent = runLabel(run);
  return option;
}

function runLabel(run: RunInfo): string {
  const when = new Date(run.createdAt).toLocaleString();
  return t('{0} · {1} · {2}', run.title, t(run.status), when);
}

function wireButtons(): void {
  const withRun = (type: 'stop' | 'resume' | 'openModelFolder' | 'exportCsv') => () => {
    if (shown) vscode.postMessage({ type, runId: shown.run.id });
  };
  button('stop').addEventListener('click', withRun('stop'));
  button('resume').addEventListener('click', withRun('resume'));
  button('open-folder').addEventListener('click', withRun('openModelFolder'));
  button('export-csv').addEventListener('click', withRun('exportCsv'));
  button('refresh').addEventListener('click', () => {
    document.body.dataset.state = 'loading';
    vscode.postMessage({ type: 'refresh' });
  });
  element<HTMLSelectElement>('run-select').addEventListener('change', (event) => {
    const runId = (event.target as HTMLSelectElement).value;
    if (runId) vscode.postMessage({ type: 'showRun', runId });
  });
}

function showEngine(engine: PanelEngineState): void {
  element('backend').textContent = engine.backend;
  element('model').textContent = engine.model;
  element('labels').textContent = engine.labels.join(', ') || '—';
  element('engine-problem').hidden = true;
  Object.assign(document.body.dataset, { state: 'ready', backend: engine.backend, model: engine.model });
}

function showUnavailable(reason: string): void {
  const problem = element('engine-problem');
  problem.textContent = reason;
  problem.hidden = false;
  for (const id of ['backend', 'model', 'labels']) element(id).textContent = '—';
  Object.assign(document.body.dataset, { state: 'unavailable', backend: '', model: '' });
}

/** The host's messages, checked for the fields this page reads. */
function parseHostMessage(data: unknown): HostToPanelMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Record<string, unknown>;
  switch (m.type) {
    case 'engineUnavailable':
      return typeof m.reason === 'string' ? { type: m.type, reason: m.reason } : undefined;
    case 'engineInfo':
      return isEngineState(m.engine) ? { type: m.type, engine: m.engine } : undefined;
    case 'runs':
      return Array.isArray(m.runs) && m.runs.every(isRun) ? { type: m.type, runs: m.runs } : undefined;
    case 'history': {
      const h = m.history as Partial<RunHistory> | undefined;
      return h && isRun(h.run) && Array.isArray(h.events) && h.events.every(isEvent) ? { type: m.type, history: h as RunHistory } : undefined;
    }
    case 'review': {
      const r = m.review as Partial<RunReview> | undefined;
      return r && typeof r.runId === 'string' && isStrings(r.labels) && Array.isArray(r.cells) && Array.isArray(r.possibleLabelErrors) && typeof r.splits === 'object' && Array.isArray(r.metrics?.confusion)
        ? { type: m.type, review: r as RunReview }
        : undefined;
    }
    case 'calibration': {
      const c = m.calibration as Partial<RunCalibration> | undefined;
      return c && typeof c.runId === 'string' && isStrings(c.labels) ? { type: m.type, calibration: c as RunCalibration } : undefined;
    }
    case 'reviewUnavailable':
      return typeof m.runId === 'string' && (m.part === 'rows' || m.part === 'calibration') && typeof m.reason === 'string'
        ? { type: m.type, runId: m.runId, part: m.part, reason: m.reason }
        : undefined;
    case 'runEvent':
      return isRun(m.run) && (m.event === undefined || isEvent(m.event)) && (m.index === undefined || typeof m.index === 'number')
        ? { type: m.type, run: m.run, event: m.event, index: m.index }
        : undefined;
    default:
      return undefined;
  }
}

function isRun(value: unknown): value is RunInfo {
  const r = value as Partial<RunInfo> | undefined;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.status === 'string' && typeof r.title === 'string';
}

function isEvent(value: unknown): value is FineTuneEvent {
  return typeof value === 'object' && value !== null && typeof (value as { event?: unknown }).event === 'string';
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isEngineState(value: unknown): value is PanelEngineState {
  if (typeof value !== 'object' || value === null) return false;
  const { backend, model, labels } = value as Record<string, unknown>;
  return typeof backend === 'string' && typeof model === 'string' && Array.isArray(labels) && labels.every((label) => typeof label === 'string');
}
