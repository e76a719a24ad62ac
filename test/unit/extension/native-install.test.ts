/**
 * "Install Native Acceleration" without VS Code (src/extension/native/install.ts): npm's real
 * failure output read into one message, the install that keeps the previous one when the new one
 * fails, the folder layout the engine's `require.resolve(name, { paths })` finds.
 *
 * The registry failure is produced for real: npm against a closed port on 127.0.0.1 (no network
 * needed). The libtensorflow failure cannot be produced without the internet (npm must fetch the
 * packages first), so its output is a fixture: what `npm install` (with `npmInstallArgs`) printed on
 * the development machine, where the npm registry is reachable and storage.googleapis.com is not
 * (fixtures/npm-tfjs-node*-libtensorflow-enotfound.txt, unedited).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkInstalled,
  classifyNpmFailure,
  describeBackendSource,
  describeNpmFailure,
  findNpm,
  installAtomically,
  installedNative,
  InstallBusyError,
  manualInstallCommand,
  nativeInstallDir,
  nativeNotUsed,
  nativeSearchPaths,
  npmInstallArgs,
  platformSupport,
  removeInstall,
  runNpm,
  type Translate,
} from '../../../src/extension/native/install';

const english: Translate = (message, ...args) => message.replace(/\{(\d+)\}/g, (m, i: string) => (args[Number(i)] !== undefined ? String(args[Number(i)]) : m));
const fixture = (name: string) => readFileSync(join(__dirname, 'fixtures', name), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'native-install-test-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** A port on 127.0.0.1 that nothing listens on (it was just free). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The install args of the command, pointed at an unreachable registry, without retries, with a cache of its own. */
async function unreachableRegistryArgs(prefix: string): Promise<{ args: string[]; registry: string }> {
  const registry = `http://127.0.0.1:${await closedPort()}`;
  const args = [...npmInstallArgs('cpu', prefix), '--registry', registry, '--fetch-retries=0', '--fetch-timeout=5000', '--cache', join(scratch, 'npm-cache')];
  return { args, registry };
}

/** A fake installed package (what npm leaves), with or without its native binding. */
function fakePackage(prefix: string, name: string, version: string, binding = true): string {
  const dir = join(prefix, 'node_modules', ...name.split('/'));
  mkdirSync(join(dir, 'lib', 'napi-v8'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version, main: 'index.js' }));
  writeFileSync(join(dir, 'index.js'), 'module.exports = 1;\n');
  if (binding) writeFileSync(join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
  return dir;
}

const npm = findNpm();

test('npm is found on the PATH (this machine has it), and not on an empty PATH', () => {
  assert.ok(npm, 'npm on the PATH');
  assert.match(npm, /npm$/);
  assert.equal(findNpm({ PATH: '' }), undefined);
  const windowsDir = join(scratch, 'win-bin');
  mkdirSync(windowsDir, { recursive: true });
  writeFileSync(join(windowsDir, 'npm.cmd'), '@echo off\n');
  assert.equal(findNpm({ Path: `C:\\nowhere;${windowsDir}` }, 'win32'), join(windowsDir, 'npm.cmd'), 'npm.cmd on Windows, whatever the case of PATH');
});

test('the npm command installs the pinned package into the given prefix; the manual command says the same', () => {
  const args = npmInstallArgs('gpu', '/s/native.installing-1');
  assert.equal(args[0], 'install');
  assert.deepEqual(args.slice(args.indexOf('--prefix'), args.indexOf('--prefix') + 2), ['--prefix', '/s/native.installing-1']);
  assert.equal(args.at(-1), '@tensorflow/tfjs-node-gpu@4.22.0');
  assert.ok(args.includes('--foreground-scripts'), 'the install script\'s output reaches the output channel');
  assert.ok(args.includes('--loglevel=notice'), 'npm\'s errors are printed even under an inherited npm_config_loglevel=silent');
  assert.ok(!args.includes('--ignore-scripts'));
  assert.equal(manualInstallCommand('cpu', '/home/u/Code Storage/native'), 'npm install --prefix "/home/u/Code Storage/native" @tensorflow/tfjs-node@4.22.0');
});

test('npm against an unreachable registry: "offline or the registry is unreachable", and the fix', { timeout: 60_000 }, async () => {
  assert.ok(npm);
  const prefix = join(scratch, 'offline');
  mkdirSync(prefix, { recursive: true });
  const { args, registry } = await unreachableRegistryArgs(prefix);
  let streamed = '';
  const run = await runNpm(npm, args, { cwd: prefix, onOutput: (text) => (streamed += text) });
  assert.notEqual(run.code, 0, 'npm failed');
  assert.equal(run.cancelled, false);
  assert.equal(streamed, run.output, 'the output was passed on as it came');
  assert.match(run.output, /ECONNREFUSED/, 'npm says why (what this test reads)');

  const failure = classifyNpmFailure(run.output, run.code);
  assert.deepEqual(failure, { cause: 'registry-unreachable', code: 'ECONNREFUSED', registry });
  const message = describeNpmFailure(failure, 'cpu', english);
  assert.match(message, /offline or the registry is unreachable/);
  assert.ok(message.includes(registry), message);
  assert.match(message, /Connect to the internet/);
  assert.match(message, /run "BERT: Install Native Acceleration" again/);
  assert.ok(!existsSync(join(prefix, 'node_modules', '@tensorflow')), 'nothing was installed');
});

test('a failed install keeps the previous install as it was and leaves no partial folder', { timeout: 60_000 }, async () => {
  assert.ok(npm);
  const storage = join(scratch, 'storage-keep');
  const target = nativeInstallDir(storage);
  const previous = fakePackage(target, '@tensorflow/tfjs-node', '4.22.0');
  writeFileSync(join(target, 'marker'), 'the previous install');
  let staged = '';
  await assert.rejects(
    installAtomically(target, async (dir) => {
      staged = dir;
      const { args } = await unreachableRegistryArgs(dir);
      const run = await runNpm(npm, args, { cwd: dir });
      if (run.code !== 0) throw new Error(classifyNpmFailure(run.output, run.code).cause);
    }),
    /registry-unreachable/,
  );
  assert.notEqual(staged, target, 'npm worked in a folder of its own');
  assert.equal(readFileSync(join(target, 'marker'), 'utf8'), 'the previous install');
  assert.ok(existsSync(join(previous, 'package.json')));
  assert.deepEqual(readdirSync(storage).sort(), ['native'], 'no staging folder, no lock left behind');
  assert.deepEqual(installedNative(target).map((p) => `${p.name}@${p.version}`), ['@tensorflow/tfjs-node@4.22.0']);
});

test('a successful install replaces the previous one as a whole; removing takes it away', async () => {
  const storage = join(scratch, 'storage-replace');
  const target = nativeInstallDir(storage);
  fakePackage(target, '@tensorflow/tfjs-node', '4.22.0');
  writeFileSync(join(target, 'marker'), 'old');
  await installAtomically(target, async (dir) => {
    assert.ok(!existsSync(join(dir, 'marker')), 'the new install starts empty');
    fakePackage(dir, '@tensorflow/tfjs-node-gpu', '4.22.0');
    assert.ok(existsSync(join(target, 'marker')), 'the old one is in place while the new one is made');
  });
  assert.ok(!existsSync(join(target, 'marker')));
  assert.deepEqual(installedNative(target).map((p) => p.variant), ['gpu']);
  assert.deepEqual(readdirSync(storage), ['native']);
  assert.equal(await removeInstall(target), true);
  assert.deepEqual(readdirSync(storage), []);
  assert.equal(await removeInstall(target), false);
});

test('one install at a time: a live lock refuses, a dead one is taken over', async () => {
  const storage = join(scratch, 'storage-lock');
  const target = nativeInstallDir(storage);
  mkdirSync(`${target}.lock`, { recursive: true });
  writeFileSync(join(`${target}.lock`, 'pid'), String(process.ppid)); // alive: the test runner
  await assert.rejects(installAtomically(target, async () => undefined), InstallBusyError);
  const exited = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(join(`${target}.lock`, 'pid'), exited.stdout.trim()); // a process that has ended
  await installAtomically(target, async (dir) => void fakePackage(dir, '@tensorflow/tfjs-node', '4.22.0'));
  assert.deepEqual(readdirSync(storage), ['native']);
});

test('the libtensorflow download from storage.googleapis.com failing (real npm output) is named as such', () => {
  for (const [file, variant, url] of [
    ['npm-tfjs-node-libtensorflow-enotfound.txt', 'cpu', 'https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz'],
    ['npm-tfjs-node-gpu-libtensorflow-enotfound.txt', 'gpu', 'https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz'],
  ] as const) {
    const output = fixture(file);
    const failure = classifyNpmFailure(output, 1);
    // The output has ENOTFOUND too: it must not be taken for the registry being unreachable.
    assert.deepEqual(failure, { cause: 'libtensorflow-download', code: 'ENOTFOUND', url }, file);
    const message = describeNpmFailure(failure, variant, english);
    assert.match(message, /libtensorflow 2\.9\.1/);
    assert.match(message, /downloads from storage\.googleapis\.com, and that download failed \(ENOTFOUND\)/);
    assert.match(message, /Allow access to storage\.googleapis\.com/);
    assert.match(message, variant === 'gpu' ? /@tensorflow\/tfjs-node-gpu needs/ : /@tensorflow\/tfjs-node needs/);
  }
});

test('other failures: one message each, naming the cause', () => {
  const unsupported = classifyNpmFailure('> node scripts/install.js gpu download\nError: Unsupported system: gpu-freebsd-x86_64\n', 1);
  assert.deepEqual(unsupported, { cause: 'unsupported-platform', detail: 'gpu-freebsd-x86_64' });
  assert.match(describeNpmFailure(unsupported, 'gpu', english), /Linux x64 and Windows x64 only/);
  const missingNode = classifyNpmFailure("/usr/bin/env: 'node': No such file or directory\n", 127);
  assert.equal(missingNode.cause, 'npm-missing');
  const spawnFailed = Object.assign(new Error('spawn npm ENOENT'), { code: 'ENOENT' });
  assert.equal(classifyNpmFailure('', null, spawnFailed).cause, 'npm-missing');
  const unknown = classifyNpmFailure('npm error code E500\nnpm error 500 Internal Server Error - GET https://r.example/x\nnpm error A complete log of this run can be found in: /x.log\n', 1);
  assert.deepEqual(unknown, { cause: 'unknown', code: 1, lastError: '500 Internal Server Error - GET https://r.example/x' });
  assert.match(describeNpmFailure(unknown, 'cpu', english), /exit code 1: 500 Internal Server Error.*output channel/);
});

test('the GPU package is offered for Linux x64 and Windows x64 only', () => {
  assert.equal(platformSupport('gpu', 'linux', 'x64').supported, true);
  assert.equal(platformSupport('gpu', 'win32', 'x64').supported, true);
  assert.deepEqual(platformSupport('gpu', 'darwin', 'arm64'), { supported: false, system: 'darwin-arm64' });
  assert.equal(platformSupport('gpu', 'linux', 'arm64').supported, false);
  assert.equal(platformSupport('cpu', 'darwin', 'arm64').supported, true);
});

test('the install folder is where the engine looks: require.resolve(name, { paths }) finds it', () => {
  const storage = join(scratch, 'storage-resolve');
  const dir = fakePackage(nativeInstallDir(storage), '@tensorflow/tfjs-node', '4.22.0');
  const resolved = createRequire(__filename).resolve('@tensorflow/tfjs-node', { paths: nativeSearchPaths(storage) });
  assert.equal(resolved, join(dir, 'index.js'));
  assert.deepEqual(checkInstalled(nativeInstallDir(storage), 'cpu'), { ok: true, dir });
  const noBinding = join(scratch, 'no-binding');
  fakePackage(noBinding, '@tensorflow/tfjs-node', '4.22.0', false);
  assert.equal(checkInstalled(noBinding, 'cpu').ok, false, 'a package without its native binding is not an install');
});

test('Show Engine Info says where the backend came from, and why an installed native package is not used', () => {
  const storage = join(scratch, 'storage-info');
  const paths = nativeSearchPaths(storage);
  const wasm = { backend: 'wasm', backendProvider: '@tensorflow/tfjs-backend-wasm', backendSkipped: [] as string[] };
  assert.equal(describeBackendSource(wasm, paths, english), '@tensorflow/tfjs-backend-wasm, bundled with the extension');
  assert.equal(nativeNotUsed(wasm, paths, 'auto', english), undefined, 'nothing installed: nothing to say');
  const tensorflow = { backend: 'tensorflow', backendProvider: '@tensorflow/tfjs-node', backendSkipped: ['@tensorflow/tfjs-node-gpu: Cannot find module'] };
  assert.equal(describeBackendSource(tensorflow, paths, english), '@tensorflow/tfjs-node, found by Node next to the extension');
  const dir = fakePackage(nativeInstallDir(storage), '@tensorflow/tfjs-node', '4.22.0');
  assert.equal(describeBackendSource(tensorflow, paths, english), `@tensorflow/tfjs-node 4.22.0 from ${dir}`);
  const failed = { ...wasm, backendSkipped: ['@tensorflow/tfjs-node-gpu: Cannot find module', '@tensorflow/tfjs-node: libtensorflow.so.2: cannot open shared object file'] };
  assert.equal(nativeNotUsed(failed, paths, 'auto', english), '@tensorflow/tfjs-node is installed but could not be loaded: libtensorflow.so.2: cannot open shared object file');
  assert.equal(nativeNotUsed(wasm, paths, 'wasm', english), '@tensorflow/tfjs-node is installed but not used: the setting "bertWorkbench.backend" is "wasm"');
});
