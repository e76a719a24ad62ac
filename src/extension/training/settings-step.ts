/**
 * Step 4: the main settings, each with its default from the `bertWorkbench.train.*` settings, and
 * "Start training" on top. Picking a setting asks for its value (or first offers its usual values,
 * as "Adapt to the dataset first" does: off, 300 or 1000 masked-LM steps) and comes back here.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TrainingDefaults } from '../config';
import { formatDuration } from './format';
import { FLOW_TITLE, type FlowState, type StepResult, TOTAL_STEPS } from './flow-state';
import { BACK, input, pick } from './quick-input';

type Key = 'epochs' | 'learningRate' | 'batchSize' | 'maxLength' | 'freezeLayers' | 'adaptSteps';

interface SettingsItem extends vscode.QuickPickItem {
  action: 'start' | 'output' | Key;
}

interface Field {
  key: Key;
  label: () => string;
  prompt: () => string;
  show: (s: TrainingDefaults, state: FlowState) => string;
  /** The value, or a message saying what is acceptable. */
  parse: (text: string, state: FlowState) => number | undefined | { problem: string };
  /** Values offered in a pick first (with "Other…" for the input box), each described for people. */
  choices?: { values: number[]; describe: (value: number, state: FlowState) => Pick<vscode.QuickPickItem, 'label' | 'description'> };
}

interface ChoiceItem extends vscode.QuickPickItem {
  /** undefined: "Other…", which asks for a number. */
  value?: number;
}

/** "Adapt to the dataset first" offers: off, or this many masked-LM steps on the dataset's text (any other number through "Other…"). */
const ADAPT_CHOICES = [0, 300, 1000];

const int = (min: number, max: number) => (text: string) => {
  const n = Number(text.trim());
  return Number.isInteger(n) && n >= min && n <= max ? n : { problem: vscode.l10n.t('Give a whole number from {0} to {1}.', min, max) };
};

const FIELDS: Field[] = [
  {
    key: 'epochs',
    label: () => vscode.l10n.t('Epochs'),
    prompt: () => vscode.l10n.t('Passes over the training data (BERT: 2 to 4)'),
    show: (s) => String(s.epochs),
    parse: int(1, 1000),
  },
  {
    key: 'learningRate',
    label: () => vscode.l10n.t('Learning rate'),
    prompt: () => vscode.l10n.t('Peak learning rate, e.g. 3e-5, or "auto" for the model\'s size'),
    show: (s, state) => (s.learningRate === undefined ? vscode.l10n.t('auto ({0})', autoRate(state)) : String(s.learningRate)),
    parse: (text) => {
      if (text.trim().toLowerCase() === 'auto' || !text.trim()) return undefined;
      const x = Number(text.trim());
      return x > 0 && x <= 1 ? x : { problem: vscode.l10n.t('Give a number above 0 and at most 1 (e.g. 3e-5), or "auto".') };
    },
  },
  {
    key: 'batchSize',
    label: () => vscode.l10n.t('Batch size'),
    prompt: () => vscode.l10n.t('Examples per step (16 or 32 are usual)'),
    show: (s) => String(s.batchSize),
    parse: (text, state) => int(1, Math.max(1, state.summary?.splits.train.examples ?? 4096))(text),
  },
  {
    key: 'maxLength',
    label: () => vscode.l10n.t('Max length'),
    prompt: () => vscode.l10n.t('Tokens per example, [CLS] and [SEP] included; longer texts are cut'),
    show: (s, state) => `${s.maxLength}${tokensNote(state)}`,
    parse: (text, state) => int(8, maxPositions(state))(text),
  },
  {
    key: 'freezeLayers',
    label: () => vscode.l10n.t('Layers to freeze'),
    prompt: () => vscode.l10n.t('Bottom encoder layers kept as they are (0 trains all of them)'),
    show: (s, state) => (layersOf(state) ? vscode.l10n.t('{0} of {1}', s.freezeLayers, layersOf(state)!) : String(s.freezeLayers)),
    parse: (text, state) => int(0, layersOf(state) ?? 48)(text),
  },
  {
    key: 'adaptSteps',
    label: () => vscode.l10n.t('Adapt to the dataset first'),
    prompt: () => vscode.l10n.t("Masked-LM steps on the dataset's own text before fine-tuning (0 = off; 300 to 1000 are usual)"),
    show: (s, state) => (s.adaptSteps > 0 ? `${vscode.l10n.t('{0} masked-LM steps', s.adaptSteps)}${adaptTimeNote(s.adaptSteps, state)}` : vscode.l10n.t('off')),
    parse: int(0, 1_000_000),
    choices: {
      values: ADAPT_CHOICES,
      describe: (steps, state) =>
        steps === 0
          ? { label: vscode.l10n.t('Off'), description: vscode.l10n.t('fine-tune the model as it is') }
          : { label: vscode.l10n.t('{0} masked-LM steps', steps), description: vscode.l10n.t("on the dataset's text, no labels, then fine-tune{0}", adaptTimeNote(steps, state)) },
    },
  },
];

export async function editSettings(state: FlowState, canGoBack: boolean): Promise<StepResult> {
  for (;;) {
    const answer = await pick<SettingsItem>({
      title: FLOW_TITLE(),
      step: 4,
      totalSteps: TOTAL_STEPS,
      canGoBack,
      placeholder: vscode.l10n.t('Press Enter to start training, or pick a setting to change it'),
      // After a change, Enter starts: "Start training" is always the default.
      items: settingsItems(state),
    });
    if (answer === undefined || answer === BACK) return answer;
    if (answer.action === 'start') return 'next';
    if (answer.action === 'output') await chooseOutputParent(state);
    else await editField(FIELDS.find((f) => f.key === answer.action)!, state);
  }
}

function settingsItems(state: FlowState): SettingsItem[] {
  const s = state.settings;
  const total = estimatedTotal(state);
  const start: SettingsItem = {
    action: 'start',
    label: vscode.l10n.t('$(play) Start training'),
    description: total === undefined ? undefined : vscode.l10n.t('about {0}', formatDuration(total)),
    detail: [
      `${state.model}`,
      vscode.l10n.t('{0} epochs, batch {1}', s.epochs, s.batchSize),
      ...(s.maxSteps !== undefined ? [vscode.l10n.t('at most {0} steps', s.maxSteps)] : []),
      ...(s.adaptSteps > 0 ? [vscode.l10n.t('adapted to the dataset first ({0} masked-LM steps)', s.adaptSteps)] : []),
    ].join(' · '),
  };
  const fields = FIELDS.map((f): SettingsItem => ({ action: f.key, label: `$(symbol-property) ${f.label()}`, description: f.show(s, state) }));
  const output: SettingsItem = {
    action: 'output',
    label: vscode.l10n.t('$(folder) Output folder'),
    description: `${vscode.workspace.asRelativePath(outputParent(state))}${path.sep}…`,
  };
  return [start, { action: 'start', label: '', kind: vscode.QuickPickItemKind.Separator }, ...fields, output];
}

async function editField(field: Field, state: FlowState): Promise<void> {
  const current = state.settings[field.key];
  if (field.choices) {
    const chosen = await chooseValue(field, field.choices, state);
    if (chosen !== 'other') {
      if (chosen !== undefined) state.settings = { ...state.settings, [field.key]: chosen };
      return;
    }
  }
  const text = await input({
    title: `${FLOW_TITLE()}: ${field.label()}`,
    step: 4,
    totalSteps: TOTAL_STEPS,
    canGoBack: true,
    prompt: field.prompt(),
    value: current === undefined ? 'auto' : String(current),
    validate: (value) => {
      const parsed = field.parse(value, state);
      return typeof parsed === 'object' ? parsed.problem : undefined;
    },
  });
  if (typeof text !== 'string') return;
  const value = field.parse(text, state);
  if (typeof value !== 'object') state.settings = { ...state.settings, [field.key]: value };
}

/** The field's usual values in a pick (the current one focused); 'other' when the user wants to type one. */
async function chooseValue(field: Field, choices: NonNullable<Field['choices']>, state: FlowState): Promise<number | 'other' | undefined> {
  const current = state.settings[field.key];
  const values = [...new Set([...choices.values, ...(current === undefined ? [] : [current])])].sort((a, b) => a - b);
  const answer = await pick<ChoiceItem>({
    title: `${FLOW_TITLE()}: ${field.label()}`,
    step: 4,
    totalSteps: TOTAL_STEPS,
    canGoBack: true,
    placeholder: field.prompt(),
    items: [
      ...values.map((value): ChoiceItem => ({ ...choices.describe(value, state), value })),
      { label: vscode.l10n.t('Other number of steps…') },
    ],
    active: (item) => item.value === current,
  });
  if (answer === undefined || answer === BACK) return undefined;
  return answer.value ?? 'other';
}

async function chooseOutputParent(state: FlowState): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    defaultUri: vscode.Uri.file(outputParent(state)),
    openLabel: vscode.l10n.t('Save Models Here'),
    title: vscode.l10n.t('The folder the model folder is made in'),
  });
  if (picked?.[0]) state.outputParent = picked[0].fsPath;
}

export function outputParent(state: FlowState): string {
  return state.outputParent ?? state.ctx.config.outputFolder(state.folder);
}

function estimatedTotal(state: FlowState): number | undefined {
  const choice = state.modelChoice;
  if (choice?.secondsPerEpoch === undefined || !state.summary) return undefined;
  const s = state.settings;
  const stepsPerEpoch = Math.ceil(state.summary.splits.train.examples / s.batchSize);
  const epochs = s.maxSteps !== undefined ? Math.min(s.epochs, s.maxSteps / stepsPerEpoch) : s.epochs;
  return choice.secondsPerEpoch * epochs + (adaptSeconds(s.adaptSteps, state) ?? 0);
}

/** The estimated time of `steps` masked-LM steps with the chosen model, when it was measured. */
function adaptSeconds(steps: number, state: FlowState): number | undefined {
  const perStep = state.modelChoice?.secondsPerAdaptStep;
  return perStep === undefined ? undefined : perStep * steps;
}

function adaptTimeNote(steps: number, state: FlowState): string {
  const seconds = adaptSeconds(steps, state);
  return seconds === undefined ? '' : ` · ${vscode.l10n.t('about {0} more', formatDuration(seconds))}`;
}

function autoRate(state: FlowState): string {
  return choiceOf(state)?.learningRate.toExponential(0) ?? vscode.l10n.t('by model size');
}

function layersOf(state: FlowState): number | undefined {
  return choiceOf(state)?.layers;
}

function maxPositions(state: FlowState): number {
  return choiceOf(state)?.maxLength ?? 512;
}

function tokensNote(state: FlowState): string {
  const tokens = state.summary?.tokens;
  if (!tokens) return '';
  const cut = tokens.max > state.settings.maxLength;
  return ` · ${vscode.l10n.t('texts: median {0}, longest {1} tokens{2}', tokens.median, tokens.max, cut ? vscode.l10n.t(' (some cut)') : '')}`;
}

function choiceOf(state: FlowState) {
  return state.modelChoice;
}
