/**
 * The training panel's page script (runs in the webview, bundled with chart.js into
 * dist/webview.js). It renders what the extension posts and keeps no state of its own: the
 * server owns the runs, so a reopened panel simply asks again.
 *
 * The page marks its state for tests and styles: `body[data-state]` is loading | ready |
 * unavailable, `body[data-backend]` and `body[data-model]` name the engine, and
 * `#loss-chart[data-points]` counts the plotted loss points.
 */
import {
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { HostToPanelMessage, PanelEngineState, PanelToHostMessage } from '../shared/protocol';

interface VsCodeApi {
  postMessage(message: PanelToHostMessage): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

const vscode = acquireVsCodeApi();
const canvas = element<HTMLCanvasElement>('loss-chart');
const lossChart = createLossChart(canvas);

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = parseHostMessage(event.data);
  if (message?.type === 'engineInfo') showEngine(message.engine);
  if (message?.type === 'engineUnavailable') showUnavailable(message.reason);
});
element('refresh').addEventListener('click', () => {
  document.body.dataset.state = 'loading';
  vscode.postMessage({ type: 'refresh' });
});
// VS Code switches the body's theme class (vscode-light, vscode-dark, …): recolour the chart.
new MutationObserver(() => applyTheme(lossChart)).observe(document.body, { attributeFilter: ['class'] });
vscode.postMessage({ type: 'ready' });

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

function createLossChart(target: HTMLCanvasElement): Chart<'line', { x: number; y: number }[]> {
  const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  const config: ChartConfiguration<'line', { x: number; y: number }[]> = {
    type: 'line',
    data: { datasets: [{ label: 'loss', data: [], borderWidth: 2, pointRadius: 0, tension: 0.2 }] },
    options: {
      animation: reduceMotion ? false : undefined,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: { type: 'linear', min: 0, suggestedMax: 10, title: { display: true, text: 'step' } },
        y: { type: 'linear', suggestedMin: 0, suggestedMax: 1, title: { display: true, text: 'loss' } },
      },
      plugins: { legend: { display: false } },
    },
  };
  const chart = new Chart(target, config);
  applyTheme(chart);
  showPointCount(chart);
  return chart;
}

/** Takes the chart's colours from the VS Code theme's CSS variables. */
function applyTheme(chart: Chart<'line', { x: number; y: number }[]>): void {
  const css = getComputedStyle(document.body);
  const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const foreground = color('--vscode-foreground', '#888');
  const grid = color('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)');
  const line = color('--vscode-charts-blue', '#3794ff');
  const dataset = chart.data.datasets[0];
  dataset.borderColor = line;
  dataset.backgroundColor = line;
  for (const scale of [chart.options.scales?.x, chart.options.scales?.y]) {
    if (!scale) continue;
    scale.ticks = { ...scale.ticks, color: foreground };
    scale.grid = { ...scale.grid, color: grid };
    if ('title' in scale && scale.title) scale.title.color = foreground;
  }
  chart.update();
}

function showPointCount(chart: Chart<'line', { x: number; y: number }[]>): void {
  const points = chart.data.datasets[0].data.length;
  canvas.dataset.points = String(points);
  element('no-run').hidden = points > 0;
}

function parseHostMessage(data: unknown): HostToPanelMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const message = data as Record<string, unknown>;
  if (message.type === 'engineUnavailable' && typeof message.reason === 'string') {
    return { type: 'engineUnavailable', reason: message.reason };
  }
  if (message.type === 'engineInfo' && isEngineState(message.engine)) return { type: 'engineInfo', engine: message.engine };
  return undefined;
}

function isEngineState(value: unknown): value is PanelEngineState {
  if (typeof value !== 'object' || value === null) return false;
  const { backend, model, labels } = value as Record<string, unknown>;
  return (
    typeof backend === 'string' &&
    typeof model === 'string' &&
    Array.isArray(labels) &&
    labels.every((label) => typeof label === 'string')
  );
}

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the panel's page has no #${id}`);
  return found as T;
}
