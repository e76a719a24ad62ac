/**
 * "Install Native Acceleration": installs `@tensorflow/tfjs-node` (CPU) or `@tensorflow/tfjs-node-gpu`
 * 4.22.0 with npm into `<globalStorage>/native`, where the language server looks for them
 * (client.ts), and offers to restart the server so that it computes with them. The same command
 * removes them again. The logic without `vscode` is in ./install.ts and ./cuda.ts.
 *
 * Arguments (keybindings, tests): `'cpu'`, `'gpu'` or `'remove'` skip the quick pick. The result
 * says what happened: `{ outcome: 'installed' | 'removed' | 'failed' | 'cancelled' | 'refused', … }`.
 */
import * as vscode from 'vscode';
import { engineInfo, type EngineInfo } from '../../shared/protocol';
import type { Handler } from '../commands';
import type { Ctx } from '../ctx';
import { checkTrusted } from '../errors';
import { checkCudaHere, describeCudaCheck } from './cuda';
import {
  checkInstalled,
  classifyNpmFailure,
  describeNpmFailure,
  findNpm,
  FolderInUseError,
  installAtomically,
  installedNative,
  InstallBusyError,
  manualInstallCommand,
  NATIVE_PACKAGES,
  nativeInstallDir,
  type NativeVariant,
  type NpmFailure,
  npmInstallArgs,
  packageSpec,
  platformSupport,
  removeInstall,
  replaceFolder,
  runNpm,
  unsupportedMessage,
} from './install';

type Choice = NativeVariant | 'remove';

export interface NativeCommandResult {
  outcome: 'installed' | 'removed' | 'failed' | 'cancelled' | 'refused';
  /** Why it failed or was refused: an `NpmFailure` cause, 'untrusted', 'unsupported-platform', 'cuda-missing', 'busy'… */
  cause?: string;
  /** The message shown. */
  message?: string;
  dir?: string;
}

const t = (message: string, ...args: (string | number)[]) => vscode.l10n.t(message, ...args);

export function installNativeAcceleration(ctx: Ctx): Handler {
  return async (arg?: unknown): Promise<NativeCommandResult> => {
    const untrusted = t('BERT: native acceleration is not installed from an untrusted workspace, since installing runs npm and the package\'s install script. Trust this workspace, then run the command again.');
    if (!checkTrusted(untrusted)) return { outcome: 'refused', cause: 'untrusted', message: untrusted };
    const dir = nativeInstallDir(ctx.extension.globalStorageUri.fsPath);
    const choice = arg === 'cpu' || arg === 'gpu' || arg === 'remove' ? arg : await pickChoice(dir);
    if (!choice) return { outcome: 'cancelled' };
    return choice === 'remove' ? remove(ctx, dir) : install(ctx, choice, dir);
  };
}

interface ChoiceItem extends vscode.QuickPickItem {
  choice: Choice;
}

async function pickChoice(dir: string): Promise<Choice | undefined> {
  const installed = installedNative(dir);
  const isInstalled = (variant: NativeVariant) => installed.some((p) => p.variant === variant);
  const items: ChoiceItem[] = [
    {
      choice: 'cpu',
      label: `$(chip) ${t('CPU')}: ${packageSpec('cpu')}`,
      description: isInstalled('cpu') ? t('installed') : undefined,
      detail: t('Native TensorFlow on the processor, on all its cores: Linux x64, macOS, Windows x64.'),
    },
    {
      choice: 'gpu',
      label: `$(zap) ${t('GPU')}: ${packageSpec('gpu')}`,
      description: isInstalled('gpu') ? t('installed') : undefined,
      detail: t('Native TensorFlow on an NVIDIA GPU: Linux or Windows x64, CUDA 11.2 and cuDNN 8.1.'),
    },
  ];
  if (installed.length > 0) {
    items.push({ choice: 'remove', label: `$(trash) ${t('Remove native acceleration')}`, detail: t('Deletes {0}; the engine computes on WebAssembly again.', dir) });
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: t('Install Native Acceleration'),
    placeHolder: t('Installed with npm into the extension\'s storage'),
    matchOnDetail: true,
  });
  return picked?.choice;
}

async function install(ctx: Ctx, requested: NativeVariant, dir: string): Promise<NativeCommandResult> {
  const log = ctx.outputChannel;
  let variant = requested;
  const support = platformSupport(variant);
  if (!support.supported) return fail('unsupported-platform', unsupportedMessage(variant, support.system, t));

  if (variant === 'gpu') {
    const cuda = await checkCudaHere();
    log.appendLine(`[${time()}] CUDA check for ${NATIVE_PACKAGES.gpu}: found ${cuda.found.map((f) => f.file).join(', ') || 'nothing'}; missing ${cuda.missing.map((m) => m.wanted).join(', ') || 'nothing'}`);
    if (!cuda.ok) {
      const message = describeCudaCheck(cuda, t);
      const cpu = t('Install CPU Package');
      const anyway = t('Install GPU Package Anyway');
      const answer = await vscode.window.showWarningMessage(message, cpu, anyway);
      if (answer === undefined) return { outcome: 'cancelled', cause: 'cuda-missing', message };
      if (answer === cpu) {
        variant = 'cpu';
        const cpuSupport = platformSupport(variant);
        if (!cpuSupport.supported) return fail('unsupported-platform', unsupportedMessage(variant, cpuSupport.system, t));
      }
    }
  }

  const npm = findNpm();
  if (!npm) {
    const command = manualInstallCommand(variant, dir);
    const message = t('BERT: npm was not found on the PATH, and the extension installs native acceleration with npm. Install Node.js (it brings npm) and restart VS Code, or run in a terminal: {0}', command);
    log.appendLine(`[${time()}] npm not found on the PATH. By hand: ${command}`);
    const copy = t('Copy Command');
    void vscode.window.showErrorMessage(message, copy).then((answer) => {
      if (answer === copy) void vscode.env.clipboard.writeText(command);
    });
    return { outcome: 'failed', cause: 'npm-missing', message, dir };
  }

  const spec = packageSpec(variant);
  log.appendLine(`[${time()}] Installing ${spec} into ${dir} with ${npm}`);
  let failure: NpmFailure | undefined;
  let cancelled = false;
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: t('BERT: installing {0}', spec), cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        await installAtomically(dir, async (staged) => {
          const args = npmInstallArgs(variant, staged);
          log.appendLine(`$ npm ${args.join(' ')}`);
          const run = await runNpm(npm, args, {
            cwd: staged,
            signal: controller.signal,
            onOutput: (text) => {
              log.append(text);
              const line = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).at(-1);
              if (line) progress.report({ message: line.length > 120 ? `${line.slice(0, 117)}…` : line });
            },
          });
          if (run.cancelled) {
            cancelled = true;
            throw new Error('cancelled');
          }
          if (run.code !== 0 || run.spawnError) {
            failure = classifyNpmFailure(run.output, run.code, run.spawnError);
            throw new Error(`npm install failed: ${failure.cause}`);
          }
          const check = checkInstalled(staged, variant);
          if (!check.ok) {
            failure = { cause: 'unknown', code: 0, lastError: t('{0} is missing after npm finished', check.missing) };
            throw new Error(failure.lastError);
          }
          progress.report({ message: t('putting it in place…') });
        });
      },
    );
  } catch (error) {
    if (cancelled) {
      log.appendLine(`[${time()}] Cancelled; ${dir} is as it was.`);
      const message = t('BERT: installation cancelled; nothing was changed.');
      void vscode.window.showInformationMessage(message);
      return { outcome: 'cancelled', message, dir };
    }
    if (failure) {
      log.appendLine(`[${time()}] Failed (${failure.cause}); ${dir} is as it was.`);
      return fail(failure.cause, describeNpmFailure(failure, variant, t), log);
    }
    if (error instanceof InstallBusyError) return fail('busy', busyMessage(error));
    if (error instanceof FolderInUseError) return finishWhenFree(ctx, error, variant);
    throw error;
  }
  log.appendLine(`[${time()}] Installed ${spec} in ${dir}.`);
  offerRestart(ctx, variant, dir);
  return { outcome: 'installed', dir };
}

/** The one message of a failure, with a button to npm's output. */
function fail(cause: string, message: string, log?: vscode.OutputChannel): NativeCommandResult {
  const show = t('Show Output');
  void (log ? vscode.window.showErrorMessage(message, show) : vscode.window.showErrorMessage(message)).then((answer) => answer === show && log?.show(true));
  return { outcome: 'failed', cause, message };
}

/** Installed: the server picks it up at its next start; offer that start now. */
function offerRestart(ctx: Ctx, variant: NativeVariant, dir: string): void {
  const spec = packageSpec(variant);
  const message = ctx.training.active
    ? t('BERT: {0} is installed in {1}. The language server uses it from its next start; restarting it now interrupts the training run in progress (it can be resumed).', spec, dir)
    : t('BERT: {0} is installed in {1}. The language server uses it from its next start.', spec, dir);
  const restart = t('Restart Language Server');
  void vscode.window.showInformationMessage(message, restart).then(async (answer) => {
    if (answer !== restart) return;
    await ctx.restartServer();
    await reportBackend(ctx, variant);
  });
}

/** Windows: the old install's DLLs are loaded by the server, so it has to stop before the swap. */
async function finishWhenFree(ctx: Ctx, error: FolderInUseError, variant: NativeVariant): Promise<NativeCommandResult> {
  const finish = t('Restart and Finish');
  const message = t('BERT: the language server is using the native acceleration installed before, so it cannot be replaced while the server runs. Restart the language server to finish installing {0}?', packageSpec(variant));
  const answer = await vscode.window.showWarningMessage(message, finish);
  if (answer !== finish) {
    await vscode.workspace.fs.delete(vscode.Uri.file(error.staged), { recursive: true, useTrash: false }).then(undefined, () => undefined);
    return { outcome: 'cancelled', cause: 'in-use', message, dir: error.target };
  }
  await ctx.stopServer();
  try {
    replaceFolder(error.staged, error.target);
  } finally {
    await ctx.languageClient();
  }
  await reportBackend(ctx, variant);
  return { outcome: 'installed', dir: error.target };
}

/** After a restart: whether the server now computes natively, and if not, why. */
async function reportBackend(ctx: Ctx, variant: NativeVariant): Promise<void> {
  const info: EngineInfo = await (await ctx.languageClient()).sendRequest(engineInfo, {});
  const name = NATIVE_PACKAGES[variant];
  if (info.backend === 'tensorflow') {
    void vscode.window.showInformationMessage(t('BERT: native acceleration is active: {0}.', info.backendProvider));
    return;
  }
  if (ctx.config.backend === 'wasm' || ctx.config.backend === 'cpu') {
    const open = t('Open Settings');
    void vscode.window
      .showWarningMessage(t('BERT: {0} is installed, but the setting "bertWorkbench.backend" is "{1}". Set it to "auto" to compute with it.', name, ctx.config.backend), open)
      .then((answer) => answer === open && vscode.commands.executeCommand('workbench.action.openSettings', 'bertWorkbench.backend'));
    return;
  }
  const reason = info.backendSkipped.find((s) => s.startsWith(`${name}:`))?.slice(name.length + 1).trim() ?? info.backendSkipped.join('; ');
  void vscode.window.showErrorMessage(t('BERT: the language server could not load {0} ({1}), so it still computes on {2}.', name, reason || '?', info.backend));
}

async function remove(ctx: Ctx, dir: string): Promise<NativeCommandResult> {
  const installed = installedNative(dir);
  if (ctx.training.active) {
    const message = t('BERT: a training run is in progress; stop it before removing native acceleration.');
    void vscode.window.showWarningMessage(message);
    return { outcome: 'refused', cause: 'training', message };
  }
  const names = installed.map((p) => `${p.name} ${p.version}`).join(', ') || NATIVE_PACKAGES.cpu;
  const confirm = t('Remove');
  const answer = await vscode.window.showWarningMessage(
    t('Remove {0} from {1}? The language server restarts and computes on WebAssembly again.', names, dir),
    { modal: true },
    confirm,
  );
  if (answer !== confirm) return { outcome: 'cancelled' };
  // The server may have the native library loaded (Windows would refuse to delete it).
  await ctx.stopServer();
  let removed: boolean;
  try {
    removed = await removeInstall(dir);
  } catch (error) {
    if (error instanceof InstallBusyError) return fail('busy', busyMessage(error));
    throw error;
  } finally {
    await ctx.languageClient();
  }
  ctx.outputChannel.appendLine(`[${time()}] Removed ${dir}.`);
  const message = removed ? t('BERT: native acceleration removed ({0}).', dir) : t('BERT: no native acceleration is installed in {0}.', dir);
  void vscode.window.showInformationMessage(message);
  return { outcome: 'removed', dir, message };
}

function busyMessage(error: InstallBusyError): string {
  return t('BERT: another VS Code window is installing native acceleration right now. Wait for it to finish (if none is, delete {0}).', error.lock);
}

function time(): string {
  return new Date().toLocaleTimeString();
}
