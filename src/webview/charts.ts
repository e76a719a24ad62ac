/**
 * The panel's charts (chart.js, bundled): training loss raw and smoothed per step with the
 * validation loss per evaluation; validation accuracy and macro F1 per evaluation; the learning
 * rate per step; and, for a run that adapted its base model to the dataset first, the masked-LM
 * loss of that phase with its held-out loss and accuracy, on a chart of its own (points.ts says
 * which event feeds which series). Colours come from the VS Code theme; the best evaluation is
 * marked with a vertical line once known. Each canvas carries `data-points` (its points, all
 * series) and `data-series` (points per series, JSON) for tests.
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
import type { ReliabilityBin } from '../server/engine/train/calibration';
import { type ChartId, EventPoints } from './points';
import { t } from './strings';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

type Point = { x: number; y: number };
type LineChart = Chart<'line', Point[]>;

export class TrainingCharts {
  private readonly charts: Record<ChartId, LineChart>;
  private readonly points = new EventPoints();
  private bestStep: number | undefined;
  private pending = false;

  constructor() {
    const bestMarker = this.bestMarkerPlugin();
    this.charts = {
      loss: lineChart('loss-chart', [series('raw', t('training loss'), 'blue', 1, 0.35), series('smoothed', t('smoothed'), 'blue', 2), series('validation', t('validation loss'), 'orange', 2, 1, 3)], t('step'), bestMarker),
      metrics: lineChart('metrics-chart', [series('accuracy', t('accuracy'), 'green', 2, 1, 3), series('macroF1', t('macro F1'), 'purple', 2, 1, 3)], t('step'), bestMarker, { min: 0, max: 1 }),
      lr: lineChart('lr-chart', [series('lr', t('learning rate'), 'yellow', 2)], t('step'), bestMarker),
      // Its own steps: the best fine-tuning step is not marked here. Accuracy (0…1) on the right.
      mlm: lineChart(
        'mlm-chart',
        [
          series('raw', t('masked-LM loss'), 'red', 1, 0.35),
          series('smoothed', t('smoothed'), 'red', 2),
          series('heldOut', t('held-out masked-LM loss'), 'orange', 2, 1, 4),
          { ...series('heldOutAccuracy', t('held-out masked-LM accuracy'), 'green', 2, 1, 4), yAxisID: 'y1' },
        ],
        t('masked-LM step'),
        undefined,
        {},
        true,
      ),
    };
    this.applyTheme();
    new MutationObserver(() => this.applyTheme()).observe(document.body, { attributeFilter: ['class'] });
  }

  clear(): void {
    for (const chart of this.all) for (const dataset of chart.data.datasets) dataset.data = [];
    this.points.reset();
    this.bestStep = undefined;
    this.redraw();
  }

  add(event: FineTuneEvent): void {
    const points = this.points.points(event);
    if (points.length === 0) return;
    for (const { chart, series: id, x, y } of points) {
      const dataset = this.charts[chart].data.datasets.find((d) => (d as ThemedDataset).id === id);
      dataset?.data.push({ x, y });
    }
    this.redraw();
  }

  /** Marks the best evaluation's step on every chart (undefined removes the mark). */
  markBest(step: number | undefined): void {
    this.bestStep = step;
    this.redraw();
  }

  private get all(): LineChart[] {
    return Object.values(this.charts);
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
    applyTheme(this.all);
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

/**
 * The reliability diagram of a finished run's calibration: for each bin of the top probability with
 * examples in it, the share right (y) against the mean confidence (x), before and after temperature
 * scaling, with the diagonal of a perfectly calibrated model. Its canvas has `data-points` and
 * `data-series` like the training charts.
 */
export class ReliabilityChart {
  private readonly chart: LineChart;

  constructor(canvasId: string) {
    const diagonal = { ...series('perfect', t('perfectly calibrated'), 'yellow', 1, 0.6), borderDash: [4, 4] };
    this.chart = lineChart(canvasId, [diagonal, series('before', t('before temperature'), 'orange', 2, 1, 3), series('after', t('after temperature'), 'blue', 2, 1, 3)], t('confidence'), undefined, { min: 0, max: 1 });
    const x = this.chart.options.scales?.x;
    if (x) Object.assign(x, { max: 1, suggestedMax: undefined });
    const y = this.chart.options.scales?.y;
    if (y && 'title' in y) y.title = { display: true, text: t('accuracy') };
    applyTheme([this.chart]);
    new MutationObserver(() => applyTheme([this.chart])).observe(document.body, { attributeFilter: ['class'] });
  }

  /** Shows the bins (undefined: empties the chart). */
  show(bins: { before: ReliabilityBin[]; after: ReliabilityBin[] } | undefined): void {
    const points = (list: ReliabilityBin[]) => list.filter((b) => b.count > 0).map((b) => ({ x: b.confidence, y: b.accuracy }));
    const [perfect, before, after] = this.chart.data.datasets;
    perfect.data = bins ? [{ x: 0, y: 0 }, { x: 1, y: 1 }] : [];
    before.data = bins ? points(bins.before) : [];
    after.data = bins ? points(bins.after) : [];
    exposeCounts(this.chart);
    this.chart.update('none');
  }
}

/** Colours from the VS Code theme, for the lines, the axes and the legend. */
function applyTheme(charts: LineChart[]): void {
  const css = getComputedStyle(document.body);
  const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const foreground = color('--vscode-foreground', '#888');
  const grid = color('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)');
  for (const chart of charts) {
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

type ColorName = 'blue' | 'orange' | 'green' | 'purple' | 'yellow' | 'red';
type ThemedDataset = ChartDataset<'line', Point[]> & { id: string; colorName: ColorName; alpha: number };
const FALLBACK_COLORS: Record<ColorName, string> = { blue: '#3794ff', orange: '#d18616', green: '#89d185', purple: '#b180d7', yellow: '#cca700', red: '#f14c4c' };

function series(id: string, label: string, colorName: ColorName, borderWidth: number, alpha = 1, pointRadius = 0): ThemedDataset {
  return { id, label, data: [], borderWidth, pointRadius, pointHoverRadius: pointRadius + 2, tension: 0.15, colorName, alpha };
}

/** `rightAxis`: a second y axis, 0…1, for the datasets with `yAxisID: 'y1'` (an accuracy beside a loss). */
function lineChart(id: string, datasets: ThemedDataset[], xTitle: string, bestMarker: Plugin<'line'> | undefined, y: { min?: number; max?: number } = {}, rightAxis = false): LineChart {
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
        ...(rightAxis ? { y1: { type: 'linear' as const, position: 'right' as const, min: 0, max: 1, grid: { drawOnChartArea: false } } } : {}),
      },
      plugins: { legend: { display: datasets.length > 1, labels: { boxWidth: 12 } } },
    },
    plugins: bestMarker ? [bestMarker] : [],
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
