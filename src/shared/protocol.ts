/**
 * The custom messages between the extension, the language server and the training panel, each
 * declared once with its payload types. Client and server both import this file, so the compiler
 * checks both ends of every request.
 *
 * A mistake the user made (a missing model folder, a bad file) travels as a `ResponseError` whose
 * `data` is `UserError.toJSON()`; anything else is a bug in the server.
 */
import { RequestType } from 'vscode-languageserver-protocol';
import type { BackendChoice } from '../server/engine/backend';
import type { ClassifierInfo, Prediction } from '../server/engine/classifier-api';
import type { UserError } from '../server/engine/errors';

export type { ClassifierInfo, Prediction };

// ---- extension ⇄ language server --------------------------------------------------------------

/** Sent by the client as LSP `initializationOptions`. */
export interface ServerInitOptions {
  /** Changing it restarts the server: TF.js has one backend per process. */
  backend: BackendChoice;
  /** Where models downloaded from the Hugging Face Hub are cached. */
  cacheDir?: string;
  /** Extra folders where the optional `@tensorflow/tfjs-node(-gpu)` packages may be installed. */
  nativeSearchPaths?: string[];
}

export interface PredictParams {
  /** A model folder, a Hub id, or `builtin:tiny-bert`. */
  model: string;
  texts: string[];
  /** Truncate each text to this many tokens, [CLS] and [SEP] included. */
  maxLength?: number;
}

export interface PredictResult {
  /** One per text, in order. */
  predictions: Prediction[];
  info: ClassifierInfo;
}

export const predict = new RequestType<PredictParams, PredictResult, void>('bertWorkbench/predict');

export interface EngineInfoParams {
  /** When given, this model is loaded (if it is not yet) and described in the answer. */
  model?: string;
}

export interface EngineInfo {
  /** The TF.js backend computing: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** The package that provides it, e.g. `@tensorflow/tfjs-backend-wasm`. */
  backendProvider: string;
  /** Why more preferred backends were passed over (empty when the first choice loaded). */
  backendSkipped: string[];
  /** Versions of the server and the libraries it computes with, keyed by name. */
  versions: Record<string, string>;
  model?: ClassifierInfo;
}

export const engineInfo = new RequestType<EngineInfoParams, EngineInfo, void>('bertWorkbench/engineInfo');

/** The `data` of a `ResponseError` that reports a user's mistake. */
export type UserErrorData = ReturnType<UserError['toJSON']>;

export function isUserErrorData(data: unknown): data is UserErrorData {
  if (typeof data !== 'object' || data === null) return false;
  const { error, kind } = data as Record<string, unknown>;
  return typeof error === 'string' && typeof kind === 'string';
}

/** One line for people: `file:line: message. fix` (the same shape as `UserError.describe()`). */
export function describeUserError(data: UserErrorData): string {
  const where = data.file ? `${data.file}${data.line ? `:${data.line}` : ''}: ` : '';
  return `${where}${data.error}${data.fix ? ` ${data.fix}` : ''}`;
}

// ---- extension ⇄ training panel (webview postMessage) -----------------------------------------

/** What the panel shows about the engine. */
export interface PanelEngineState {
  backend: string;
  model: string;
  labels: string[];
}

export type HostToPanelMessage =
  | { type: 'engineInfo'; engine: PanelEngineState }
  /** The engine could not be asked (untrusted workspace, server down, bad model). */
  | { type: 'engineUnavailable'; reason: string };

export type PanelToHostMessage =
  /** The panel's script has loaded and listens: send it the current state. */
  | { type: 'ready' }
  /** The user asked to read the engine state again. */
  | { type: 'refresh' };

export const panelToHostTypes: readonly PanelToHostMessage['type'][] = ['ready', 'refresh'];
