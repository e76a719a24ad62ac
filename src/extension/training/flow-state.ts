/** What the steps of the fine-tune flow share: the choices so far, and how a step reports. */
import * as vscode from 'vscode';
import type { DatasetSummary } from '../../server/engine/data';
import type { ModelChoice, ModelChoices } from '../../shared/protocol';
import type { TrainingDefaults } from '../config';
import type { Ctx } from '../ctx';
import type { BACK } from './quick-input';

export interface FlowState {
  ctx: Ctx;
  data?: string;
  folder?: vscode.WorkspaceFolder;
  summary?: DatasetSummary;
  textColumn?: string;
  labelColumn?: string;
  model?: string;
  /** The preset picked, when the model is one (its size and limits). */
  modelChoice?: ModelChoice;
  settings: TrainingDefaults;
  /** Where this run's model folder goes (its parent); the setting's folder when not chosen. */
  outputParent?: string;
  /** Asked for as soon as the dataset is known: measuring the backend takes a second or two. */
  choices?: Promise<ModelChoices>;
}

/** `next`: the step showed its UI and was answered; `skipped`: it decided alone (Back passes over it). */
export type StepResult = 'next' | 'skipped' | typeof BACK | undefined;

export const TOTAL_STEPS = 4;
export const FLOW_TITLE = (): string => vscode.l10n.t('Fine-tune on Workspace Data');
