/**
 * Installing the optional native TensorFlow backend (`@tensorflow/tfjs-node` or `-gpu`) into the
 * extension's own storage, without `vscode`: which npm to run and with what, reading npm's output
 * when it fails, and putting the result in place atomically. The command (./command.ts) adds the
 * quick pick, the progress and the messages; the unit tests import this file directly.
 *
 * Layout: `<globalStorage>/native/` is an npm prefix (`package.json`, `node_modules/@tensorflow/…`).
 * The language server is given `<globalStorage>/native` as a search path, and the engine resolves
 * the packages with `require.resolve(name, { paths })`, which finds `<path>/node_modules/<name>`.
 * An install goes into a sibling `native.installing-*` folder first and replaces `native/` only
 * once npm has succeeded, so a failed or cancelled install leaves the previous one as it was.
 * Moving a finished install is safe: the binding finds libtensorflow relative to itself
 * (rpath `$ORIGIN/../../deps/lib`, `@loader_path` on macOS, a relative symlink or a copy on Windows).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The version of both packages; it matches the extension's `@tensorflow/tfjs-core`. */
export const NATIVE_VERSION = '4.22.0';
/** The TensorFlow C library the 4.22 packages are built against (their scripts/deps-constants.js). */
export const LIBTENSORFLOW_VERSION = '2.9.1';

export type NativeVariant = 'cpu' | 'gpu';
export const NATIVE_PACKAGES: Record<NativeVariant, string> = {
  cpu: '@tensorflow/tfjs-node',
  gpu: '@tensorflow/tfjs-node-gpu',
};

/** The message function: `vscode.l10n.t` in the extension, an English formatter in tests. */
export type Translate = (message: string, ...args: (string | number)[]) => string;

// ---- where ---------------------------------------------------------------------------------------

/** The npm prefix the command installs into. */
export function nativeInstallDir(globalStorage: string): string {
  return path.join(globalStorage, 'native');
}

/**
 * The folders the language server looks in for the native packages, in order: the command's
 * install, then the storage folder itself (where earlier instructions had users run npm).
 */
export function nativeSearchPaths(globalStorage: string): string[] {
  return [nativeInstallDir(globalStorage), globalStorage];
}

export interface InstalledNative {
  variant: NativeVariant;
  name: string;
  version: string;
  /** The package's folder. */
  dir: string;
}

/** The native packages under an npm prefix (the GPU one first: the engine prefers it). */
export function installedNative(prefix: string): InstalledNative[] {
  const found: InstalledNative[] = [];
  for (const variant of ['gpu', 'cpu'] as const) {
    const name = NATIVE_PACKAGES[variant];
    const dir = path.join(prefix, 'node_modules', ...name.split('/'));
    const version = readVersion(dir);
    if (version) found.push({ variant, name, version, dir });
  }
  return found;
}

/**
 * Where the engine found `name`: the first search path holding it (the engine looks there
 * before Node's own paths), else undefined (Node's paths, next to the extension or the CLI).
 */
export function locateNativePackage(name: string, searchPaths: string[]): { dir: string; version?: string } | undefined {
  for (const searchPath of searchPaths) {
    const dir = path.join(searchPath, 'node_modules', ...name.split('/'));
    if (fs.existsSync(path.join(dir, 'package.json'))) return { dir, version: readVersion(dir) };
  }
  return undefined;
}

/** What the engine reported about its backend (the fields of `EngineInfo` read here). */
export interface BackendFacts {
  backend: string;
  backendProvider: string;
  backendSkipped: string[];
}

/**
 * Where the active backend comes from, for Show Engine Info: "@tensorflow/tfjs-node 4.22.0 from
 * <folder>" (looked up the way the engine looks: the search paths first, then Node's own), or
 * "@tensorflow/tfjs-backend-wasm, bundled with the extension".
 */
export function describeBackendSource(facts: BackendFacts, searchPaths: string[], t: Translate): string {
  if (facts.backend !== 'tensorflow') return t('{0}, bundled with the extension', facts.backendProvider);
  const found = locateNativePackage(facts.backendProvider, searchPaths);
  return found ? t('{0} {1} from {2}', facts.backendProvider, found.version ?? '?', found.dir) : t('{0}, found by Node next to the extension', facts.backendProvider);
}

/**
 * Why a native package installed in the search paths is not the active backend: the reason the
 * engine gave when it tried to load it, or the backend setting that kept it from trying.
 * Undefined when nothing is installed there, or when it is in use.
 */
export function nativeNotUsed(facts: BackendFacts, searchPaths: string[], backendSetting: string, t: Translate): string | undefined {
  if (facts.backend === 'tensorflow') return undefined;
  const name = [NATIVE_PACKAGES.gpu, NATIVE_PACKAGES.cpu].find((n) => locateNativePackage(n, searchPaths));
  if (!name) return undefined;
  const reason = facts.backendSkipped.find((s) => s.startsWith(`${name}:`))?.slice(name.length + 1).trim();
  return reason
    ? t('{0} is installed but could not be loaded: {1}', name, reason)
    : t('{0} is installed but not used: the setting "bertWorkbench.backend" is "{1}"', name, backendSetting);
}

function readVersion(packageDir: string): string | undefined {
  try {
    const version = (JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

// ---- whether --------------------------------------------------------------------------------------

/**
 * Whether the package has a build for this system. tfjs-node-gpu 4.22 downloads libtensorflow for
 * `gpu-linux-x86_64` and `gpu-windows-x86_64` only; tfjs-node for Linux x64, macOS and Windows x64.
 */
export function platformSupport(variant: NativeVariant, platform: NodeJS.Platform = process.platform, arch: string = process.arch): { supported: boolean; system: string } {
  const system = `${platform}-${arch}`;
  const supported = variant === 'gpu' ? ['linux-x64', 'win32-x64'] : ['linux-x64', 'win32-x64', 'darwin-x64', 'darwin-arm64'];
  return { supported: supported.includes(system), system };
}

// ---- npm ------------------------------------------------------------------------------------------

/** npm's executable on the PATH (`npm.cmd` on Windows), or undefined. */
export function findNpm(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  const pathValue = env.PATH ?? env.Path ?? (platform === 'win32' ? Object.entries(env).find(([k]) => k.toUpperCase() === 'PATH')?.[1] : undefined) ?? '';
  const names = platform === 'win32' ? ['npm.cmd', 'npm.exe'] : ['npm'];
  const delimiter = platform === 'win32' ? ';' : ':';
  for (const dir of pathValue.split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = path.join(dir.replace(/^"(.*)"$/, '$1'), name);
      if (isExecutable(candidate, platform)) return candidate;
    }
  }
  return undefined;
}

function isExecutable(file: string, platform: NodeJS.Platform): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `@tensorflow/tfjs-node@4.22.0` */
export function packageSpec(variant: NativeVariant): string {
  return `${NATIVE_PACKAGES[variant]}@${NATIVE_VERSION}`;
}

/**
 * npm's arguments for installing `variant` into the prefix `dir`. Install scripts run in the
 * foreground so that their output (the libtensorflow download) reaches the output channel;
 * retries of failed requests are kept short so that being offline is reported in seconds; the log
 * level is set because an inherited `npm_config_loglevel=silent` (VS Code started from
 * `npm run --silent`) would hide the errors that the failure message is made from.
 * The user's npm configuration (registry, proxy, cache) applies as usual.
 */
export function npmInstallArgs(variant: NativeVariant, dir: string): string[] {
  return [
    'install',
    '--prefix', dir,
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--foreground-scripts',
    '--loglevel=notice',
    '--fetch-retry-mintimeout=2000',
    '--fetch-retry-maxtimeout=10000',
    packageSpec(variant),
  ];
}

/** The command to run by hand (in a terminal) for the same install, into the final folder. */
export function manualInstallCommand(variant: NativeVariant, dir: string): string {
  return `npm install --prefix "${dir}" ${packageSpec(variant)}`;
}

export interface NpmRun {
  /** npm's exit code (null when killed). */
  code: number | null;
  /** stdout and stderr as they came (the last 1 MB). */
  output: string;
  cancelled: boolean;
  /** Set when npm could not be started at all. */
  spawnError?: NodeJS.ErrnoException;
}

const MAX_OUTPUT = 1 << 20;

/**
 * Runs npm with `args` in `cwd`, passing its output on as it comes. Aborting the signal kills npm
 * and everything it started (the install script's download). On Windows `npm.cmd` needs a shell.
 */
export function runNpm(
  npm: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal; onOutput?: (text: string) => void; platform?: NodeJS.Platform },
): Promise<NpmRun> {
  const windows = (options.platform ?? process.platform) === 'win32';
  return new Promise((resolve) => {
    let output = '';
    let cancelled = false;
    const child = windows
      ? spawn([npm, ...args].map(quoteForCmd).join(' '), { cwd: options.cwd, env: options.env ?? process.env, shell: true, windowsHide: true })
      : spawn(npm, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true });
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-MAX_OUTPUT);
      options.onOutput?.(text);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const abort = () => {
      cancelled = true;
      killTree(child.pid, windows);
    };
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', abort);
      resolve({ code: null, output, cancelled, spawnError: error });
    });
    child.once('close', (code) => {
      options.signal?.removeEventListener('abort', abort);
      resolve({ code, output, cancelled });
    });
  });
}

function quoteForCmd(arg: string): string {
  return /^[\w@./:=\\-]+$/.test(arg) ? arg : `"${arg.replace(/"/g, '""')}"`;
}

function killTree(pid: number | undefined, windows: boolean): void {
  if (pid === undefined) return;
  try {
    if (windows) spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true }).on('error', () => undefined);
    else process.kill(-pid, 'SIGTERM'); // npm was started as the leader of its own process group
  } catch {
    // already gone
  }
}

// ---- why it failed --------------------------------------------------------------------------------

const NETWORK_CODES = ['ENOTFOUND', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNRESET', 'ENETUNREACH', 'EHOSTUNREACH', 'ESOCKETTIMEDOUT', 'EPROTO', 'CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN'];
const NETWORK_CODE = new RegExp(`\\b(${NETWORK_CODES.join('|')})\\b`);
/** What the install script prints when it starts (npm has fetched every package by then). */
const INSTALL_SCRIPT = /scripts[\\/]install\.js|\* Downloading libtensorflow/;
const BAD_DOWNLOAD = /incorrect header check|TAR_BAD_ARCHIVE|Z_DATA_ERROR|unexpected end of file|Could not find libtensorflow|node-pre-gyp ERR!|\b[45]\d\d status code downloading/;

export type NpmFailure =
  /** The registry could not be reached: offline, a DNS failure, a refused or timed-out connection, a proxy. */
  | { cause: 'registry-unreachable'; code: string; registry?: string }
  /** npm got the packages, but the install script's download from Google's bucket failed. */
  | { cause: 'libtensorflow-download'; code?: string; url?: string }
  | { cause: 'unsupported-platform'; detail: string }
  | { cause: 'no-permission'; path?: string }
  | { cause: 'disk-full' }
  | { cause: 'not-in-registry'; detail: string }
  | { cause: 'npm-missing'; detail: string }
  | { cause: 'unknown'; code: number | null; lastError: string };

/** Reads npm's output (and exit code) after a failed install and says why it failed. */
export function classifyNpmFailure(output: string, code: number | null, spawnError?: NodeJS.ErrnoException): NpmFailure {
  if (spawnError) return { cause: 'npm-missing', detail: `${spawnError.code ?? ''} ${spawnError.message}`.trim() };
  // `#!/usr/bin/env node` without node on the PATH; cmd's "is not recognized".
  if (code === 127 || /env: .?node.?: No such file|is not recognized as an internal or external command/.test(output)) {
    return { cause: 'npm-missing', detail: lastErrorLine(output) };
  }
  // tfjs-node's install script throws "Unsupported system: gpu-…"; npm says EBADPLATFORM for a package's os/cpu fields.
  const unsupported = /Unsupported system: ?([^\s'"]+)/.exec(output);
  if (unsupported) return { cause: 'unsupported-platform', detail: unsupported[1] };
  if (/\bEBADPLATFORM\b/.test(output)) return { cause: 'unsupported-platform', detail: /current: ([^)\n]*)\)/.exec(output)?.[1] ?? 'EBADPLATFORM' };

  const scriptStart = output.search(INSTALL_SCRIPT);
  if (scriptStart >= 0) {
    // The registry worked (npm runs install scripts only after fetching everything): what failed
    // happened in tfjs-node's own download from storage.googleapis.com, or in building the binding.
    const script = output.slice(scriptStart);
    const network = NETWORK_CODE.exec(script);
    if (network || BAD_DOWNLOAD.test(script) || /storage\.googleapis\.com[^\n]*(fail|ERR|error)/i.test(script)) {
      const url = /https?:\/\/\S*libtensorflow\S*/.exec(script)?.[0] ?? /https?:\/\/storage\.googleapis\.com\/\S+/.exec(script)?.[0];
      return { cause: 'libtensorflow-download', code: network?.[1], url };
    }
  } else {
    const network = NETWORK_CODE.exec(output);
    if (network || /\bFetchError\b|network request to .* failed/.test(output)) {
      const url = /(?:request to|network request to) (https?:\/\/\S+?)(?:,| failed|\s)/.exec(output)?.[1];
      return { cause: 'registry-unreachable', code: network?.[1] ?? 'network error', registry: url ? origin(url) : undefined };
    }
  }
  if (/\bENOSPC\b/.test(output)) return { cause: 'disk-full' };
  const permission = /\b(EACCES|EPERM)\b[\s\S]*?(?:path|dest) ['"]?([^'"\n]+)/.exec(output) ?? /\b(EACCES|EPERM)\b/.exec(output);
  if (permission) return { cause: 'no-permission', path: permission[2] };
  if (/\bE404\b|404 Not Found/.test(output)) return { cause: 'not-in-registry', detail: lastErrorLine(output) };
  return { cause: 'unknown', code, lastError: lastErrorLine(output) };
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** The most telling line of npm's output: the first `npm error` line that is not a stack frame. */
function lastErrorLine(output: string): string {
  const lines = output.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^npm (error|ERR!)/.test(l) && !/^npm (error|ERR!)\s+at /.test(l) && !/complete log of this run/.test(l));
  const line = errors.find((l) => !/^npm (error|ERR!) (code|errno|syscall|path|command|A complete)\b/.test(l)) ?? errors[0] ?? lines.at(-1) ?? '';
  return line.replace(/^npm (error|ERR!)\s*/, '').slice(0, 300);
}

/** One message for people: what went wrong and what to do. */
export function describeNpmFailure(failure: NpmFailure, variant: NativeVariant, t: Translate): string {
  const name = NATIVE_PACKAGES[variant];
  switch (failure.cause) {
    case 'registry-unreachable':
      return t(
        'BERT: npm cannot reach the package registry {0} ({1}): you are offline or the registry is unreachable. Connect to the internet (behind a proxy: set npm\'s "proxy" and "https-proxy" configuration) and run "BERT: Install Native Acceleration" again.',
        failure.registry ?? 'https://registry.npmjs.org',
        failure.code,
      );
    case 'libtensorflow-download':
      return t(
        'BERT: {0} needs libtensorflow {1}, which its install script downloads from storage.googleapis.com, and that download failed ({2}). Allow access to storage.googleapis.com (behind a proxy: set HTTPS_PROXY before starting VS Code) and run "BERT: Install Native Acceleration" again.',
        name,
        LIBTENSORFLOW_VERSION,
        failure.code ?? failure.url ?? 'download error',
      );
    case 'unsupported-platform':
      return unsupportedMessage(variant, failure.detail, t);
    case 'no-permission':
      return t('BERT: npm was not allowed to write {0}. Check the permissions of that folder and run "BERT: Install Native Acceleration" again.', failure.path ?? name);
    case 'disk-full':
      return t('BERT: the disk is full, so {0} could not be installed. Free some space and run "BERT: Install Native Acceleration" again.', name);
    case 'not-in-registry':
      return t('BERT: the npm registry has no {0} ({1}). If npm is set up to use a private registry or mirror, that registry must also serve the public npm packages.', packageSpec(variant), failure.detail);
    case 'npm-missing':
      return t('BERT: npm could not be started ({0}). Install Node.js (which brings npm) and restart VS Code, or install by hand as the documentation describes.', failure.detail);
    case 'unknown':
      return t('BERT: npm could not install {0} (exit code {1}: {2}). npm\'s whole output is in the "BERT Workbench" output channel.', packageSpec(variant), String(failure.code), failure.lastError || '—');
  }
}

export function unsupportedMessage(variant: NativeVariant, system: string, t: Translate): string {
  return variant === 'gpu'
    ? t('BERT: {0} has no build for this system ({1}): the GPU package exists for Linux x64 and Windows x64 only. Install the CPU package, or keep the built-in WebAssembly backend.', NATIVE_PACKAGES.gpu, system)
    : t('BERT: {0} has no build for this system ({1}): it exists for Linux x64, macOS and Windows x64. The built-in WebAssembly backend keeps working.', NATIVE_PACKAGES.cpu, system);
}

// ---- in place, atomically -------------------------------------------------------------------------

/** The folder is in use (Windows: a loaded DLL in it) and cannot be replaced now. */
export class FolderInUseError extends Error {
  constructor(
    readonly target: string,
    /** The new install, ready: `replaceFolder(staged, target)` once the folder is free. */
    readonly staged: string,
    readonly code: string,
  ) {
    super(`${target} is in use (${code})`);
  }
}

/** Another window is installing into the same storage. */
export class InstallBusyError extends Error {
  constructor(readonly lock: string) {
    super(`another install holds ${lock}`);
  }
}

/**
 * Fills a new sibling folder of `target` with `fill` and, when it succeeds, puts it in place of
 * `target`. When `fill` throws (or the process dies), `target` is left as it was and the partial
 * folder is removed. One install at a time per target, across processes (a lock folder).
 */
export async function installAtomically(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  await withLock(target, async () => {
    removeLeftovers(target);
    const staged = `${target}.installing-${process.pid}-${Date.now().toString(36)}`;
    fs.mkdirSync(staged, { recursive: true });
    try {
      await fill(staged);
    } catch (error) {
      fs.rmSync(staged, { recursive: true, force: true });
      throw error;
    }
    replaceFolder(staged, target);
  });
}

/**
 * Moves `staged` to `target`, keeping the old `target` until the new one is in place (and putting
 * it back if that fails). Throws `FolderInUseError` (with `staged` kept) when the old one cannot
 * be moved because it is in use.
 */
export function replaceFolder(staged: string, target: string): void {
  const old = `${target}.previous-${process.pid}-${Date.now().toString(36)}`;
  const hadOld = fs.existsSync(target);
  if (hadOld) {
    try {
      fs.renameSync(target, old);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (['EBUSY', 'EPERM', 'EACCES'].includes(code)) throw new FolderInUseError(target, staged, code);
      throw error;
    }
  }
  try {
    fs.renameSync(staged, target);
  } catch (error) {
    if (hadOld) fs.renameSync(old, target);
    throw error;
  }
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

/** Removes `target` atomically (renamed away first, so that no half-removed folder is ever seen). */
export async function removeInstall(target: string): Promise<boolean> {
  if (!fs.existsSync(target)) return false;
  await withLock(target, async () => {
    const old = `${target}.removing-${process.pid}-${Date.now().toString(36)}`;
    fs.renameSync(target, old);
    fs.rmSync(old, { recursive: true, force: true });
  });
  return true;
}

/** Partial folders of installs that died (their process is gone; the lock is ours, so none is running). */
function removeLeftovers(target: string): void {
  const parent = path.dirname(target);
  const prefix = `${path.basename(target)}.`;
  for (const name of fs.existsSync(parent) ? fs.readdirSync(parent) : []) {
    if (name.startsWith(prefix) && /^(installing|previous|removing)-/.test(name.slice(prefix.length))) {
      fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    }
  }
}

async function withLock<T>(target: string, body: () => Promise<T>): Promise<T> {
  const lock = `${target}.lock`;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  takeLock(lock);
  try {
    return await body();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function takeLock(lock: string): void {
  try {
    fs.mkdirSync(lock);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = Number(readText(path.join(lock, 'pid')));
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) throw new InstallBusyError(lock);
    // A lock left by a process that died: take it over.
  }
  fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a finished npm run must have left: the package and its native binding. */
export function checkInstalled(prefix: string, variant: NativeVariant): { ok: true; dir: string } | { ok: false; missing: string } {
  const dir = path.join(prefix, 'node_modules', ...NATIVE_PACKAGES[variant].split('/'));
  if (readVersion(dir) !== NATIVE_VERSION) return { ok: false, missing: path.join(dir, 'package.json') };
  const lib = path.join(dir, 'lib');
  const bindings = fs.existsSync(lib) ? fs.readdirSync(lib).filter((d) => d.startsWith('napi-v') && fs.existsSync(path.join(lib, d, 'tfjs_binding.node'))) : [];
  return bindings.length > 0 ? { ok: true, dir } : { ok: false, missing: path.join(lib, 'napi-v*', 'tfjs_binding.node') };
}
