/**
 * "Fine-tune on Workspace Data": dataset → columns and labels → model → settings → start. Every
 * step has its default on top, so Enter, Enter, Enter starts a sensible run; Back goes one step
 * back. Started from the explorer on a dataset file (or with only one dataset in the workspace),
 * the dataset step is skipped.
 */
import * as vscode from 'vscode';
import { type DatasetChoice, listDatasets, type RunInfo } from '../../shared/protocol';
import type { Ctx } from '../ctx';
import { checkTrusted } from '../errors';
import { confirmColumns, inspect } from './columns-step';
import { FLOW_TITLE, type FlowState, type StepResult, TOTAL_STEPS } from './flow-state';
import { askModelChoices, pickModel } from './model-step';
import { ignoreModelsInGit, startParams, type TrainingPlan } from './plan';
import { BACK, pick } from './quick-input';
import { editSettings } from './settings-step';

type Step = (state: FlowState, canGoBack: boolean) => Promise<StepResult>;

export async function fineTuneFlow(ctx: Ctx, target?: vscode.Uri): Promise<RunInfo | undefined> {
  if (!checkTrusted() || !(await noRunInProgress(ctx))) return undefined;
  const folder = target ? vscode.workspace.getWorkspaceFolder(target) : undefined;
  const state: FlowState = { ctx, data: target?.fsPath, folder, settings: ctx.config.trainingDefaults(folder?.uri) };
  if (!(await runSteps(state, [pickDataset, confirmColumns, pickModel, editSettings]))) return undefined;
  return start(ctx, {
    data: state.data!,
    folder: state.folder,
    textColumn: state.textColumn,
    labelColumn: state.labelColumn,
    model: state.model!,
    settings: state.settings,
  });
}

export async function start(ctx: Ctx, plan: TrainingPlan): Promise<RunInfo> {
  const params = startParams(plan, ctx.config);
  ignoreModelsInGit(params.request.outDir);
  return ctx.training.start(params);
}

/** Runs the steps in order, Back returning to the last step that showed something. False when dismissed. */
async function runSteps(state: FlowState, steps: Step[]): Promise<boolean> {
  const shown: number[] = [];
  let i = 0;
  while (i < steps.length) {
    const result = await steps[i](state, shown.length > 0);
    if (result === undefined) return false;
    if (result === BACK) {
      i = shown.pop() ?? 0;
      continue;
    }
    if (result === 'next') shown.push(i);
    i += 1;
  }
  return true;
}

async function noRunInProgress(ctx: Ctx): Promise<boolean> {
  const active = ctx.training.active;
  if (!active) return true;
  const open = vscode.l10n.t('Open Training Panel');
  const stop = vscode.l10n.t('Stop Training');
  const choice = await vscode.window.showInformationMessage(vscode.l10n.t('BERT: a training run is in progress ({0}).', active.title), open, stop);
  if (choice === open) await vscode.commands.executeCommand('bertWorkbench.openPanel', active.id);
  if (choice === stop) await ctx.training.stop(active.id);
  return false;
}

// ---- step 1: the dataset ------------------------------------------------------------------------

interface DatasetItem extends vscode.QuickPickItem {
  dataset: DatasetChoice;
}

async function pickDataset(state: FlowState, canGoBack: boolean): Promise<StepResult> {
  if (state.data && !canGoBack) return afterDataset(state, 'skipped');
  const datasets = findDatasets(state.ctx);
  const items = datasets.then((found) => found.map(datasetItem));
  const found = await datasets;
  if (found.length === 0) return noDatasets();
  if (found.length === 1 && !canGoBack && !state.data) return chooseDataset(state, found[0], 'skipped');
  const activeFile = vscode.window.activeTextEditor?.document.uri.fsPath;
  const answer = await pick<DatasetItem>({
    title: FLOW_TITLE(),
    step: 1,
    totalSteps: TOTAL_STEPS,
    canGoBack: false,
    placeholder: vscode.l10n.t('Choose the labelled dataset to train on'),
    items,
    active: (item) => item.dataset.path === (state.data ?? activeFile),
  });
  if (answer === undefined || answer === BACK) return answer;
  return chooseDataset(state, answer.dataset, 'next');
}

function chooseDataset(state: FlowState, dataset: DatasetChoice, result: StepResult): Promise<StepResult> {
  if (state.data !== dataset.path) Object.assign(state, { textColumn: undefined, labelColumn: undefined, summary: undefined });
  state.data = dataset.path;
  state.folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dataset.path));
  state.settings = state.ctx.config.trainingDefaults(state.folder?.uri);
  return afterDataset(state, result);
}

/** Reads the whole dataset (its problems stop the flow here) and starts measuring for the model step. */
async function afterDataset(state: FlowState, result: StepResult): Promise<StepResult> {
  state.folder ??= vscode.workspace.getWorkspaceFolder(vscode.Uri.file(state.data!));
  if (!state.summary && !(await inspect(state))) return undefined;
  state.choices ??= askModelChoices(state);
  state.choices.catch(() => undefined);
  return result;
}

async function findDatasets(ctx: Ctx): Promise<DatasetChoice[]> {
  const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const client = await ctx.languageClient();
  const options = { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('BERT: looking for datasets…') };
  return (await vscode.window.withProgress(options, () => client.sendRequest(listDatasets, { roots }))).datasets;
}

function datasetItem(dataset: DatasetChoice): DatasetItem {
  const multiRoot = (vscode.workspace.workspaceFolders?.length ?? 0) > 1;
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dataset.path));
  const rows = `${dataset.rowsExact ? '' : '~'}${dataset.rows.toLocaleString()}`;
  const columns = dataset.format === 'folder' ? '' : ` · ${dataset.textColumn} → ${dataset.labelColumn}`;
  return {
    label: `$(${dataset.kind === 'folder' ? 'folder' : 'table'}) ${dataset.relativePath}`,
    description: `${dataset.format.toUpperCase()} · ${vscode.l10n.t('{0} rows', rows)}${columns}`,
    detail: `${multiRoot && folder ? `${folder.name} · ` : ''}${vscode.l10n.t('labels: {0}', dataset.labels.join(', ') || '—')}`,
    dataset,
  };
}

async function noDatasets(): Promise<undefined> {
  const walkthrough = vscode.l10n.t('Open Walkthrough');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('BERT: no labelled dataset found in the workspace. Add a CSV, TSV, JSON Lines, JSON or Parquet file with a text and a label column, or a folder with one sub-folder of .txt files per label.'),
    walkthrough,
  );
  if (choice === walkthrough) await vscode.commands.executeCommand('workbench.action.openWalkthrough', 'bert-workbench.bert-workbench#bertWorkbench.gettingStarted', false);
  return undefined;
}
