// Builds everything the extension and the CLI run from into dist/:
//   dist/extension.js  the extension host side (cjs, `vscode` external)
//   dist/server.js     the language server with the ML engine (cjs)
//   dist/cli.js        the headless CLI on the same engine (cjs, executable)
//   dist/train-worker.js  a data-parallel training worker (worker_threads entry of server and CLI)
//   dist/webview.js    the training panel's browser script (iife) + dist/webview.css
//   dist/*.wasm        the TF.js wasm backend's binaries (the engine points setWasmPaths here)
//   dist/models/<name>/  the built-in models that `builtin:<name>` resolves to: tiny-bert (random
//                      weights, for tests) and review-bert (pre-trained here, models/review-bert/)
//   dist/onnxruntime/<platform>-<arch>/  onnxruntime-node's native binding and library for one
//                      platform (the engine's native GEMM; ~38 MB on linux-x64 with 1.27)
//
//   node esbuild.mjs               development build (sourcemaps, not minified)
//   node esbuild.mjs --production  what the VSIX ships (clean dist/, minified, no sourcemaps)
//   node esbuild.mjs --watch       rebuild on change
//   --target=<platform>-<arch>     whose ONNX Runtime binaries to copy (vsce's target names, e.g.
//                                  win32-x64; default this machine's; `universal`: none, pure wasm).
//                                  Only that target's folder is left in dist/onnxruntime/.
//   --outdir=<dir>                 build there instead of dist/ (scripts/package.mjs stages VSIXs so)
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(root, process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) || 'dist');
const fromDist = relative(dist, root);
if (!fromDist.startsWith('..') && !isAbsolute(fromDist)) {
  console.error(`--outdir=${dist} holds the project itself: a production build would delete it`);
  process.exit(2);
}
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Optional native accelerators: required at run time only when the user has installed them. */
const optionalNativePackages = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

/**
 * Transformers.js is only used for tokenizers: its inference runtime (ONNX Runtime, ~300 MB with
 * native binaries) and image library (sharp) are replaced by stubs so they stay out of the bundle.
 */
const stubbedPackages = {
  'onnxruntime-node': './src/server/engine/stubs/onnxruntime.ts',
  'onnxruntime-web': './src/server/engine/stubs/onnxruntime.ts',
  sharp: './src/server/engine/stubs/sharp.ts',
};

/**
 * Packages imported only for their side effects (registering a TF.js backend) whose package.json
 * "sideEffects" list leaves out the entry a Node bundle resolves to; esbuild would drop the import.
 */
const registeringPackages = ['@tensorflow/tfjs-backend-cpu'];

const wasmFolder = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');

/**
 * The real onnxruntime-node, for the engine's GEMM provider (src/server/engine/ops/ort-binding.ts):
 * its native binding and the library it links, copied beside the bundles with a VERSION file.
 * The engine loads them by a path computed at run time, which esbuild leaves alone, so the alias
 * above still gives Transformers.js its stub.
 */
const ortTarget = process.argv.find((a) => a.startsWith('--target='))?.slice('--target='.length) ?? `${process.platform}-${process.arch}`;
const ortPackage = join(root, 'node_modules/onnxruntime-node');
/**
 * The library each platform's binding links, by the name the binding carries (ELF NEEDED, Mach-O
 * LC_LOAD_DYLIB, PE import); nothing else is needed on the CPU (win32's DirectML and dx*.dll are only
 * loaded for GPU providers). 1.21's darwin binding linked libonnxruntime.<version>.dylib; 1.27's links
 * libonnxruntime.1.dylib. scripts/package.mjs fails a VSIX whose binding names a library it lacks.
 */
const ortLibraries = {
  linux: () => ['libonnxruntime.so.1'],
  darwin: () => ['libonnxruntime.1.dylib'],
  win32: () => ['onnxruntime.dll'],
};
const modelFiles = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'];
const builtinModels = [
  { from: join(root, 'test/fixtures/tiny-bert'), to: join(dist, 'models/tiny-bert'), files: modelFiles },
  { from: join(root, 'models/review-bert'), to: join(dist, 'models/review-bert'), files: [...modelFiles, 'README.md'] },
];

/** @type {esbuild.BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: production,
  sourcemap: production ? false : 'linked',
  logLevel: 'warning',
};

/** @type {esbuild.BuildOptions} */
const node = { ...common, platform: 'node', format: 'cjs', target: 'node20' };

/** The bundles that carry the engine (server and CLI). @type {esbuild.BuildOptions} */
const engine = {
  ...node,
  external: optionalNativePackages,
  alias: stubbedPackages,
  // Transformers.js's ESM build reads import.meta.url, which a cjs bundle does not have: give it
  // the bundle's own file URL.
  define: { 'import.meta.url': 'importMetaUrl' },
};
const importMetaUrl = "const importMetaUrl = require('url').pathToFileURL(__filename).href;";

/** @type {esbuild.BuildOptions[]} */
const bundles = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, external: ['vscode'] },
  { ...engine, entryPoints: { server: 'src/server/server.ts' }, banner: { js: importMetaUrl } },
  { ...engine, entryPoints: { cli: 'src/cli.ts' }, banner: { js: `#!/usr/bin/env node\n${importMetaUrl}` } },
  // the data-parallel training workers that the server and the CLI start (train/parallel/workers.ts)
  { ...engine, entryPoints: { 'train-worker': 'src/server/engine/train/parallel/worker.ts' }, banner: { js: importMetaUrl } },
  {
    ...common,
    entryPoints: { webview: 'src/webview/panel.ts' },
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  { ...common, entryPoints: { webview: 'media/panel.css' }, sourcemap: false },
];

async function copyAssets() {
  await mkdir(dist, { recursive: true });
  for (const name of await readdir(wasmFolder)) {
    if (name.endsWith('.wasm')) await copyFile(join(wasmFolder, name), join(dist, name));
  }
  for (const builtinModel of builtinModels) {
    await mkdir(builtinModel.to, { recursive: true });
    for (const name of builtinModel.files) await copyFile(join(builtinModel.from, name), join(builtinModel.to, name));
  }
  await copyOnnxRuntime();
}

async function copyOnnxRuntime() {
  // A build carries one target's binaries at most: drop what an earlier build for another left.
  const folders = existsSync(join(dist, 'onnxruntime')) ? await readdir(join(dist, 'onnxruntime')) : [];
  for (const name of folders.filter((f) => f !== ortTarget)) await rm(join(dist, 'onnxruntime', name), { recursive: true, force: true });
  if (ortTarget === 'universal') return;
  const [platform, arch] = ortTarget.split('-');
  const { version } = JSON.parse(await readFile(join(ortPackage, 'package.json'), 'utf8'));
  const from = join(ortPackage, 'bin/napi-v6', platform, arch);
  if (!existsSync(from)) {
    console.warn(`onnxruntime-node has no binaries for ${ortTarget}: that build computes products in wasm`);
    return;
  }
  const to = join(dist, 'onnxruntime', ortTarget);
  await mkdir(to, { recursive: true });
  for (const name of ['onnxruntime_binding.node', ...(ortLibraries[platform]?.(version) ?? [])]) {
    await copyFile(join(from, name), join(to, name));
  }
  await writeFile(join(to, 'VERSION'), `${version}\n`);
}

/** Keeps the side-effect imports of `registeringPackages`. */
const keepRegistrations = {
  name: 'keep-registrations',
  setup(build) {
    build.onResolve({ filter: /^@/ }, async ({ path, kind, resolveDir, pluginData }) => {
      if (!registeringPackages.includes(path) || pluginData === keepRegistrations) return undefined;
      const resolved = await build.resolve(path, { kind, resolveDir, pluginData: keepRegistrations });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, namespace: resolved.namespace, external: resolved.external, sideEffects: true };
    });
  },
};

/** Reports each rebuild in watch mode and keeps dist/cli.js executable. */
const afterBuild = {
  name: 'after-build',
  setup(build) {
    build.onEnd(async (result) => {
      const entryPoints = build.initialOptions.entryPoints ?? {};
      if ('cli' in entryPoints && result.errors.length === 0) await chmod(join(dist, 'cli.js'), 0o755);
      if (watch) console.log(`[watch] ${Object.values(entryPoints).join(', ')}: ${result.errors.length} error(s)`);
    });
  },
};

async function main() {
  if (production) await rm(dist, { recursive: true, force: true });
  await copyAssets();
  const contexts = await Promise.all(
    bundles.map((options) => esbuild.context({ ...options, outdir: dist, plugins: [keepRegistrations, afterBuild] })),
  );
  if (watch) {
    await Promise.all(contexts.map((ctx) => ctx.watch()));
    console.log('[watch] watching src/ and media/ (Ctrl+C to stop)');
    return;
  }
  try {
    await Promise.all(contexts.map((ctx) => ctx.rebuild()));
  } finally {
    await Promise.all(contexts.map((ctx) => ctx.dispose()));
  }
}

main().catch((error) => {
  // esbuild has already printed the errors with their locations.
  if (!(error && Array.isArray(error.errors))) console.error(error);
  process.exit(1);
});
