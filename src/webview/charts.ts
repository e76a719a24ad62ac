/**
 * The panel's three charts (chart.js, bundled): training loss raw and smoothed per step with the
 * validation loss per evaluation; validation accuracy and macro F1 per evaluation; the learning
 * rate per step. Colours come from the VS Code theme; the best evaluation is marked with a
 * vertical line once known. Each canvas carries `data-points` (its points, all series) and
 * `data-series` (points per series, JSON) for tests.
 */
import {
  Chart,
  type ChartConfiguration,
  type ChartDataset,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  type Plugin,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { FineTuneEvent } from '../server/engine/fine-tune';
import { t } from './strings';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

type Point = { x: number; y: number };
type LineChart = Chart<'line', Point[]>;

/** TensorBoard-style smoothing: an exponential moving average, debiased at the start. */
const SMOOTHING = 0.9;

export class TrainingCharts {
  private readonly loss: LineChart;
  private readonly metrics: LineChart;
  private readonly lr: LineChart;
  /** The masked-LM loss of domain adaptation, before fine-tuning (its own steps, its own chart). */
  private readonly maskedLM: LineChart;
  private smoothed = { value: 0, weight: 0 };
  private bestStep: number | undefined;
  private pending = false;

  constructor() {
    const bestMarker = this.bestMarkerPlugin();
    this.loss = lineChart('loss-chart', [series('raw', t('training loss'), 'blue', 1, 0.35), series('smoothed', t('smoothed'), 'blue', 2), series('validation', t('validation loss'), 'orange', 2, 1, 3)], t('step'), bestMarker);
    this.metrics = lineChart('metrics-chart', [series('accuracy', t('accuracy'), 'green', 2, 1, 3), series('macroF1', t('macro F1'), 'purple', 2, 1, 3)], t('step'), bestMarker, { min: 0, max: 1 });
    this.lr = lineChart('lr-chart', [series('lr', t('learning rate'), 'yellow', 2)], t('step'), bestMarker);
    this.maskedLM = lineChart('mlm-chart', [series('mlm', t('masked-LM loss'), 'red', 2)], t('step'), bestMarker);
    this.applyTheme();
    new MutationObserver(() => this.applyTheme()).observe(document.body, { attributeFilter: ['class'] });
  }

  clear(): void {
    for (const chart of this.all) for (const dataset of chart.data.datasets) dataset.data = [];
    this.smoothed = { value: 0, weight: 0 };
    this.bestStep = undefined;
    this.redraw();
  }

  add(event: FineTuneEvent): void {
    if (event.event === 'step' && event.phase === 'mlm') {
      this.maskedLM.data.datasets[0].data.push({ x: event.step, y: event.loss });
    } else if (event.event === 'step') {
      this.smoothed.value = SMOOTHING * this.smoothed.value + (1 - SMOOTHING) * event.loss;
      this.smoothed.weight = SMOOTHING * this.smoothed.weight + (1 - SMOOTHING);
      this.loss.data.datasets[0].data.push({ x: event.step, y: event.loss });
      this.loss.data.datasets[1].data.push({ x: event.step, y: this.smoothed.value / this.smoothed.weight });
      this.lr.data.datasets[0].data.push({ x: event.step, y: event.learningRate });
    } else if (event.event === 'eval' && event.split === 'validation') {
      if (event.metrics.loss !== undefined) this.loss.data.datasets[2].data.push({ x: event.step, y: event.metrics.loss });
      this.metrics.data.datasets[0].data.push({ x: event.step, y: event.metrics.accuracy });
      this.metrics.data.datasets[1].data.push({ x: event.step, y: event.metrics.macroF1 });
    } else {
      return;
    }
    this.redraw();
  }

  /** Marks the best evaluation's step on every chart (undefined removes the mark). */
  markBest(step: number | undefined): void {
    this.bestStep = step;
    this.redraw();
  }

  private get all(): LineChart[] {
    return [this.loss, this.metrics, this.lr, this.maskedLM];
  }

  /** At most one redraw per frame, however many events arrive. */
  private redraw(): void {
    for (const chart of this.all) exposeCounts(chart);
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const chart of this.all) chart.update('none');
    });
  }

  private applyTheme(): void {
    const css = getComputedStyle(document.body);
    const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const foreground = color('--vscode-foreground', '#888');
    const grid = color('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)');
    for (const chart of this.all) {
      for (const dataset of chart.data.datasets) {
        const { colorName, alpha } = dataset as ThemedDataset;
        const line = color(`--vscode-charts-${colorName}`, FALLBACK_COLORS[colorName]);
        dataset.borderColor = withAlpha(line, alpha);
        dataset.backgroundColor = withAlpha(line, alpha);
      }
      for (const scale of Object.values(chart.options.scales ?? {})) {
        if (!scale) continue;
        scale.ticks = { ...scale.ticks, color: foreground };
        scale.grid = { ...scale.grid, color: grid };
        if ('title' in scale && scale.title) scale.title.color = foreground;
      }
      if (chart.options.plugins?.legend?.labels) chart.options.plugins.legend.labels.color = foreground;
      chart.update('none');
    }
  }

  private bestMarkerPlugin(): Plugin<'line'> {
    return {
      id: 'bestMarker',
      afterDatasetsDraw: (chart) => {
        if (this.bestStep === undefined) return;
        const x = chart.scales.x.getPixelForValue(this.bestStep);
        const { top, bottom, left, right } = chart.chartArea;
        if (x < left || x > right) return;
        const ctx = chart.ctx;
        ctx.save();
        ctx.strokeStyle = getComputedStyle(document.body).getPropertyValue('--vscode-charts-green').trim() || '#89d185';
        ctx.setLineDash([4, 4]);
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, bottom);
        ctx.stroke();
        ctx.restore();
      },
    };
  }
}

type ColorName = 'blue' | 'orange' | 'green' | 'purple' | 'yellow' | 'red';
type ThemedDataset = ChartDataset<'line', Point[]> & { id: string; colorName: ColorName; alpha: number };
const FALLBACK_COLORS: Record<ColorName, string> = { blue: '#3794ff', orange: '#d18616', green: '#89d185', purple: '#b180d7', yellow: '#cca700', red: '#f14c4c' };

function series(id: string, label: string, colorName: ColorName, borderWidth: number, alpha = 1, pointRadius = 0): ThemedDataset {
  return { id, label, data: [], borderWidth, pointRadius, pointHoverRadius: pointRadius + 2, tension: 0.15, colorName, alpha };
}

function lineChart(id: string, datasets: ThemedDataset[], xTitle: string, bestMarker: Plugin<'line'>, y: { min?: number; max?: number } = {}): LineChart {
  const canvas = document.getElementById(id) as HTMLCanvasElement;
  const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  const config: ChartConfiguration<'line', Point[]> = {
    type: 'line',
    data: { datasets },
    options: {
      animation: reduceMotion ? false : { duration: 200 },
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', min: 0, suggestedMax: 10, title: { display: true, text: xTitle } },
        y: { type: 'linear', ...y, ...(y.min === undefined ? { suggestedMin: 0 } : {}) },
      },
      plugins: { legend: { display: datasets.length > 1, labels: { boxWidth: 12 } } },
    },
    plugins: [bestMarker],
  };
  const chart = new Chart(canvas, config);
  exposeCounts(chart);
  return chart;
}

function exposeCounts(chart: LineChart): void {
  const counts = chart.data.datasets.map((d) => d.data.length);
  const canvas = chart.canvas;
  canvas.dataset.points = String(counts.reduce((a, b) => a + b, 0));
  canvas.dataset.series = JSON.stringify(Object.fromEntries(chart.data.datasets.map((d, i) => [(d as ThemedDataset).id, counts[i]])));
}

/** `#3794ff` with an alpha; other colour syntaxes are returned as they are. */
function withAlpha(color: string, alpha: number): string {
  if (alpha >= 1 || !/^#[0-9a-f]{6}$/i.test(color)) return color;
  return `${color}${Math.round(alpha * 255).toString(16).padStart(2, '0')}`;
}
