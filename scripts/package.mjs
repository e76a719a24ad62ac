// Packages the extension as .vsix files (see docs/packaging.md).
//
//   npm run package                          dist/bert-workbench.vsix for this machine, as always: a
//                                            production build in dist/, then `vsce package` (no
//                                            --target). The e2e tests and the demo install this one.
//   npm run package -- --target linux-x64    vsix/bert-workbench-linux-x64.vsix; --target repeats, or
//                                            takes a comma-separated list
//   npm run package -- --all                 universal + every target onnxruntime-node has binaries for
//   --out-dir <dir>                          where the per-target VSIXs go (default vsix/)
//
// Per-target VSIXs are built in a staging folder in the OS temp folder, never in dist/: production
// builds clean their output folder, and dist/ is the developer's build that the CLI, the unit tests
// and `npm run bench` use. The stage holds the files vsce would take from outside dist/ (vsce lists
// them itself, from .vscodeignore) and `node esbuild.mjs --production --target=<t> --outdir=<stage>/dist`.
//
// Each VSIX is checked before it is kept: under 40 MB; native code only in dist/onnxruntime/<its
// target>/, built for that target, and there exactly the binding, the library the binding itself
// names, and VERSION (no native code at all in the universal one). A VSIX that fails is not kept,
// and the exit code is 1.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { unzipSync } from 'fflate';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

/** Every VSIX must be smaller than this (40 MB, decimal: so also under 40 MiB). */
export const SIZE_LIMIT = 40_000_000;

/** The same --baseContentUrl/--baseImagesUrl the package has always been built with. */
const baseUrls = [
  '--baseContentUrl', 'https://example.invalid/bert-workbench/blob/main',
  '--baseImagesUrl', 'https://example.invalid/bert-workbench/raw/main',
];

/** vsce's target names that onnxruntime-node has shipped CPU binaries for (1.27 has none for darwin-x64). */
const NATIVE_TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];
const ortPackage = join(root, 'node_modules/onnxruntime-node');
const ortVersion = () => JSON.parse(readFileSync(join(ortPackage, 'package.json'), 'utf8')).version;

/** onnxruntime-node's binaries for a target (bin/napi-v<N>/<platform>/<arch>/), or undefined when it has none. */
function ortBinaries(target) {
  if (target === 'universal') return undefined;
  const [platform = '', arch = ''] = target.split('-');
  const bin = join(ortPackage, 'bin');
  const napi = existsSync(bin) ? readdirSync(bin).filter((n) => /^napi-v\d+$/.test(n)) : [];
  return napi.map((n) => join(bin, n, platform, arch)).find((folder) => existsSync(folder));
}

/** `universal` and the targets the installed onnxruntime-node has binaries for: what --all packages. */
export const availableTargets = () => ['universal', ...NATIVE_TARGETS.filter((t) => ortBinaries(t))];

const BINDING = 'onnxruntime_binding.node';
/** A file that a platform loads as native code, by its name. */
const NATIVE_NAME = /\.(node|dll|dylib|so)(\.\d+)*$/i;

/**
 * The ONNX Runtime library a binding links, by the one name of it that the binding carries (ELF
 * NEEDED, Mach-O LC_LOAD_DYLIB `@rpath/…`, PE import); undefined when it names none or several.
 */
export function linkedLibrary(binding) {
  const text = Buffer.from(binding.buffer, binding.byteOffset, binding.byteLength).toString('latin1');
  const names = new Set(text.match(/(?:lib)?onnxruntime[\w.+-]*?\.(?:dylib|dll|so(?:\.\d+)*)(?=\0)/g) ?? []);
  return names.size === 1 ? [...names][0] : undefined;
}

/** `<platform>-<arch>` of a native binary from its header (ELF, Mach-O 64, PE), or what else it is. */
export function binaryTarget(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arch = (code, x64, arm64) => (code === x64 ? 'x64' : code === arm64 ? 'arm64' : `0x${code.toString(16)}`);
  if (bytes.length >= 20 && view.getUint32(0) === 0x7f454c46) return `linux-${arch(view.getUint16(18, true), 0x3e, 0xb7)}`;
  if (bytes.length >= 8 && view.getUint32(0, true) === 0xfeedfacf) return `darwin-${arch(view.getUint32(4, true), 0x1000007, 0x100000c)}`;
  if (bytes.length >= 0x40 && view.getUint16(0, true) === 0x5a4d) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 <= bytes.length && view.getUint32(pe) === 0x50450000) return `win32-${arch(view.getUint16(pe + 4, true), 0x8664, 0xaa64)}`;
  }
  return 'no known binary format';
}

/**
 * What is wrong with a packaged VSIX for `target` ('universal' or a vsce target name), and its size.
 * No problems when it is under SIZE_LIMIT and carries exactly that target's ONNX Runtime files (the
 * binding, the library the binding names, VERSION; nothing for a target without binaries) and no
 * other native code.
 */
export function checkVsix(file, target) {
  const bytes = statSync(file).size;
  const problems = [];
  if (bytes >= SIZE_LIMIT) problems.push(`it is ${megabytes(bytes)}: a VSIX must stay under ${megabytes(SIZE_LIMIT)}`);
  const names = [];
  const natives = unzipSync(readFileSync(file), {
    filter: (entry) => {
      names.push(entry.name);
      return NATIVE_NAME.test(entry.name);
    },
  });
  const ortFolder = 'extension/dist/onnxruntime/';
  const folders = new Set(names.filter((n) => n.startsWith(ortFolder)).map((n) => n.slice(ortFolder.length).split('/')[0]));
  for (const folder of folders) {
    if (folder !== target) problems.push(`it carries ${ortFolder}${folder}/, another platform's ONNX Runtime`);
  }
  const expected = [];
  if (ortBinaries(target)) {
    const binding = natives[`${ortFolder}${target}/${BINDING}`];
    const library = binding && linkedLibrary(binding);
    if (binding && !library) problems.push(`cannot tell which ONNX Runtime library ${ortFolder}${target}/${BINDING} links`);
    expected.push(...[BINDING, library, 'VERSION'].filter(Boolean).map((f) => `${ortFolder}${target}/${f}`));
    for (const name of expected) {
      if (!names.includes(name)) problems.push(`it lacks ${name}${name.endsWith(library) ? ', which the binding links' : ''}`);
    }
  }
  for (const [name, content] of Object.entries(natives)) {
    if (!expected.includes(name)) problems.push(`it carries the native file ${name}, which no ${target} VSIX should`);
    else if (binaryTarget(content) !== target) problems.push(`${name} is built for ${binaryTarget(content)}, not ${target}`);
  }
  return { bytes, problems };
}

const megabytes = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
const shown = (file) => (relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file));

/** Runs a command to completion with its output shown; throws when it fails. */
function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') throw Object.assign(new Error('interrupted'), { interrupted: true });
  if (result.status !== 0) {
    const how = result.error ? result.error.message : result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    throw new Error(`${[command, ...args].map((a) => (a.startsWith(root) ? relative(root, a) : a)).join(' ')} failed (${how})`);
  }
}

const vsce = join(dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');
const esbuildScript = join(root, 'esbuild.mjs');

/** Checks a packaged VSIX, then prints its name and size; throws with what is wrong. */
function verify(file, target, name) {
  const { bytes, problems } = checkVsix(file, target);
  if (problems.length > 0) throw new Error(`${name} is not fit to ship:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  console.log(`${name}  ${megabytes(bytes)} (${bytes} bytes)`);
  return bytes;
}

/** `npm run package` with no arguments: the build in dist/ and dist/bert-workbench.vsix, as always. */
async function packageForThisMachine() {
  const out = join(root, 'dist', 'bert-workbench.vsix');
  run(process.execPath, [esbuildScript, '--production'], root);
  run(process.execPath, [vsce, 'package', '--no-dependencies', '--out', out, ...baseUrls], root);
  try {
    verify(out, `${process.platform}-${process.arch}`, shown(out));
  } catch (error) {
    await rm(out, { force: true });
    throw error;
  }
}

/** Builds and packages each target in a staging folder, keeping those that pass in outDir; returns how many failed. */
async function packageTargets(targets, outDir) {
  const work = await mkdtemp(join(tmpdir(), 'bert-workbench-vsix-'));
  const removeWork = () => rm(work, { recursive: true, force: true });
  process.once('SIGINT', () => {
    console.error('package: interrupted');
    removeWork().finally(() => process.exit(130));
  });
  const stage = join(work, 'extension');
  try {
    // What the VSIX takes from outside dist/, as vsce selects it (.vscodeignore), and the ignore file.
    const { listFiles, PackageManager } = require('@vscode/vsce');
    const shipped = (await listFiles({ cwd: root, packageManager: PackageManager.None })).filter((f) => !f.startsWith('dist/'));
    for (const file of [...shipped, '.vscodeignore']) {
      await mkdir(dirname(join(stage, file)), { recursive: true });
      await copyFile(join(root, file), join(stage, file));
    }
    await mkdir(outDir, { recursive: true });
    const failed = [];
    const kept = [];
    for (const target of targets) {
      const name = `bert-workbench-${target}.vsix`;
      const built = join(work, name);
      try {
        console.log(`\n== ${target} ==`);
        run(process.execPath, [esbuildScript, '--production', `--target=${target}`, `--outdir=${join(stage, 'dist')}`], root);
        const targetFlag = target === 'universal' ? [] : ['--target', target];
        run(process.execPath, [vsce, 'package', '--no-dependencies', ...targetFlag, '--out', built, ...baseUrls], stage);
        const bytes = verify(built, target, shown(join(outDir, name)));
        await copyFile(built, join(outDir, name));
        kept.push(`  ${shown(join(outDir, name))}  ${megabytes(bytes)}`);
      } catch (error) {
        if (error.interrupted) throw error;
        console.error(`package: ${target}: ${error.message}`);
        failed.push(target);
      }
    }
    if (kept.length > 1) console.log(`\nPackaged:\n${kept.join('\n')}`);
    if (failed.length > 0) console.error(`\npackage: failed for ${failed.join(', ')}`);
    return failed.length;
  } finally {
    await removeWork();
  }
}

function usage() {
  return `usage: node scripts/package.mjs [--target <t>[,<t>…]]… [--all] [--out-dir <dir>]
  no option         dist/bert-workbench.vsix for this machine (a production build in dist/)
  --target <t>      one of ${availableTargets().join(', ')}
  --all             all of them
  --out-dir <dir>   where bert-workbench-<target>.vsix go (default vsix/)`;
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        'out-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`package: ${error.message}\n${usage()}`);
    return 2;
  }
  if (values.help) {
    console.log(usage());
    return 0;
  }
  const available = availableTargets();
  const asked = (values.target ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const targets = [...new Set([...(values.all ? available : []), ...asked])];
  if (targets.length === 0) {
    if (values['out-dir']) {
      console.error(`package: --out-dir needs --target or --all\n${usage()}`);
      return 2;
    }
    await packageForThisMachine();
    return 0;
  }
  const unknown = targets.filter((t) => !available.includes(t));
  if (unknown.length > 0) {
    const why = unknown.every((t) => NATIVE_TARGETS.includes(t))
      ? `onnxruntime-node ${ortVersion()} has no binaries for ${unknown.join(', ')}: the universal VSIX serves ${unknown.length > 1 ? 'them' : 'it'}`
      : `unknown target ${unknown.join(', ')}`;
    console.error(`package: ${why}; use one of ${available.join(', ')}`);
    return 2;
  }
  const failed = await packageTargets(targets, resolve(values['out-dir'] ?? join(root, 'vsix')));
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(`package: ${error.message}`);
      process.exit(1);
    },
  );
}
