/**
 * The VSIX files `scripts/package.mjs` makes (docs/packaging.md), really packaged: `universal`, this
 * machine's target and two foreign ones (win32-x64, darwin-arm64) into a temporary folder. Each is
 * opened and its contents checked; the universal one and this machine's one are unpacked and their
 * CLI run, as an installed extension's engine runs. dist/ is not touched: per-target packages are
 * built in a staging folder. No timing assertions.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { loadGolden, maxAbsDiff } from '../../helpers/golden';

const ROOT = resolve(__dirname, '..', '..', '..');
const PACKAGE_SCRIPT = join(ROOT, 'scripts', 'package.mjs');
const ORT_PACKAGE = join(ROOT, 'node_modules', 'onnxruntime-node');
const ORT_VERSION: string = JSON.parse(readFileSync(join(ORT_PACKAGE, 'package.json'), 'utf8')).version;
/** onnxruntime-node's own binaries for a target: bin/napi-v<N>/<platform>/<arch>/ (N was 3 in 1.21, 6 in 1.27). */
function ortBinaries(target: string): string | undefined {
  const napi = readdirSync(join(ORT_PACKAGE, 'bin')).filter((n) => /^napi-v\d+$/.test(n));
  return napi.map((n) => join(ORT_PACKAGE, 'bin', n, ...target.split('-'))).find((f) => existsSync(f));
}

/** The targets whose VSIX carries ONNX Runtime: those onnxruntime-node has binaries for. */
const NATIVE_TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64', 'win32-arm64'].filter((t) => ortBinaries(t));
const HOST = `${process.platform}-${process.arch}`;
const HOST_IS_NATIVE = NATIVE_TARGETS.includes(HOST);
/** Two foreign targets, one per other platform, so that each platform's library name is packaged here. */
const FOREIGNS = ['win32-x64', 'darwin-arm64', 'linux-arm64'].filter((t) => t !== HOST && NATIVE_TARGETS.includes(t)).slice(0, 2);
const FOREIGN = FOREIGNS[0];
const TARGETS = ['universal', ...(HOST_IS_NATIVE ? [HOST] : []), ...FOREIGNS];

/** The form of the ONNX Runtime library's name on each platform. */
const LIBRARY_NAME: Record<string, RegExp> = {
  linux: /^libonnxruntime\.so\.\d+$/,
  darwin: /^libonnxruntime\.[\d.]+\.dylib$/,
  win32: /^onnxruntime\.dll$/,
};
/** The ONNX Runtime libraries a binding names (a NUL-terminated string: ELF NEEDED, Mach-O `@rpath/…`, PE import). */
function namedLibraries(binding: Uint8Array): string[] {
  const text = Buffer.from(binding).toString('latin1');
  return [...new Set(text.match(/(?:lib)?onnxruntime[\w.+-]*?\.(?:dylib|dll|so(?:\.\d+)*)(?=\0)/g) ?? [])];
}
/** The library onnxruntime-node's binding for a target links. */
function libraryOf(target: string): string {
  const names = namedLibraries(readFileSync(join(ortBinaries(target)!, 'onnxruntime_binding.node')));
  assert.equal(names.length, 1, `${target}'s binding names one ONNX Runtime library: ${names}`);
  return names[0];
}
const ORT_FOLDER = 'extension/dist/onnxruntime/';
const NATIVE_NAME = /\.(node|dll|dylib|so)(\.\d+)*$/i;
const LIMIT = 40_000_000;

/** The tiny model shape `bench` runs here: a second at most, on either path. */
const TINY = ['--layers', '1', '--hidden', '32', '--heads', '2', '--intermediate', '64', '--vocab', '100', '--batch-size', '2', '--seq-len', '8'];

let out = '';
let packaging: { status: number | null; stdout: string; stderr: string };
const opened = new Map<string, Record<string, Uint8Array>>();

before(() => {
  out = mkdtempSync(join(tmpdir(), 'vsix-test-'));
  const run = spawnSync(process.execPath, [PACKAGE_SCRIPT, '--target', TARGETS.join(','), '--out-dir', join(out, 'vsix')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  packaging = { status: run.status, stdout: run.stdout, stderr: `${run.stderr}${run.error ? `\n${run.error.message}` : ''}` };
});

after(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

const vsixFile = (target: string) => join(out, 'vsix', `bert-workbench-${target}.vsix`);

/** The VSIX's entries, by name; fails the test when packaging failed. */
function open(target: string): Record<string, Uint8Array> {
  assert.equal(packaging.status, 0, `package.mjs failed:\n${packaging.stdout}\n${packaging.stderr}`);
  let entries = opened.get(target);
  if (!entries) {
    entries = unzipSync(readFileSync(vsixFile(target)));
    opened.set(target, entries);
  }
  return entries;
}

/** Unpacks a VSIX's `extension/` folder into a fresh temporary folder outside the project (no node_modules above it). */
function unpack(target: string): string {
  const dir = mkdtempSync(join(out, `unpacked-${target}-`));
  for (const [name, data] of Object.entries(open(target))) {
    if (name.endsWith('/')) continue;
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return join(dir, 'extension');
}

/** Runs an unpacked extension's CLI with a clean environment (no NODE_PATH, no GEMM override unless given). */
function cli(extension: string, args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean.NODE_PATH;
  delete clean.BERT_WORKBENCH_GEMM;
  const run = spawnSync(process.execPath, [join(extension, 'dist', 'cli.js'), ...args], {
    cwd: out,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...clean, BERT_WORKBENCH_CACHE: join(out, 'cache'), ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function benchJson(extension: string, env: Record<string, string> = {}): Record<string, any> {
  const run = cli(extension, ['bench', 'predict', ...TINY, '--steps', '1', '--warmup', '0', '--backend', 'wasm', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim());
}

/** The golden texts through the packaged built-in model: the reference logits, on whichever path. */
function assertGoldenPredictions(extension: string): void {
  const golden = loadGolden();
  const texts = golden.samples.flatMap((s) => ['--text', s.text]);
  const run = cli(extension, ['predict', '--model', 'builtin:tiny-bert', '--max-length', '16', '--backend', 'wasm', '--json', ...texts]);
  assert.equal(run.code, 0, run.stderr);
  const { predictions, model } = JSON.parse(run.stdout);
  assert.equal(model.modelDir, join(extension, 'dist', 'models', 'tiny-bert'), 'the built-in model is the one in the VSIX');
  assert.ok(maxAbsDiff(predictions.flatMap((p: any) => p.logits), golden.outputs.logits) <= 2e-5);
}

/** `<platform>-<arch>` a native binary is built for, read from its header. */
function builtFor(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arch = (code: number, x64: number, arm64: number) => (code === x64 ? 'x64' : code === arm64 ? 'arm64' : `0x${code.toString(16)}`);
  if (view.getUint32(0) === 0x7f454c46) return `linux-${arch(view.getUint16(18, true), 0x3e, 0xb7)}`;
  if (view.getUint32(0, true) === 0xfeedfacf) return `darwin-${arch(view.getUint32(4, true), 0x1000007, 0x100000c)}`;
  if (view.getUint16(0, true) === 0x5a4d) {
    const pe = view.getUint32(0x3c, true);
    if (view.getUint32(pe) === 0x50450000) return `win32-${arch(view.getUint16(pe + 4, true), 0x8664, 0xaa64)}`;
  }
  return 'unknown';
}

test(`package.mjs packages ${TARGETS.join(', ')} and prints each file's name and size`, () => {
  assert.equal(packaging.status, 0, `package.mjs failed:\n${packaging.stdout}\n${packaging.stderr}`);
  for (const target of TARGETS) {
    const bytes = statSync(vsixFile(target)).size;
    assert.match(packaging.stdout, new RegExp(`bert-workbench-${target}\\.vsix +[\\d.]+ MB \\(${bytes} bytes\\)`));
  }
  assert.deepEqual(readdirSync(join(out, 'vsix')).sort(), TARGETS.map((t) => `bert-workbench-${t}.vsix`).sort(), 'only the VSIX files');
});

for (const target of TARGETS) {
  test(`${target}: under 40 MB, with the bundles, the wasm binaries and the built-in model, no sourcemaps`, () => {
    const entries = open(target);
    const bytes = statSync(vsixFile(target)).size;
    assert.ok(bytes < LIMIT, `${target} is ${bytes} bytes`);
    const wasmFiles = readdirSync(join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')).filter((f) => f.endsWith('.wasm'));
    assert.ok(wasmFiles.length >= 3, `${wasmFiles}`);
    const required = [
      'extension/package.json',
      ...['extension.js', 'server.js', 'cli.js', 'train-worker.js', 'webview.js', 'webview.css', ...wasmFiles].map((f) => `extension/dist/${f}`),
      ...['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'].map((f) => `extension/dist/models/tiny-bert/${f}`),
    ];
    for (const name of required) assert.ok(name in entries, `${target} lacks ${name}`);
    for (const name of ['model.safetensors', 'vocab.txt']) {
      assert.deepEqual(entries[`extension/dist/models/tiny-bert/${name}`], new Uint8Array(readFileSync(join(ROOT, 'test', 'fixtures', 'tiny-bert', name))));
    }
    assert.deepEqual(Object.keys(entries).filter((n) => n.endsWith('.map')), [], 'a production build: no sourcemaps');
    const manifest = new TextDecoder().decode(entries['extension.vsixmanifest']);
    const declared = /TargetPlatform="([^"]*)"/.exec(manifest)?.[1];
    assert.equal(declared, target === 'universal' ? undefined : target, 'the target platform the Marketplace and VS Code see');
  });

  test(`${target}: ${target === 'universal' ? 'no ONNX Runtime and no native code at all' : "its own platform's ONNX Runtime files only"}`, () => {
    const entries = open(target);
    const names = Object.keys(entries).filter((n) => !n.endsWith('/'));
    const underOrt = names.filter((n) => n.startsWith(ORT_FOLDER));
    const natives = names.filter((n) => NATIVE_NAME.test(n));
    if (target === 'universal') {
      assert.deepEqual(underOrt, [], 'no dist/onnxruntime/ in the universal VSIX');
      assert.deepEqual(natives, []);
      return;
    }
    const [platform] = target.split('-');
    const binding = entries[`${ORT_FOLDER}${target}/onnxruntime_binding.node`];
    assert.ok(binding, `${target} carries the binding`);
    // The library the shipped binding will ask the loader for, by name: it must sit beside it.
    const [library, ...more] = namedLibraries(binding);
    assert.deepEqual(more, [], 'the binding names one ONNX Runtime library');
    assert.match(library, LIBRARY_NAME[platform]);
    const expected = ['VERSION', library, 'onnxruntime_binding.node'].map((f) => `${ORT_FOLDER}${target}/${f}`);
    assert.deepEqual(underOrt.sort(), expected.sort(), `${target}'s folder with the binding, ${library} and VERSION, and nothing else`);
    assert.deepEqual(natives.sort(), expected.filter((n) => NATIVE_NAME.test(n)).sort(), 'no native code elsewhere');
    assert.equal(new TextDecoder().decode(entries[`${ORT_FOLDER}${target}/VERSION`]).trim(), ORT_VERSION);
    for (const file of ['onnxruntime_binding.node', library]) {
      const shipped = entries[`${ORT_FOLDER}${target}/${file}`];
      assert.equal(builtFor(shipped), target, `${file} is built for ${target}`);
      assert.deepEqual(shipped, new Uint8Array(readFileSync(join(ortBinaries(target)!, file))), `${file} is onnxruntime-node's own`);
    }
  });
}

test('the universal VSIX runs the engine on pure wasm, and says why ONNX Runtime is not used', () => {
  const extension = unpack('universal');
  const report = benchJson(extension);
  assert.equal(report.backend, 'wasm');
  assert.equal(report.gemm, 'wasm');
  // Insisting on ONNX Runtime turns the silent fallback into an error that gives the reason.
  const insisted = cli(extension, ['bench', 'predict', ...TINY, '--steps', '1', '--warmup', '0', '--backend', 'wasm', '--json'], {
    BERT_WORKBENCH_GEMM: 'onnxruntime',
  });
  assert.equal(insisted.code, 1, insisted.stdout);
  const error = JSON.parse(insisted.stdout.trim().split('\n').pop()!);
  assert.equal(error.kind, 'backend-unavailable');
  assert.match(error.error, /ONNX Runtime's GEMM cannot be used: onnxruntime-node is not installed/);
  assert.ok(error.error.includes(join(extension, 'dist', 'onnxruntime', HOST)), error.error);
  assertGoldenPredictions(extension);
});

test(`the ${HOST} VSIX computes products with the ONNX Runtime it carries, in worker threads too`, { skip: HOST_IS_NATIVE ? false : `onnxruntime-node has no binaries for ${HOST}` }, () => {
  const extension = unpack(HOST);
  // Unpacked outside the project, with no node_modules above it: only the VSIX's copy can load.
  const report = benchJson(extension, { BERT_WORKBENCH_GEMM: 'onnxruntime' });
  assert.equal(report.backend, 'wasm');
  assert.equal(report.gemm, 'onnxruntime');
  assert.equal(benchJson(extension).gemm, 'onnxruntime', 'chosen without being asked for');
  assertGoldenPredictions(extension);
  // Training over two worker threads, each loading the VSIX's worker bundle and ONNX Runtime.
  const train = cli(extension, ['bench', 'train', ...TINY, '--steps', '2', '--warmup', '1', '--workers', '2', '--backend', 'wasm', '--json'], { BERT_WORKBENCH_GEMM: 'onnxruntime' });
  assert.equal(train.code, 0, train.stderr);
  const trained = JSON.parse(train.stdout.trim());
  assert.equal(trained.workers, 2);
  assert.equal(trained.gemm, 'onnxruntime');
});

test("package.mjs's check refuses a VSIX with another platform's library, a wrong binary, stray native code, or 40 MB or more", async () => {
  const { checkVsix } = await import(pathToFileURL(PACKAGE_SCRIPT).href);
  for (const target of TARGETS) assert.deepEqual(checkVsix(vsixFile(target), target).problems, [], `the real ${target} VSIX passes`);

  // Small VSIXs made from the real ones' parts (libraries cut to their first 64 kB: the check reads
  // headers and names, not whole libraries): each passes but for the one defect put in.
  const head = (bytes: Uint8Array) => bytes.subarray(0, 65536);
  let crafted = 0;
  const check = (target: string, entries: Zippable, level: 0 | 1 = 1) => {
    const file = join(out, `crafted-${crafted++}.vsix`);
    writeFileSync(file, zipSync(entries, { level }));
    return checkVsix(file, target) as { bytes: number; problems: string[] };
  };
  const manifest = { 'extension/package.json': open('universal')['extension/package.json'] };
  const foreignLibrary = head(readFileSync(join(ortBinaries(FOREIGN)!, libraryOf(FOREIGN))));

  assert.deepEqual(check('universal', manifest).problems, []);
  const stray = check('universal', { ...manifest, 'extension/dist/addon.node': foreignLibrary });
  assert.ok(stray.problems.some((p) => p.includes('extension/dist/addon.node')), stray.problems.join('\n'));
  const big = check('universal', { ...manifest, 'extension/dist/padding.bin': randomBytes(LIMIT) }, 0);
  assert.ok(big.bytes >= LIMIT);
  assert.ok(big.problems.some((p) => p.includes('under 40.00 MB')), big.problems.join('\n'));

  if (!HOST_IS_NATIVE) return;
  const hostLibrary = `${ORT_FOLDER}${HOST}/${libraryOf(HOST)}`;
  const ortEntries = Object.fromEntries(
    Object.entries(open(HOST))
      .filter(([name]) => name.startsWith(ORT_FOLDER))
      .map(([name, bytes]) => [name, name === hostLibrary ? head(bytes) : bytes]),
  );
  assert.deepEqual(check(HOST, { ...manifest, ...ortEntries }).problems, []);
  const withForeign = check(HOST, { ...manifest, ...ortEntries, [`${ORT_FOLDER}${FOREIGN}/${libraryOf(FOREIGN)}`]: foreignLibrary });
  assert.ok(withForeign.problems.some((p) => p.includes(`${ORT_FOLDER}${FOREIGN}/`)), withForeign.problems.join('\n'));

  const { [hostLibrary]: _dropped, ...withoutLibrary } = ortEntries;
  const missing = check(HOST, { ...manifest, ...withoutLibrary });
  assert.ok(missing.problems.some((p) => p.includes(`lacks ${hostLibrary}, which the binding links`)), missing.problems.join('\n'));

  const otherArch = NATIVE_TARGETS.find((t) => t !== HOST && t.split('-')[0] === process.platform);
  if (otherArch) {
    const wrongArch = check(HOST, { ...manifest, ...ortEntries, [hostLibrary]: head(readFileSync(join(ortBinaries(otherArch)!, libraryOf(otherArch)))) });
    assert.ok(wrongArch.problems.some((p) => p.includes(`built for ${otherArch}`)), wrongArch.problems.join('\n'));
  }
});

test('package.mjs refuses an unknown target with exit code 2 and the list of targets', () => {
  const run = spawnSync(process.execPath, [PACKAGE_SCRIPT, '--target', 'linux-x86', '--out-dir', join(out, 'never')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, new RegExp(`unknown target linux-x86; use one of ${['universal', ...NATIVE_TARGETS].join(', ')}\n`));
  assert.ok(!existsSync(join(out, 'never')), 'nothing packaged');
});

test("esbuild.mjs, building for another target into the same folder, drops the earlier target's binaries", () => {
  const outdir = join(out, 'build');
  const build = (target: string) =>
    spawnSync(process.execPath, [join(ROOT, 'esbuild.mjs'), `--target=${target}`, `--outdir=${outdir}`], { cwd: ROOT, encoding: 'utf8' });
  const folders = () => (existsSync(join(outdir, 'onnxruntime')) ? readdirSync(join(outdir, 'onnxruntime')) : []);
  let run = build(FOREIGN);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(folders(), [FOREIGN]);
  assert.deepEqual(readdirSync(join(outdir, 'onnxruntime', FOREIGN)).sort(), ['VERSION', libraryOf(FOREIGN), 'onnxruntime_binding.node'].sort());
  // A development build (no --production, so no clean dist/): the earlier folder must still go.
  run = build('universal');
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(folders(), [], 'universal: no ONNX Runtime left');
});

test('esbuild.mjs refuses an --outdir that holds the project, which a production build would delete', () => {
  // A copy of esbuild.mjs in a throwaway project (node_modules linked), so that a broken guard could
  // only delete that copy.
  const project = mkdtempSync(join(out, 'project-'));
  copyFileSync(join(ROOT, 'esbuild.mjs'), join(project, 'esbuild.mjs'));
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'junction');
  for (const outdir of [project, dirname(project)]) {
    const run = spawnSync(process.execPath, [join(project, 'esbuild.mjs'), '--production', `--outdir=${outdir}`], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /holds the project itself/);
    assert.ok(existsSync(join(project, 'esbuild.mjs')), 'nothing was deleted');
  }
});

const WITHOUT_BINARIES = ['darwin-x64', 'darwin-arm64', 'linux-arm64', 'win32-arm64'].find((t) => !NATIVE_TARGETS.includes(t));
test(
  `package.mjs refuses a target onnxruntime-node ${ORT_VERSION} has no binaries for, and names the universal VSIX instead`,
  { skip: WITHOUT_BINARIES ? false : `onnxruntime-node ${ORT_VERSION} has binaries for every target` },
  () => {
    const run = spawnSync(process.execPath, [PACKAGE_SCRIPT, '--target', WITHOUT_BINARIES!, '--out-dir', join(out, 'never')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`no binaries for ${WITHOUT_BINARIES}: the universal VSIX serves it`));
    assert.ok(!existsSync(join(out, 'never')), 'nothing packaged');
  },
);
