/**
 * Step 2: the text and label columns found in the dataset and the labels they give, to confirm or
 * change. The whole dataset is read here (on the server), so a problem in it stops the flow with a
 * message that goes to the line, where the server's diagnostic marks it.
 */
import * as vscode from 'vscode';
import type { DatasetSummary } from '../../server/engine/data';
import { inspectDataset } from '../../shared/protocol';
import { showError } from '../errors';
import { FLOW_TITLE, type FlowState, type StepResult, TOTAL_STEPS } from './flow-state';
import { problemOf, showProblem } from './problems';
import { BACK, pick } from './quick-input';

interface ColumnsItem extends vscode.QuickPickItem {
  action: 'confirm' | 'text' | 'label' | 'warning';
  /** For a warning item: the whole note, which the item's one line may cut. */
  warning?: string;
}

export async function confirmColumns(state: FlowState, canGoBack: boolean): Promise<StepResult> {
  for (;;) {
    const summary = state.summary!;
    const answer = await pick<ColumnsItem>({
      title: FLOW_TITLE(),
      step: 2,
      totalSteps: TOTAL_STEPS,
      canGoBack,
      placeholder: vscode.l10n.t('Columns and labels found in {0}: press Enter to use them', vscode.workspace.asRelativePath(summary.path)),
      items: columnsItems(summary),
    });
    if (answer === undefined || answer === BACK) return answer;
    if (answer.action === 'confirm') return 'next';
    if (answer.action === 'warning') {
      await vscode.window.showWarningMessage(answer.warning!, { modal: true });
      continue;
    }
    const column = await pickColumn(summary, answer.action);
    if (column === undefined) continue;
    const previous = { textColumn: state.textColumn ?? summary.columns.text, labelColumn: state.labelColumn ?? summary.columns.label };
    Object.assign(state, previous, answer.action === 'text' ? { textColumn: column } : { labelColumn: column });
    state.choices = undefined;
    if (!(await inspect(state))) Object.assign(state, previous);
  }
}

/** Reads the dataset with the chosen columns into `state.summary`; false (after telling the user) when it cannot. */
export async function inspect(state: FlowState): Promise<boolean> {
  const client = await state.ctx.languageClient();
  const options = { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('BERT: reading {0}…', vscode.workspace.asRelativePath(state.data!)) };
  try {
    const params = { path: state.data!, textColumn: state.textColumn, labelColumn: state.labelColumn, maxRowBytes: state.settings.maxRowBytes };
    state.summary = (await vscode.window.withProgress(options, () => client.sendRequest(inspectDataset, params))).summary;
    return true;
  } catch (error) {
    const problem = problemOf(error);
    if (problem) void showProblem(problem, vscode.l10n.t('BERT: the dataset has a problem: '));
    else showError(error, state.ctx.outputChannel);
    return false;
  }
}

function columnsItems(s: DatasetSummary): ColumnsItem[] {
  const counts = s.id2label.map((label) => `${label} (${s.splits.train.labels[label] ?? 0})`).join(', ');
  const splits = vscode.l10n.t('{0} train · {1} validation · {2} test', s.splits.train.examples, s.splits.validation.examples, s.splits.test.examples);
  const confirm: ColumnsItem = {
    action: 'confirm',
    label: s.format === 'folder'
      ? vscode.l10n.t('$(check) Use the texts of each label folder')
      : vscode.l10n.t('$(check) Use text column "{0}" and label column "{1}"', s.columns.text, s.columns.label),
    description: vscode.l10n.t('{0} labels', s.id2label.length),
    detail: [vscode.l10n.t('labels (training examples): {0}', counts), splits].join(' — '),
  };
  // Each note of the summary as an item of its own, after the choices (the engine's text); picking one shows it whole.
  const warnings = s.warnings.map((w): ColumnsItem => ({ action: 'warning', label: `$(warning) ${w}`, warning: w }));
  if (s.format === 'folder') return [confirm, ...warnings];
  return [
    confirm,
    { action: 'text', label: vscode.l10n.t('$(edit) Change the text column…'), description: s.columns.text },
    { action: 'label', label: vscode.l10n.t('$(edit) Change the label column…'), description: s.columns.label },
    ...warnings,
  ];
}

async function pickColumn(s: DatasetSummary, which: 'text' | 'label'): Promise<string | undefined> {
  const current = which === 'text' ? s.columns.text : s.columns.label;
  const other = which === 'text' ? s.columns.label : s.columns.text;
  const items = s.columns.found.filter((c) => c !== other).map((c) => ({ label: c, description: c === current ? vscode.l10n.t('current') : undefined }));
  const picked = await vscode.window.showQuickPick(items, {
    title: which === 'text' ? vscode.l10n.t('The column that holds the text') : vscode.l10n.t('The column that holds the label'),
    placeHolder: vscode.l10n.t('Columns of {0}', vscode.workspace.asRelativePath(s.path)),
    ignoreFocusOut: true,
  });
  return picked?.label;
}
