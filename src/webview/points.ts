/**
 * Which chart points each run event adds (no DOM, no chart.js: the unit tests use it as it is).
 *
 * A run may adapt its base model to the dataset's text first (masked LM, events with `phase: 'mlm'`
 * and `mlm-eval`), then fine-tunes. The two phases count their own steps and their losses measure
 * different things (cross-entropy over a 10,000-piece vocabulary against one over the classes), so
 * the masked-LM phase has a chart of its own and never adds to the fine-tuning curves:
 *
 *   loss     raw and smoothed training loss per fine-tuning step, validation loss per evaluation
 *   metrics  validation accuracy and macro F1 per evaluation
 *   lr       the fine-tuning learning rate per step
 *   mlm      raw and smoothed masked-LM loss per adaptation step; the held-out masked-LM loss and
 *            accuracy (of the predicted tokens, on the y1 axis) at each `mlm-eval`
 */
import type { FineTuneEvent } from '../server/engine/fine-tune';

export type ChartId = 'loss' | 'metrics' | 'lr' | 'mlm';

export interface ChartPoint {
  chart: ChartId;
  /** The series' id within its chart (the canvas's `data-series` keys). */
  series: string;
  x: number;
  y: number;
}

/** TensorBoard-style smoothing: an exponential moving average, debiased at the start. */
const SMOOTHING = 0.9;

class Smoothed {
  private value = 0;
  private weight = 0;

  add(x: number): number {
    this.value = SMOOTHING * this.value + (1 - SMOOTHING) * x;
    this.weight = SMOOTHING * this.weight + (1 - SMOOTHING);
    return this.value / this.weight;
  }
}

/** Turns a run's events, in order, into chart points; `reset` before replaying another run. */
export class EventPoints {
  private fineTuneLoss = new Smoothed();
  private maskedLMLoss = new Smoothed();

  reset(): void {
    this.fineTuneLoss = new Smoothed();
    this.maskedLMLoss = new Smoothed();
  }

  points(event: FineTuneEvent): ChartPoint[] {
    switch (event.event) {
      case 'step': {
        const x = event.step;
        if (event.phase === 'mlm') {
          return [
            { chart: 'mlm', series: 'raw', x, y: event.loss },
            { chart: 'mlm', series: 'smoothed', x, y: this.maskedLMLoss.add(event.loss) },
          ];
        }
        return [
          { chart: 'loss', series: 'raw', x, y: event.loss },
          { chart: 'loss', series: 'smoothed', x, y: this.fineTuneLoss.add(event.loss) },
          { chart: 'lr', series: 'lr', x, y: event.learningRate },
        ];
      }
      case 'eval': {
        if (event.split !== 'validation') return [];
        const x = event.step;
        return [
          ...(event.metrics.loss !== undefined ? [{ chart: 'loss' as const, series: 'validation', x, y: event.metrics.loss }] : []),
          { chart: 'metrics', series: 'accuracy', x, y: event.metrics.accuracy },
          { chart: 'metrics', series: 'macroF1', x, y: event.metrics.macroF1 },
        ];
      }
      case 'mlm-eval':
        return [
          { chart: 'mlm', series: 'heldOut', x: event.step, y: event.metrics.loss },
          { chart: 'mlm', series: 'heldOutAccuracy', x: event.step, y: event.metrics.accuracy },
        ];
      default:
        return [];
    }
  }
}
