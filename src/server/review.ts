/**
 * Reviewing a finished run in the training panel: its saved model predicts the validation and test
 * rows of its data (read again as training split it, engine `explain/review.ts`), once per run on
 * first request; the answers are the rows of each confusion-matrix cell, the possible label errors,
 * and the calibration (the model's calibration.json, with the two-class threshold curve on the
 * validation rows). Saving a threshold writes calibration.json and tells the server to reload that
 * model, so that predictions use it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Connection, LSPErrorCodes, ResponseError } from 'vscode-languageserver/node';
import { isUserError, UserError } from './engine/errors';
import { confusionRows, possibleLabelErrors, predictedClass } from './engine/explain/misclassified';
import { classificationMetrics } from './engine/train/metrics';
import { predictHeldOut, type HeldOutRow } from './engine/explain/review';
import { CALIBRATION_FILE, saveThreshold as keepThreshold, thresholdCurve, type Calibration } from './engine/train/calibration';
import { parseJsonFile } from './engine/model-config';
import type { Classifier } from './models';
import {
  activeRunStatuses,
  REVIEW_ROWS_PER_CELL,
  reviewRows,
  runCalibration,
  saveThreshold,
  type RunCalibration,
  type RunHistory,
  type RunInfo,
  type RunReview,
} from '../shared/protocol';

export interface ReviewOptions {
  /** A run's info and events, as the server keeps them. */
  history(runId: string): RunHistory | undefined;
  /** Loads a model folder for this review alone (disposed once its rows are predicted). */
  load(modelDir: string): Promise<Classifier>;
  /** A model folder's predictions changed (a threshold was saved): drop what was loaded from it. */
  modelChanged(modelDir: string): void;
}

/** The predictions of a run's saved model on its held-out rows. */
interface Predicted {
  labels: string[];
  rows: HeldOutRow[];
}

/** Runs whose predictions are kept (the ones reviewed last). */
const KEEP = 4;

export class RunReviews {
  private readonly predicted = new Map<string, Promise<Predicted>>();

  constructor(private readonly options: ReviewOptions) {}

  async rows(runId: string): Promise<RunReview> {
    const { labels, rows } = await this.predict(runId);
    const cells = confusionRows(rows, labels.length).map((line) => line.map((cell) => ({ count: cell.length, rows: cell.slice(0, REVIEW_ROWS_PER_CELL) })));
    const splits: Record<string, number> = {};
    for (const row of rows) splits[row.split] = (splits[row.split] ?? 0) + 1;
    const metrics = classificationMetrics(rows.map(predictedClass), rows.map((r) => r.label), labels);
    return { runId, labels, splits, cells, possibleLabelErrors: possibleLabelErrors(rows, labels.length), metrics };
  }

  async calibration(runId: string): Promise<RunCalibration> {
    const run = this.finishedRun(runId);
    const calibration = readCalibration(run.outDir);
    const labels = readLabels(run.outDir);
    const result: RunCalibration = { runId, labels, ...(calibration ? { calibration } : {}) };
    if (labels.length !== 2) return result;
    try {
      const { rows } = await this.predict(runId);
      const validation = rows.filter((r) => r.split === 'validation');
      const curveRows = validation.length > 0 ? validation : rows;
      result.thresholdCurve = thresholdCurve(curveRows.map((r) => r.probs[1]), curveRows.map((r) => r.label));
    } catch (error) {
      result.curveProblem = isUserError(error) ? error.describe() : String(error instanceof Error ? error.message : error);
    }
    return result;
  }

  /** Keeps (or, undefined, removes) the run's two-class threshold; answers the calibration as it is now. */
  async saveThreshold(runId: string, threshold: number | undefined): Promise<RunCalibration> {
    const run = this.finishedRun(runId);
    const labels = readLabels(run.outDir);
    if (labels.length !== 2) {
      throw new UserError({ kind: 'bad-argument', message: `A decision threshold needs a model with two classes; this one has ${labels.length}.`, file: run.outDir });
    }
    keepThreshold(run.outDir, threshold);
    this.options.modelChanged(run.outDir);
    return this.calibration(runId);
  }

  private predict(runId: string): Promise<Predicted> {
    const cached = this.predicted.get(runId);
    if (cached) return cached;
    const run = this.finishedRun(runId);
    const columns = this.options.history(runId)?.events.flatMap((e) => (e.event === 'dataset' ? [e.summary.columns] : [])).at(-1);
    const work = (async () => {
      const classifier = await this.options.load(run.outDir);
      try {
        const data = classifier.loaded.preprocessing?.split?.data ?? run.data;
        const rows = await predictHeldOut(classifier, data, { textColumn: columns?.text, labelColumn: columns?.label });
        return { labels: classifier.info.labels, rows };
      } finally {
        classifier.dispose();
      }
    })();
    this.predicted.set(runId, work);
    work.catch(() => {
      if (this.predicted.get(runId) === work) this.predicted.delete(runId);
    });
    for (const old of [...this.predicted.keys()].slice(0, Math.max(0, this.predicted.size - KEEP))) this.predicted.delete(old);
    return work;
  }

  /** The run, when it has ended with a saved model; else a user error saying why not. */
  private finishedRun(runId: string): RunInfo {
    const run = this.options.history(runId)?.run;
    if (!run) throw new UserError({ kind: 'bad-argument', message: `There is no training run ${runId}.`, fix: 'Choose a run the panel lists.' });
    if (activeRunStatuses.includes(run.status)) {
      throw new UserError({ kind: 'bad-argument', message: 'The run is still going; its rows are reviewed once it has ended.' });
    }
    if (!existsSync(join(run.outDir, 'config.json'))) {
      throw new UserError({ kind: 'missing-file', message: `The run saved no model in ${run.outDir}.`, file: run.outDir, fix: 'Review a run that completed, stopped early or was stopped after its first evaluation.' });
    }
    return run;
  }
}

function readCalibration(modelDir: string): Calibration | undefined {
  const file = join(modelDir, CALIBRATION_FILE);
  return existsSync(file) ? (parseJsonFile(file) as unknown as Calibration) : undefined;
}

/** The classes of a model folder (its config.json's id2label, in id order). */
function readLabels(modelDir: string): string[] {
  const config = parseJsonFile(join(modelDir, 'config.json')) as { id2label?: Record<string, string> };
  const entries = Object.entries(config.id2label ?? {}).sort(([a], [b]) => Number(a) - Number(b));
  return entries.map(([, label]) => label);
}

/** Wires the requests to the connection; a user's mistake fails its request with `UserError.toJSON()`. */
export function registerReview(connection: Connection, options: ReviewOptions): RunReviews {
  const reviews = new RunReviews(options);
  const answer = async <R>(handler: () => Promise<R>): Promise<R> => {
    try {
      return await handler();
    } catch (error) {
      if (isUserError(error)) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message, error.toJSON());
      connection.console.error(String(error instanceof Error ? error.stack : error));
      throw error;
    }
  };
  const runIdOf = (params: unknown) => {
    const runId = (params as { runId?: unknown } | undefined)?.runId;
    if (typeof runId !== 'string') throw new ResponseError(LSPErrorCodes.RequestFailed, 'the request wants { runId: string }');
    return runId;
  };
  connection.onRequest(reviewRows, (params) => answer(() => reviews.rows(runIdOf(params))));
  connection.onRequest(runCalibration, (params) => answer(() => reviews.calibration(runIdOf(params))));
  connection.onRequest(saveThreshold, (params) =>
    answer(() => {
      const threshold = params?.threshold;
      if (threshold !== undefined && typeof threshold !== 'number') throw new ResponseError(LSPErrorCodes.RequestFailed, 'threshold must be a number');
      return reviews.saveThreshold(runIdOf(params), threshold);
    }),
  );
  return reviews;
}
