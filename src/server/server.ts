/**
 * The language server: the process the ML engine runs in, so that loading a model or a training
 * run never blocks the editor. It declares its capabilities in `onInitialize` and answers the
 * custom requests of `src/shared/protocol.ts` by calling the engine.
 */
import {
  createConnection,
  type InitializeResult,
  LSPErrorCodes,
  ProposedFeatures,
  ResponseError,
} from 'vscode-languageserver/node';
import { version_core as tfjsVersion } from '@tensorflow/tfjs-core';
import { env as transformersEnv } from '@huggingface/transformers';
import { version as serverVersion } from '../../package.json';
import { BACKEND_CHOICES, type BackendChoice, describeBackend, initBackend } from './engine/backend';
import { chooseWorkerCount } from './engine/train/parallel/workers';
import { DEFAULT_SETTINGS } from './engine/train/trainer';
import { isUserError } from './engine/errors';
import * as tf from './engine/tf';
import { loadClassifier } from './engine/classifier';
import { ClassifierCache } from './models';
import { registerReview } from './review';
import { registerPredictions } from './predictions';
import { registerTraining } from './training/register';
import {
  engineInfo,
  type EngineInfo,
  type EngineInfoParams,
  predict,
  type PredictParams,
  type PredictResult,
  type ServerInitOptions,
} from '../shared/protocol';

const connection = createConnection(ProposedFeatures.all);
let options: ServerInitOptions = { backend: 'auto' };
let classifiers = new ClassifierCache({});

connection.onInitialize((params): InitializeResult => {
  options = readInitOptions(params.initializationOptions);
  classifiers = new ClassifierCache({ backend: options.backend, cacheDir: options.cacheDir });
  return {
    capabilities: {},
    serverInfo: { name: 'BERT Workbench', version: serverVersion },
  };
});

connection.onRequest(predict, (params) => answer(() => predictTexts(params)));
connection.onRequest(engineInfo, (params) => answer(() => describeEngine(params)));
registerPredictions(connection, (model) => startBackend().then(() => classifiers.get(model)));
const training = registerTraining(connection, { settings: () => options, startBackend });
registerReview(connection, {
  history: (runId) => training.history(runId),
  load: (modelDir) => startBackend().then(() => loadClassifier(modelDir, { backend: options.backend, cacheDir: options.cacheDir })),
  modelChanged: (modelDir) => classifiers.forget(modelDir),
});
connection.onShutdown(async () => {
  await training.shutdown();
  classifiers.dispose();
});
connection.listen();

async function predictTexts({ model, texts, maxLength }: PredictParams): Promise<PredictResult> {
  if (typeof model !== 'string' || !Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new ResponseError(LSPErrorCodes.RequestFailed, 'predict wants { model: string, texts: string[] }');
  }
  await startBackend();
  const classifier = await classifiers.get(model);
  const predictions = await classifier.predict(texts, { maxLength });
  return { predictions, info: classifier.info };
}

async function describeEngine({ model }: EngineInfoParams): Promise<EngineInfo> {
  const backend = await startBackend();
  const classifier = model ? await classifiers.get(model) : undefined;
  const { numTensors, numBytes } = tf.memory();
  const { rss, heapUsed, external } = process.memoryUsage();
  return {
    backend: backend.name,
    backendProvider: backend.provider,
    backendSkipped: backend.skipped,
    computes: describeBackend(backend),
    gemmNote: backend.gemmNote,
    backendLocation: backend.location,
    autoWorkers: backend.name === 'wasm' ? chooseWorkerCount(0, { batchSize: DEFAULT_SETTINGS.batchSize, numParameters: classifier?.info.numParameters ?? 0, hiddenSize: classifier?.loaded.model.config.hiddenSize ?? 0 }) : 1,
    versions: {
      'bert-workbench': serverVersion,
      node: process.versions.node,
      '@tensorflow/tfjs-core': tfjsVersion,
      '@huggingface/transformers': transformersEnv.version,
    },
    memory: { rss, heapUsed, external, numTensors, numBytes },
    model: classifier?.info,
  };
}

/** Starts the chosen TF.js backend once (before any model loads, so the search paths count). */
function startBackend() {
  return initBackend(options.backend, options.nativeSearchPaths ?? []);
}

/**
 * Runs a request handler. A mistake of the user's becomes a `ResponseError` carrying
 * `UserError.toJSON()`, for the client to show; the server keeps running either way.
 */
async function answer<R>(handler: () => Promise<R>): Promise<R> {
  try {
    return await handler();
  } catch (error) {
    if (isUserError(error)) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message, error.toJSON());
    if (!(error instanceof ResponseError)) connection.console.error(String(error instanceof Error ? error.stack : error));
    throw error;
  }
}

function readInitOptions(raw: unknown): ServerInitOptions {
  const given = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<ServerInitOptions>;
  const backend = BACKEND_CHOICES.includes(given.backend as BackendChoice) ? (given.backend as BackendChoice) : 'auto';
  return {
    backend,
    cacheDir: typeof given.cacheDir === 'string' ? given.cacheDir : undefined,
    nativeSearchPaths: Array.isArray(given.nativeSearchPaths) ? given.nativeSearchPaths.filter(isString) : [],
    runsDir: typeof given.runsDir === 'string' ? given.runsDir : undefined,
  };
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
