/**
 * The training side of the language server: the requests of `src/shared/protocol.ts` that find
 * and inspect datasets, offer models, and start, stop, resume and replay runs, wired to the
 * connection. A user's mistake fails its request with the `UserError` as data (and a dataset
 * problem also becomes a diagnostic).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LSPErrorCodes, ResponseError, type Connection } from 'vscode-languageserver/node';
import type { BackendReport } from '../engine/backend';
import { discoverDatasets, loadDataset, summarizeDataset, type DatasetOptions } from '../engine/data';
import { isUserError } from '../engine/errors';
import { fineTune, type FineTuneRequest } from '../engine/fine-tune';
import { hubCacheFolder, resolveModelRef } from '../engine/hub';
import { Tokenizer } from '../engine/tokenizer';
import {
  inspectDataset,
  type InspectDatasetParams,
  listDatasets,
  listRuns,
  type ModelChoices,
  modelChoices,
  type ModelChoicesParams,
  resumeRun,
  runEvent,
  type RunHistory,
  runHistory,
  type ServerInitOptions,
  startRun,
  stopRun,
} from '../../shared/protocol';
import { DatasetProblems } from './dataset-problems';
import { ESTIMATE_METHOD, measureStepCosts, modelChoice, PRESETS, type StepCosts } from './estimate';
import { RunJournal } from './journal';
import { TrainingRuns } from './runs';

export interface TrainingServerOptions {
  /** The server's initialization options (known once `initialize` has arrived). */
  settings: () => ServerInitOptions;
  /** Starts the configured backend (once). */
  startBackend: () => Promise<BackendReport>;
}

/** How long a shutting-down server lets the active run save a checkpoint. */
const SHUTDOWN_GRACE_MS = 1500;

/** The model the extension fine-tunes (and predicts with) when nothing else is chosen: its vocabulary counts the tokens. */
const DEFAULT_MODEL = 'builtin:review-bert';

export function registerTraining(connection: Connection, options: TrainingServerOptions): { shutdown(): Promise<void>; history(runId: string): RunHistory | undefined } {
  const problems = new DatasetProblems(connection, (path, datasetOptions) => loadDataset(path, datasetOptions));
  let runs: TrainingRuns | undefined;
  const getRuns = () => (runs ??= createRuns(connection, options, problems));
  let costs: Promise<StepCosts> | undefined;

  connection.onRequest(listDatasets, ({ roots }) =>
    answer(async () => {
      const datasets = [];
      for (const root of roots ?? []) datasets.push(...(await discoverDatasets(root)).map((d) => ({ ...d, root })));
      return { datasets };
    }),
  );
  connection.onRequest(inspectDataset, (params) => answer(() => inspect(params, problems)));
  connection.onRequest(modelChoices, (params) =>
    answer(async () => {
      const backend = await options.startBackend();
      // Measured once per server, and never while a run would disturb (or be disturbed by) it.
      if (!costs && !getRuns().activeRun) costs = measureStepCosts();
      return offerModels(params, backend.name, await costs?.catch(() => undefined), options.settings().cacheDir, await builtinConfigs());
    }),
  );
  connection.onRequest(startRun, (params) => answer(async () => getRuns().start(params)));
  connection.onRequest(stopRun, ({ runId }) => answer(async () => ({ stopped: getRuns().stop(runId) })));
  connection.onRequest(resumeRun, ({ runId }) => answer(async () => getRuns().resume(runId)));
  connection.onRequest(listRuns, () => answer(async () => ({ runs: getRuns().list() })));
  connection.onRequest(runHistory, ({ runId }) => answer(async () => getRuns().history(runId) ?? null));
  connection.onDidChangeWatchedFiles(({ changes }) => problems.filesChanged(changes.map((c) => c.uri)));
  // The journal is read when the client first asks; reading it at `initialized` tells the client of interrupted runs early.
  connection.onInitialized(() => void getRuns());

  return {
    history: (runId) => getRuns().history(runId),
    async shutdown() {
      problems.dispose();
      await runs?.shutdown(SHUTDOWN_GRACE_MS);
    },
  };
}

function createRuns(connection: Connection, options: TrainingServerOptions, problems: DatasetProblems): TrainingRuns {
  const settings = options.settings();
  const log = (message: string) => connection.console.warn(message);
  return new TrainingRuns({
    journal: settings.runsDir ? new RunJournal(settings.runsDir, 20, log) : undefined,
    notify: (params) => {
      if (params.event?.event === 'dataset') problems.clear(params.run.data);
      void connection.sendNotification(runEvent, params);
    },
    fineTune: async (request, hooks) => {
      await options.startBackend();
      return fineTune(withServerDefaults(request, settings), hooks);
    },
    onFailed: (run, error) => {
      if (!isUserError(error)) log(`Training run ${run.id} failed: ${error instanceof Error ? error.stack : String(error)}`);
      problems.report(run.data, {}, error);
    },
  });
}

function withServerDefaults(request: FineTuneRequest, settings: ServerInitOptions): FineTuneRequest {
  return { ...request, backend: settings.backend, hub: { cacheDir: settings.cacheDir, ...request.hub } };
}

async function inspect(params: InspectDatasetParams, problems: DatasetProblems) {
  const datasetOptions: DatasetOptions = { textColumn: params.textColumn, labelColumn: params.labelColumn, maxRowBytes: params.maxRowBytes };
  try {
    const dataset = await loadDataset(params.path, datasetOptions);
    problems.clear(params.path);
    const tokenizer = Tokenizer.load(await resolveModelRef(DEFAULT_MODEL));
    return { summary: summarizeDataset(dataset, { countTokens: (text) => tokenizer.countTokens(text) }) };
  } catch (error) {
    problems.report(params.path, datasetOptions, error);
    throw error;
  }
}

/** The presets, each with its size, whether it is on disk already, and its estimated time per epoch for this workload. */
function offerModels(
  params: ModelChoicesParams,
  backend: string,
  costs: StepCosts | undefined,
  defaultCacheDir: string | undefined,
  configs: Map<string, Record<string, unknown>>,
): ModelChoices {
  const cacheDir = params.hub?.cacheDir || defaultCacheDir;
  const cached = (ref: string) => ref.startsWith('builtin:') || existsSync(join(hubCacheFolder(ref, { cacheDir }), '.complete'));
  return {
    backend,
    method: ESTIMATE_METHOD,
    choices: PRESETS.map((preset) => modelChoice(preset, params, cached(preset.ref), costs, configs.get(preset.ref))),
  };
}

/** The config.json of each built-in preset (review-bert names its own learning rate, which "auto" then means). */
async function builtinConfigs(): Promise<Map<string, Record<string, unknown>>> {
  const configs = new Map<string, Record<string, unknown>>();
  for (const { ref } of PRESETS.filter((p) => p.ref.startsWith('builtin:'))) {
    try {
      configs.set(ref, JSON.parse(readFileSync(join(await resolveModelRef(ref), 'config.json'), 'utf8')) as Record<string, unknown>);
    } catch {
      // A missing built-in model is reported when a run uses it; the estimate falls back to the size rule.
    }
  }
  return configs;
}

/** Runs a handler; a user's mistake becomes a `ResponseError` carrying `UserError.toJSON()`. */
async function answer<R>(handler: () => Promise<R>): Promise<R> {
  try {
    return await handler();
  } catch (error) {
    if (isUserError(error)) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message, error.toJSON());
    throw error;
  }
}
