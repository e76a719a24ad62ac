/**
 * The server side of inline predictions: answers `bertWorkbench/predictInline` for the editor's
 * annotations and hovers. One `PredictionScheduler` per loaded classifier and length limit keeps
 * the queue (visible texts first, cancellable) and the cache by text.
 *
 * The documents themselves stay in the extension: it sends only the texts it needs (what is on
 * screen, then what is near it), so a 5,000-line file never crosses the wire and the server never
 * predicts a line nobody looks at.
 */
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Connection, LSPErrorCodes, RequestType0, ResponseError } from 'vscode-languageserver/node';
import { isUserError } from '../engine/errors';
import type { Classifier } from '../models';
import {
  type ExplainParams,
  explainText,
  type InlineModelInfo,
  type InlinePrediction,
  type InlinePredictParams,
  predictInline,
} from '../../shared/protocol';
import { CancelledError, PredictionScheduler, type SchedulerStats } from './scheduler';
import { ExplanationCancelled } from '../engine/explain/integrated-gradients';

const PRIORITIES = ['visible', 'nearby'];

/** One prediction queue's figures: its model and length limit, its counters, and its cache's fill. */
export interface PredictionQueueStats extends SchedulerStats {
  modelRef: string;
  maxLength: number | null;
  cacheSize: number;
  cacheCapacity: number;
}

/**
 * Read-only figures of the inline prediction queues of the classifiers loaded now, for the predict
 * soak (bench/soak-predict.mjs: that the cache is full, that every text was run through the model).
 * Not part of the extension's protocol: nothing in the extension asks it.
 */
export const predictionStats = new RequestType0<{ queues: PredictionQueueStats[] }, void>('bertWorkbench/predictionStats');

/** `classifierFor` loads (once) the classifier a request names, after starting the backend. */
export function registerPredictions(connection: Connection, classifierFor: (modelRef: string) => Promise<Classifier>): void {
  const schedulers = new WeakMap<Classifier, Map<number, PredictionScheduler<InlinePrediction>>>();
  const models = new WeakMap<Classifier, InlineModelInfo>();
  /** Every queue made; its scheduler held weakly (a classifier the model cache lets go takes its queues with it). */
  const queues = new Set<{ modelRef: string; maxLength: number | undefined; scheduler: WeakRef<PredictionScheduler<InlinePrediction>> }>();
  answerExplanations(connection, classifierFor);
  connection.onRequest(predictionStats, () => {
    const live: PredictionQueueStats[] = [];
    for (const queue of queues) {
      const scheduler = queue.scheduler.deref();
      if (!scheduler) queues.delete(queue);
      else live.push({ modelRef: queue.modelRef, maxLength: queue.maxLength ?? null, ...scheduler.stats, cacheSize: scheduler.cached.size, cacheCapacity: scheduler.cached.capacity });
    }
    return { queues: live };
  });

  const schedulerFor = (classifier: Classifier, maxLength: number | undefined) => {
    let byLength = schedulers.get(classifier);
    if (!byLength) schedulers.set(classifier, (byLength = new Map()));
    const key = maxLength ?? 0;
    let scheduler = byLength.get(key);
    if (!scheduler) {
      scheduler = new PredictionScheduler<InlinePrediction>(async (texts) => {
        const predictions = await classifier.predict(texts, { maxLength, batchSize: texts.length });
        return predictions.map(({ label, probs }) => ({ label, probs }));
      });
      byLength.set(key, scheduler);
      queues.add({ modelRef: classifier.info.modelRef, maxLength, scheduler: new WeakRef(scheduler) });
    }
    return scheduler;
  };

  const describe = (classifier: Classifier): InlineModelInfo => {
    let info = models.get(classifier);
    if (!info) {
      const { labels, modelRef, modelDir } = classifier.info;
      info = { labels, modelRef, modelDir, trainedAt: trainedAt(modelDir, classifier.loaded.weightsFile) };
      models.set(classifier, info);
    }
    return info;
  };

  connection.onRequest(predictInline, async (params, token) => {
    try {
      const { model, texts, maxLength, priority } = checkParams(params);
      const classifier = await classifierFor(model);
      if (token.isCancellationRequested) throw new CancelledError();
      const predictions = await schedulerFor(classifier, maxLength).predict(texts, priority, token);
      return { predictions, model: describe(classifier) };
    } catch (error) {
      if (error instanceof CancelledError) throw new ResponseError(LSPErrorCodes.RequestCancelled, error.message);
      if (isUserError(error)) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message, error.toJSON());
      if (!(error instanceof ResponseError)) connection.console.error(String(error instanceof Error ? error.stack : error));
      throw error;
    }
  });
}

/** `bertWorkbench/explain`: Integrated Gradients for one text, on demand, stopped when the hover goes. */
function answerExplanations(connection: Connection, classifierFor: (model: string) => Promise<Classifier>): void {
  connection.onRequest(explainText, async (params, token) => {
    const { model, text, maxLength } = params ?? ({} as ExplainParams);
    if (typeof model !== 'string' || typeof text !== 'string' || (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength >= 2 && maxLength <= 512))) {
      throw new ResponseError(LSPErrorCodes.RequestFailed, 'explain wants { model: string, text: string, maxLength?: 2…512 }');
    }
    const controller = new AbortController();
    const listener = token.onCancellationRequested(() => controller.abort());
    try {
      return await (await classifierFor(model)).explain(text, { maxLength, signal: controller.signal });
    } catch (error) {
      if (error instanceof ExplanationCancelled) throw new ResponseError(LSPErrorCodes.RequestCancelled, error.message);
      if (isUserError(error)) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message, error.toJSON());
      throw error;
    } finally {
      listener.dispose();
    }
  });
}

function checkParams(params: InlinePredictParams): InlinePredictParams {
  const { model, texts, maxLength, priority } = params ?? ({} as InlinePredictParams);
  const valid =
    typeof model === 'string' &&
    Array.isArray(texts) &&
    texts.every((t) => typeof t === 'string') &&
    (maxLength === undefined || (Number.isInteger(maxLength) && maxLength >= 2 && maxLength <= 512)) &&
    PRIORITIES.includes(priority);
  if (!valid) {
    throw new ResponseError(
      LSPErrorCodes.RequestFailed,
      'predictInline wants { model: string, texts: string[], maxLength?: 2…512, priority: "visible" | "nearby" }',
    );
  }
  return params;
}

/**
 * When a model folder was written by a training run of this engine (it holds `training_args.json`):
 * the time its weights were saved. Other models (a Hub id, `builtin:`, a downloaded folder) have none.
 */
function trainedAt(modelDir: string, weightsFile: string): string | undefined {
  try {
    if (!existsSync(join(modelDir, 'training_args.json'))) return undefined;
    return statSync(weightsFile).mtime.toISOString();
  } catch {
    return undefined;
  }
}
