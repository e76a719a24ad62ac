/**
 * The training commands' handlers (registered from the table in ../commands.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { resumableRunStatuses } from '../../shared/protocol';
import type { Handler } from '../commands';
import type { TrainingDefaults } from '../config';
import type { Ctx } from '../ctx';
import { checkTrusted } from '../errors';
import { fineTuneFlow, start } from './flow';
import * as models from './model-commands';

/**
 * Arguments for starting a run without the flow (keybindings, tasks, tests): the dataset and,
 * optionally, anything that differs from the settings. Returns the run id.
 */
export interface FineTuneArgs {
  dataset: string;
  model?: string;
  textColumn?: string;
  labelColumn?: string;
  settings?: Partial<TrainingDefaults>;
  outDir?: string;
}

/** From the palette: the flow. From the explorer: the flow on that file. With `FineTuneArgs`: straight to training. */
export function fineTune(ctx: Ctx): Handler {
  return async (target?: unknown) => {
    if (isFineTuneArgs(target)) return (await startFromArgs(ctx, target))?.id;
    return (await fineTuneFlow(ctx, target instanceof vscode.Uri ? target : undefined))?.id;
  };
}

async function startFromArgs(ctx: Ctx, args: FineTuneArgs) {
  if (!checkTrusted()) return undefined;
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(args.dataset));
  const settings = { ...ctx.config.trainingDefaults(folder?.uri), ...args.settings };
  return start(ctx, {
    data: args.dataset,
    folder,
    textColumn: args.textColumn,
    labelColumn: args.labelColumn,
    model: args.model ?? settings.baseModel,
    settings,
    outDir: args.outDir,
  });
}

function isFineTuneArgs(value: unknown): value is FineTuneArgs {
  return typeof value === 'object' && value !== null && !(value instanceof vscode.Uri) && typeof (value as FineTuneArgs).dataset === 'string';
}

export function stopTraining(ctx: Ctx): Handler {
  return async () => {
    const active = ctx.training.active;
    if (!active) {
      void vscode.window.showInformationMessage(vscode.l10n.t('BERT: no training run is in progress.'));
      return false;
    }
    return ctx.training.stop(active.id);
  };
}

/** Continues the given run, else the newest interrupted or stopped one. */
export function resumeTraining(ctx: Ctx): Handler {
  return async (runId?: unknown) => {
    if (!checkTrusted()) return undefined;
    const runs = await ctx.training.list();
    const run = runs.find((r) => (typeof runId === 'string' ? r.id === runId : resumableRunStatuses.includes(r.status)));
    if (!run || !resumableRunStatuses.includes(run.status)) {
      void vscode.window.showInformationMessage(vscode.l10n.t('BERT: there is no interrupted or stopped run to resume.'));
      return undefined;
    }
    return (await ctx.training.resume(run.id)).id;
  };
}

export function loadModel(ctx: Ctx): Handler {
  return (target?: unknown) => models.loadModel(ctx, target instanceof vscode.Uri ? target : undefined);
}

export function openModelFolder(ctx: Ctx): Handler {
  return (runId?: unknown) => models.openModelFolder(ctx, typeof runId === 'string' ? runId : undefined);
}

/** Copies the bundled samples/ workspace into the extension's storage (once) and opens it. */
export function openSampleWorkspace(ctx: Ctx): Handler {
  return async () => {
    const source = path.join(ctx.extension.extensionPath, 'samples');
    const target = path.join(ctx.extension.globalStorageUri.fsPath, 'sample-workspace');
    fs.mkdirSync(target, { recursive: true });
    for (const name of fs.readdirSync(source)) {
      if (!fs.existsSync(path.join(target, name))) fs.copyFileSync(path.join(source, name), path.join(target, name));
    }
    const hasFolder = (vscode.workspace.workspaceFolders?.length ?? 0) > 0;
    await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(target), { forceNewWindow: hasFolder });
  };
}
