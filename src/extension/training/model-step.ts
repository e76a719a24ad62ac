/**
 * Step 3: the model to fine-tune. The presets come from the server with their sizes and an
 * estimated time per epoch on its backend (measured, see src/server/training/estimate.ts); the
 * model in the settings is the default; a local model folder or any Hub id can be given instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type ModelChoice, type ModelChoices, modelChoices } from '../../shared/protocol';
import { showError } from '../errors';
import { formatDuration } from './format';
import { FLOW_TITLE, type FlowState, type StepResult, TOTAL_STEPS } from './flow-state';
import { BACK, input, pick } from './quick-input';

interface ModelItem extends vscode.QuickPickItem {
  ref?: string;
  choice?: ModelChoice;
  action?: 'folder' | 'hub';
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;

/** What the models that ship with the extension are (their model cards: models/review-bert, models/tiny-bert). */
const BUILTIN_NOTES: Record<string, () => string> = {
  'builtin:review-bert': () => vscode.l10n.t('bundled, pre-trained on movie-review text'),
  'builtin:tiny-bert': () => vscode.l10n.t('bundled, random weights: learns only from a lot of data'),
};

export async function pickModel(state: FlowState, canGoBack: boolean): Promise<StepResult> {
  for (;;) {
    state.choices ??= askModelChoices(state);
    const wanted = state.model ?? state.settings.baseModel;
    const answer = await pick<ModelItem>({
      title: FLOW_TITLE(),
      step: 3,
      totalSteps: TOTAL_STEPS,
      canGoBack,
      placeholder: vscode.l10n.t('Choose the model to fine-tune (times are estimates for this dataset)'),
      items: state.choices!.then((choices) => modelItems(choices, wanted), (error) => (showError(error, state.ctx.outputChannel), modelItems(undefined, wanted))),
      active: (item) => item.ref === wanted,
    });
    if (answer === undefined || answer === BACK) return answer;
    const ref = answer.action ? await askForModel(answer.action, state) : answer.ref;
    if (ref === undefined) continue;
    state.model = ref;
    state.modelChoice = answer.choice;
    state.settings = { ...state.settings, ...fitSettings(state, answer.choice) };
    return 'next';
  }
}

/** The presets with estimates for this dataset; asked for early, since the server measures its backend first. */
export async function askModelChoices(state: FlowState): Promise<ModelChoices> {
  const summary = state.summary!;
  const tokens = summary.tokens ? Math.round((summary.tokens.median + summary.tokens.p90) / 2) : 64;
  const client = await state.ctx.languageClient();
  return client.sendRequest(modelChoices, {
    trainExamples: summary.splits.train.examples,
    evalExamples: summary.splits.validation.examples,
    tokensPerExample: Math.min(tokens, state.settings.maxLength),
    batchSize: state.settings.batchSize,
    numLabels: summary.id2label.length,
    hub: state.ctx.config.hub(state.folder?.uri),
  });
}

/** The model's own limits on the settings: max length at most its positions, frozen layers at most its layers. */
function fitSettings(state: FlowState, choice: ModelChoice | undefined): Partial<FlowState['settings']> {
  if (!choice) return {};
  return { maxLength: Math.min(state.settings.maxLength, choice.maxLength), freezeLayers: Math.min(state.settings.freezeLayers, choice.layers) };
}

function modelItems(choices: ModelChoices | undefined, wanted: string): ModelItem[] {
  const presets = (choices?.choices ?? []).map((choice) => presetItem(choice, choices!));
  const custom: ModelItem[] = presets.some((item) => item.ref === wanted)
    ? []
    : [{ label: `$(settings-gear) ${wanted}`, description: vscode.l10n.t('from the settings'), ref: wanted }];
  return [
    ...custom,
    ...presets,
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: vscode.l10n.t('$(folder-opened) Local model folder…'), detail: vscode.l10n.t('A Hugging Face model folder: config.json, weights, tokenizer files'), action: 'folder' },
    { label: vscode.l10n.t('$(cloud-download) Hugging Face Hub id…'), detail: vscode.l10n.t('Any BERT model on the Hub, e.g. google/bert_uncased_L-8_H-512_A-8'), action: 'hub' },
  ];
}

function presetItem(choice: ModelChoice, choices: ModelChoices): ModelItem {
  const size = vscode.l10n.t('{0} parameters', formatCount(choice.parameters));
  const time = choice.secondsPerEpoch === undefined ? '' : ` · ${vscode.l10n.t('~{0} per epoch on {1}', formatDuration(choice.secondsPerEpoch), choices.backend)}`;
  const where = BUILTIN_NOTES[choice.ref]?.() ?? (choice.local ? vscode.l10n.t('downloaded') : vscode.l10n.t('downloaded from the Hugging Face Hub on first use'));
  return {
    label: choice.ref,
    description: `${size}${time}`,
    detail: `${vscode.l10n.t('{0} layers, hidden size {1}, {2} heads', choice.layers, choice.hidden, choice.heads)} · ${where}`,
    ref: choice.ref,
    choice,
  };
}

/** `4.4M`, `110M`, `980K` */
export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

async function askForModel(action: 'folder' | 'hub', state: FlowState): Promise<string | undefined> {
  if (action === 'hub') {
    const id = await input({
      title: FLOW_TITLE(),
      step: 3,
      totalSteps: TOTAL_STEPS,
      canGoBack: true,
      prompt: vscode.l10n.t('A Hugging Face Hub id of a BERT model (downloaded once, then cached)'),
      placeholder: 'google/bert_uncased_L-4_H-256_A-4',
      value: '',
      validate: (value) => (HUB_ID.test(value.trim()) ? undefined : vscode.l10n.t('Give an id like bert-base-uncased or google/bert_uncased_L-4_H-256_A-4.')),
    });
    return typeof id === 'string' ? id.trim() : undefined;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    openLabel: vscode.l10n.t('Fine-tune This Model'),
    title: vscode.l10n.t('A Hugging Face model folder (config.json, weights, tokenizer files)'),
    defaultUri: state.folder?.uri,
  });
  const folder = picked?.[0]?.fsPath;
  if (folder && !fs.existsSync(path.join(folder, 'config.json'))) {
    void vscode.window.showWarningMessage(vscode.l10n.t('BERT: {0} has no config.json; choose a Hugging Face model folder.', folder));
    return undefined;
  }
  return folder;
}
