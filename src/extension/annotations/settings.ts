/**
 * Typed access to the `bertWorkbench.annotations.*` settings, and the rule for which model the
 * annotations show.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ActiveModelInfo } from '../active-model';
import { resolveModelRef } from '../config';
import type { Ctx } from '../ctx';
import { GRANULARITIES, type Granularity } from './segments';

const SECTION = 'bertWorkbench.annotations';

export class AnnotationSettings {
  /** The setting that turns annotations (and their hovers) off entirely. */
  get enabled(): boolean {
    return this.settings.get<boolean>('enabled', true) !== false;
  }

  /** Language ids whose documents are annotated. */
  get languages(): readonly string[] {
    const value = this.settings.get<unknown>('languages', ['plaintext', 'markdown']);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : ['plaintext', 'markdown'];
  }

  get granularity(): Granularity {
    const value = this.settings.get<string>('granularity', 'line');
    return GRANULARITIES.includes(value as Granularity) ? (value as Granularity) : 'line';
  }

  /** Lines (sentences, paragraphs) shorter than this many characters get no annotation. */
  get minLength(): number {
    const value = Math.round(this.settings.get<number>('minLength', 10));
    return Number.isFinite(value) ? Math.min(Math.max(value, 1), 1000) : 10;
  }

  /** Annotations whose confidence is below this are dimmed. */
  get confidenceThreshold(): number {
    const value = this.settings.get<number>('confidenceThreshold', 0.7);
    return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0.7;
  }

  affects(event: vscode.ConfigurationChangeEvent): boolean {
    return event.affectsConfiguration(SECTION);
  }

  private get settings(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }
}

/** The model the annotations show, as the server should be asked for it. */
export interface AnnotationModel {
  /** What the server loads (folders made absolute). */
  ref: string;
  /** A short name for hovers. */
  name: string;
  /** When it was trained (ISO time), when the training flow said so. */
  trainedAt?: string;
}

/**
 * Which model the annotations show:
 * 1. the active model — the one last trained or loaded ("Load Model…") in this workspace;
 * 2. else the `bertWorkbench.model` setting, but only when the user set it (user, workspace or
 *    folder settings). Its default, `builtin:tiny-bert`, is an untrained toy: annotating every
 *    open text with its coin flips would be noise, so without a model of the user's choosing the
 *    editor shows no annotations;
 * 3. else none.
 */
export function annotationModel(ctx: Ctx): AnnotationModel | undefined {
  const workspaceFolder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const active: ActiveModelInfo | undefined = ctx.activeModel.current;
  if (active?.ref) {
    return { ref: resolveModelRef(active.ref, workspaceFolder), name: active.name || shortName(active.ref), trainedAt: active.trainedAt };
  }
  const inspected = vscode.workspace.getConfiguration('bertWorkbench').inspect<string>('model');
  const explicit = [inspected?.workspaceFolderValue, inspected?.workspaceValue, inspected?.globalValue].find(
    (value) => typeof value === 'string' && value.trim() !== '',
  );
  if (explicit === undefined) return undefined;
  return { ref: ctx.config.modelRef, name: shortName(ctx.config.model) };
}

/** `builtin:tiny-bert`, `google/bert_uncased_L-4_H-256_A-4`, or a folder's last name. */
export function shortName(ref: string): string {
  if (/^builtin:/.test(ref) || !/[\\/]/.test(ref) || /^[\w.-]+\/[\w.-]+$/.test(ref)) return ref;
  return path.basename(ref.replace(/[\\/]+$/, '')) || ref;
}
