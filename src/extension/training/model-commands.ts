/**
 * "Load Model…" (the model predictions use: a trained run's folder, a model folder found in the
 * output folders, or any folder) and "Open Model Folder" (shows a run's model in the Explorer).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { engineInfo, type RunInfo } from '../../shared/protocol';
import type { Ctx } from '../ctx';
import { checkTrusted } from '../errors';

interface ModelItem extends vscode.QuickPickItem {
  folder?: string;
  trainedAt?: string;
}

/** Loads the model (to check it) and makes it the one predictions use. */
export async function loadModel(ctx: Ctx, target?: vscode.Uri): Promise<string | undefined> {
  if (!checkTrusted()) return undefined;
  const picked: ModelItem | undefined = target ? { label: target.fsPath, folder: target.fsPath } : await pickModelFolder(ctx);
  if (!picked?.folder) return undefined;
  const client = await ctx.languageClient();
  const title = vscode.l10n.t('BERT: loading {0}…', path.basename(picked.folder));
  const info = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, () =>
    client.sendRequest(engineInfo, { model: picked.folder }),
  );
  await ctx.activeModel.set({ ref: picked.folder, name: path.basename(picked.folder), trainedAt: picked.trainedAt ?? trainedAt(picked.folder) });
  const labels = info.model?.labels.join(', ') ?? '—';
  void vscode.window.showInformationMessage(vscode.l10n.t('BERT: predictions now use {0} (labels: {1}).', path.basename(picked.folder), labels));
  return picked.folder;
}

async function pickModelFolder(ctx: Ctx): Promise<ModelItem | undefined> {
  const browse: ModelItem = { label: vscode.l10n.t('$(folder-opened) Browse…'), detail: vscode.l10n.t('Any Hugging Face BERT model folder') };
  const items = [...(await trainedModels(ctx)), browse];
  const current = ctx.activeModel.current?.ref;
  const picked = await vscode.window.showQuickPick(
    items.map((item) => (item.folder === current ? { ...item, description: `${item.description ?? ''} · ${vscode.l10n.t('in use')}` } : item)),
    { title: vscode.l10n.t('Load Model'), placeHolder: vscode.l10n.t('The model that predictions use'), matchOnDetail: true },
  );
  if (picked !== browse) return picked;
  const uris = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    openLabel: vscode.l10n.t('Load Model'),
    defaultUri: vscode.workspace.workspaceFolders?.[0] && vscode.Uri.file(ctx.config.outputFolder(vscode.workspace.workspaceFolders[0])),
  });
  return uris?.[0] && { label: uris[0].fsPath, folder: uris[0].fsPath };
}

/** Model folders of this window's runs and of the output folders, newest first. */
async function trainedModels(ctx: Ctx): Promise<ModelItem[]> {
  const runs = await ctx.training.list().catch(() => [] as RunInfo[]);
  const folders = new Map<string, ModelItem>();
  for (const run of runs) {
    if (!isModelFolder(run.outDir)) continue;
    const best = run.best ? ` · ${vscode.l10n.t('accuracy {0}%', (run.best.accuracy * 100).toFixed(1))}` : '';
    folders.set(run.outDir, { label: `$(beaker) ${path.basename(run.outDir)}`, description: `${run.status}${best}`, detail: run.outDir, folder: run.outDir, trainedAt: run.finishedAt });
  }
  for (const workspaceFolder of vscode.workspace.workspaceFolders ?? []) {
    const parent = ctx.config.outputFolder(workspaceFolder);
    for (const name of safeList(parent).sort().reverse()) {
      const folder = path.join(parent, name);
      if (!folders.has(folder) && isModelFolder(folder)) folders.set(folder, { label: `$(beaker) ${name}`, detail: folder, folder });
    }
  }
  return [...folders.values()];
}

/** Shows a run's model folder (the given run, else the newest, else the model in use) in the Explorer. */
export async function openModelFolder(ctx: Ctx, runId?: string): Promise<void> {
  const folder = (runId ? ctx.training.get(runId)?.outDir : undefined) ?? ctx.training.latest?.outDir ?? localModel(ctx);
  if (!folder || !fs.existsSync(folder)) {
    void vscode.window.showInformationMessage(vscode.l10n.t('BERT: there is no model folder yet. Fine-tune a model first.'));
    return;
  }
  const uri = vscode.Uri.file(folder);
  if (vscode.workspace.getWorkspaceFolder(uri)) await vscode.commands.executeCommand('revealInExplorer', uri);
  else await vscode.commands.executeCommand('revealFileInOS', uri);
}

function localModel(ctx: Ctx): string | undefined {
  const ref = ctx.activeModel.current?.ref;
  return ref && path.isAbsolute(ref) ? ref : undefined;
}

function isModelFolder(folder: string): boolean {
  return fs.existsSync(path.join(folder, 'config.json'));
}

function trainedAt(folder: string): string | undefined {
  try {
    // Only a folder this extension trained (it wrote training_args.json) has a training time.
    return fs.statSync(path.join(folder, 'training_args.json')).mtime.toISOString();
  } catch {
    return undefined;
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
