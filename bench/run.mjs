// `npm run bench`: the standard benchmark set, run through the built CLI (`node dist/cli.js bench …`),
// with PyTorch's figure for the training shapes beside ours when PyTorch is installed, and the
// dataset-reading benchmark (bench/data.ts: read, clean, split and count tokens of a 66 MB CSV), and
// `inspect` on a 200 MB CSV of 3.3 M rows with 67 k distinct texts (bench/inspect.mjs: peak RSS, MB/s).
// dist/ is built first (`node esbuild.mjs`) when dist/cli.js is missing or older than a source file.
//
//   node bench/run.mjs            a table
//   node bench/run.mjs --json     one JSON object per case, then a summary object
//   node bench/run.mjs --no-data  without the dataset benchmarks (data, inspect)
//   node bench/inspect.mjs        the inspect row alone (--mb N for another size)
//   node bench/run.mjs --no-sst2  without the time-to-accuracy run (needs ../shared/datasets/sst2)
//   node bench/run.mjs --no-learning  without the accuracy table (random tiny-bert vs pre-trained
//                                 builtin:review-bert vs review-bert adapted first; SST-2 and rt-polarity, 1 epoch)
//   node bench/run.mjs --no-soak  without the two soaks in the language server (bench/soak-train.mjs:
//                                 1,000 steps of builtin:tiny-bert, RSS and live tensors every 100;
//                                 bench/soak-predict.mjs: 100,000 annotations with the LRU cache full;
//                                 about 20 s and 30 s here). BENCH_DIST=<copy of dist> runs them on a copy.
//   node bench/run.mjs --soak-only  the two soak rows alone
//
// PyTorch is measured "at its best" on one thread (see ../shared/docs/ENGINE-NOTES.md) by
// ../shared/bench/torch_bert_train.py; its column is left empty when that script or torch is missing.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const torchScript = join(root, '..', 'shared', 'bench', 'torch_bert_train.py');
const python = '/usr/bin/python3';
const json = process.argv.includes('--json');
const soakOnly = process.argv.includes('--soak-only');
const withData = !soakOnly && !process.argv.includes('--no-data');
const withSst2 = !soakOnly && !process.argv.includes('--no-sst2');
const withLearning = !soakOnly && !process.argv.includes('--no-learning');
const withSoak = soakOnly || !process.argv.includes('--no-soak');

const L4_H256 = { layers: 4, hidden: 256, heads: 4, intermediate: 1024 };
const BERT_BASE = { layers: 12, hidden: 768, heads: 12, intermediate: 3072 };
const TINY_BERT = { layers: 2, hidden: 32, heads: 2, intermediate: 64 }; // test/fixtures/tiny-bert

/**
 * workers: 1 = the engine's own thread; 0 = every core the machine can spare (the default of
 * `train`). PyTorch is measured once per shape, on one thread (its best here), and both rows of a
 * shape are compared with that one figure.
 */
const CASES = [
  { name: 'train L4/H256, 1 worker', mode: 'train', shape: L4_H256, batch: 16, seq: 128, steps: 5, workers: 1 },
  { name: 'mlm L4/H256, 1 worker', mode: 'mlm', shape: L4_H256, batch: 16, seq: 128, steps: 5, workers: 1 },
  { name: 'train L4/H256, all workers', mode: 'train', shape: L4_H256, batch: 16, seq: 128, steps: 5, workers: 0 },
  { name: 'train bert-base, 1 worker', mode: 'train', shape: BERT_BASE, batch: 8, seq: 128, steps: 2, workers: 1 },
  { name: 'train bert-base, all workers', mode: 'train', shape: BERT_BASE, batch: 8, seq: 128, steps: 2, workers: 0 },
  { name: 'predict L4/H256', mode: 'predict', shape: L4_H256, batch: 32, seq: 64, steps: 5 },
  { name: 'predict bert-base', mode: 'predict', shape: BERT_BASE, batch: 8, seq: 128, steps: 3 },
  { name: 'train tiny-bert, 1 worker', mode: 'train', shape: TINY_BERT, batch: 32, seq: 16, steps: 20, workers: 1 },
];
/**
 * Time to accuracy, what users feel: the tiny-bert fixture fine-tuned on SST-2 for one epoch
 * (`train`'s defaults otherwise), wall time from start to the saved model. Hugging Face's BERT in
 * PyTorch takes 103 s here padding to 128 (54 s with dynamic padding); issue 7 asks for ≥ 0.78
 * validation accuracy in half of 103 s.
 */
const SST2 = join(root, '..', 'shared', 'datasets', 'sst2');
const SST2_CASE = { name: 'time to accuracy: tiny-bert, SST-2, 1 epoch', mode: 'sst2', referenceSec: 103 };
/**
 * What pre-training buys (issue 11): `train`'s defaults, 1 epoch, on each dataset, from the
 * random-weight tiny-bert, from the pre-trained builtin:review-bert, and from review-bert first
 * adapted to the dataset's own text by masked-LM training (--adapt-steps).
 */
const ADAPT_STEPS = 1000;
const LEARNING_CASES = ['sst2', 'rt-polarity'].flatMap((dataset) => [
  { name: `accuracy: tiny-bert (random), ${dataset}, 1 epoch`, mode: 'learning', dataset, model: 'builtin:tiny-bert' },
  { name: `accuracy: review-bert, ${dataset}, 1 epoch`, mode: 'learning', dataset, model: 'builtin:review-bert' },
  { name: `accuracy: review-bert + ${ADAPT_STEPS} adapt steps, ${dataset}, 1 epoch`, mode: 'learning', dataset, model: 'builtin:review-bert', adaptSteps: ADAPT_STEPS },
]);
/** Integrated Gradients for one 64-token line, L4/H256 (the hover's attributions; issue 13 asks < 0.5 s). */
const EXPLAIN_CASE = { name: 'explain: IG, one 64-token line, L4/H256', mode: 'explain' };
/**
 * Soaks in the real language server (dist/server.js over LSP stdio, as the extension starts it):
 * memory stays flat over a long training run and over a long stream of inline predictions.
 */
const SOAK_CASES = [
  { name: 'soak: train tiny-bert 1,000 steps in the server', mode: 'soak-train', script: 'soak-train.mjs' },
  { name: 'soak: predict 100,000 annotations, LRU cache full', mode: 'soak-predict', script: 'soak-predict.mjs' },
];
const DATA_CASE = { name: 'data: read+clean+split+count tokens', mode: 'data' };
const INSPECT_CASE = { name: 'inspect: 200 MB CSV, 67 k distinct texts', mode: 'inspect' };

/** Builds dist/ when dist/cli.js is missing or older than any file under src/ (or esbuild.mjs). */
function buildIfStale() {
  const newest = (path) => {
    const stat = statSync(path);
    if (!stat.isDirectory()) return stat.mtimeMs;
    return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
  };
  const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'esbuild.mjs')));
  if (existsSync(cli) && statSync(cli).mtimeMs >= sources) return true;
  console.error(`building dist/ (${existsSync(cli) ? 'dist/cli.js is older than the sources' : 'dist/cli.js is missing'}) …`);
  const build = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) console.error('error: the build failed (node esbuild.mjs)');
  return build.status === 0;
}

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const lastLine = result.stdout?.trim().split('\n').pop() ?? '';
  if (result.status !== 0) return { error: (result.stderr || lastLine || String(result.error)).trim().split('\n').pop() };
  try {
    return JSON.parse(lastLine);
  } catch {
    return { error: `not JSON: ${lastLine.slice(0, 200)}` };
  }
}

function ours(c) {
  const { layers, hidden, heads, intermediate } = c.shape;
  const args = [cli, 'bench', c.mode, '--backend', 'wasm', '--json'];
  const options = { layers, hidden, heads, intermediate, 'batch-size': c.batch, 'seq-len': c.seq, steps: c.steps, ...(c.workers === undefined ? {} : { workers: c.workers }) };
  for (const [key, value] of Object.entries(options)) args.push(`--${key}`, String(value));
  return run(process.execPath, args);
}

/** bench/data.ts through tsx: one JSON line (rows, seconds, peak RSS). */
function data() {
  const result = run(process.execPath, ['--import', 'tsx', join(root, 'bench', 'data.ts')]);
  if (result.error) return result;
  return {
    samplesPerSec: Math.round(result.rows / result.total_s),
    totalSec: result.total_s,
    peakRssMB: result.peak_rss_mb,
    rows: result.rows,
    fileMB: result.file_mb,
    raw: result,
  };
}

/** bench/explain.ts through tsx: seconds per explanation, steps, completeness error. */
function explain() {
  const result = run(process.execPath, ['--import', 'tsx', join(root, 'bench', 'explain.ts')]);
  if (result.error) return result;
  return { seconds: result.seconds, steps: result.steps, completenessError: result.completeness_error, peakRssMB: result.peak_rss_mb, raw: result };
}

/** bench/inspect.mjs: the built CLI's `inspect` on SST-2's train.csv repeated to 200 MB, its peak RSS and MB/s. */
function inspect() {
  const result = run(process.execPath, [join(root, 'bench', 'inspect.mjs')]);
  if (result.error) return result;
  return { rows: result.rows, kept: result.kept, fileMB: result.file_mb, totalSec: result.seconds, mbPerSec: result.mb_per_s, peakRssMB: result.peak_rss_mb, raw: result };
}

/** `train` on SST-2 with builtin:tiny-bert for one epoch: wall seconds and the best validation accuracy. */
function sst2() {
  if (!existsSync(SST2)) return { error: `${SST2} is missing` };
  const out = mkdtempSync(join(tmpdir(), 'bench-sst2-'));
  const started = Date.now();
  try {
    const args = [cli, 'train', '--data', SST2, '--model', 'builtin:tiny-bert', '--out', join(out, 'model'), '--epochs', '1', '--max-length', '64', '--json'];
    const result = run(process.execPath, args);
    if (result.error) return result;
    const totalSec = (Date.now() - started) / 1000;
    return { totalSec: +totalSec.toFixed(1), accuracy: result.best?.accuracy, trainSec: result.elapsedSec, steps: result.steps };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** `train --epochs 1` with the defaults otherwise: best validation and test accuracy, wall seconds. */
function learning(c) {
  const data = join(root, '..', 'shared', 'datasets', c.dataset);
  if (!existsSync(data)) return { error: `${data} is missing` };
  const out = mkdtempSync(join(tmpdir(), 'bench-learning-'));
  const started = Date.now();
  try {
    const args = [cli, 'train', '--data', data, '--model', c.model, '--out', join(out, 'model'), '--epochs', '1', '--json'];
    if (c.adaptSteps) args.push('--adapt-steps', String(c.adaptSteps));
    const result = run(process.execPath, args);
    if (result.error) return result;
    return { validation: result.best?.accuracy, test: result.test?.accuracy, totalSec: +((Date.now() - started) / 1000).toFixed(1) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * A soak script: its JSON line, also when it exits 1 because a bound broke (its `problems` then say
 * which, and the row fails).
 */
function soak(c) {
  const result = spawnSync(process.execPath, [join(root, 'bench', c.script)], { cwd: root, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const lastLine = result.stdout?.trim().split('\n').pop() ?? '';
  let raw;
  try {
    raw = JSON.parse(lastLine);
  } catch {
    return { error: (result.stderr || lastLine || String(result.error)).trim().split('\n').pop() };
  }
  if (!raw.ok) return { ...raw, error: raw.problems.join('; '), raw };
  return { ...raw, raw };
}

function torchAvailable() {
  return existsSync(torchScript) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** PyTorch at its best here: one thread, OpenBLAS free to pick the CPU's own kernels. */
function pytorch(c) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const { layers, hidden, heads, intermediate } = c.shape;
  const options = { layers, hidden, heads, inter: intermediate, batch: c.batch, seq: c.seq, steps: c.steps, threads: 1 };
  const args = [torchScript, ...Object.entries(options).flatMap(([key, value]) => [`--${key}`, String(value)])];
  const result = run(python, args, env);
  return result.error ? result : { samplesPerSec: result.samples_per_sec, secPerStep: result.sec_per_step, engine: result.engine };
}

function table(rows) {
  const header = ['case', 'batch', 'samples/s', 's/step', 'CPU s/step', 'peak RSS', 'PyTorch samples/s', 'PyTorch s/step', 'ours/PyTorch'];
  const lines = rows.map(({ c, ours: o, torch: t }) => {
    if (c.mode === 'sst2') {
      return [
        c.name,
        '32×≤64',
        o.error ? 'failed' : `accuracy ${o.accuracy?.toFixed(3)}`,
        o.error ? '' : `${o.totalSec} s total`,
        '',
        '',
        '',
        `HF ${c.referenceSec} s`,
        o.error ? '' : `${(c.referenceSec / o.totalSec).toFixed(2)}× faster`,
      ];
    }
    if (c.mode === 'explain') {
      return [c.name, '1×64', o.error ? 'failed' : `${o.seconds} s/line`, o.error ? '' : `${o.steps} steps, completeness error ${o.completenessError}`, '', o.error ? '' : `${o.peakRssMB} MB`, '', '', ''];
    }
    if (c.mode === 'learning') {
      const pct = (x) => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);
      return [c.name, '32×≤128', o.error ? 'failed' : `val ${pct(o.validation)} test ${pct(o.test)}`, o.error ? '' : `${o.totalSec} s total`, '', '', '', '', ''];
    }
    if (c.mode === 'soak-train' || c.mode === 'soak-predict') {
      const train = c.mode === 'soak-train';
      const from = train ? `step ${o.first?.step}` : `${o.first?.annotations} (cache full)`;
      const memory = !o.first
        ? ''
        : `RSS ${o.first.rssMB}→${o.last.rssMB} MB (max ${o.max.rssMB}), tensors ${o.first.numTensors}→${o.last.numTensors} (max ${o.max.numTensors}) from ${from}`;
      return [
        c.name,
        train ? `${o.batch ?? 32}×≤64` : '16×≤128',
        o.error ? 'failed' : train ? String(o.samplesPerSec) : `${o.annotationsPerSec} annotations/s`,
        memory,
        '',
        o.max ? `${o.max.rssMB} MB` : '',
        '',
        '',
        '',
      ];
    }
    if (c.mode === 'inspect' || c.mode === 'data') {
      const size = c.mode === 'inspect' ? `${o.rows} rows, ${o.kept} kept` : `${o.rows} rows, ${o.fileMB} MB`;
      const speed = c.mode === 'inspect' ? `${o.mbPerSec} MB/s` : `${o.samplesPerSec} rows/s`;
      return [
        `${c.name}${o.error ? '' : ` (${size})`}`,
        '',
        o.error ? 'failed' : speed,
        o.error ? '' : `${o.totalSec} s total`,
        '',
        o.error ? '' : `${o.peakRssMB} MB`,
        '',
        '',
        '',
      ];
    }
    return [
      `${c.name}${o.workers > 1 ? ` (${o.workers})` : ''}`,
      `${c.batch}×${c.seq}`,
      o.error ? 'failed' : String(o.samplesPerSec),
      o.error ? '' : String(o.secPerStep),
      o.error || o.cpuSecPerStep === undefined ? '' : String(o.cpuSecPerStep),
      o.error ? '' : `${o.peakRssMB} MB`,
      t ? (t.error ? 'failed' : String(t.samplesPerSec)) : '',
      t && !t.error ? String(t.secPerStep) : '',
      t && !t.error && !o.error ? `${(o.samplesPerSec / t.samplesPerSec).toFixed(2)}×` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n');
}

function main() {
  // The soaks alone on a copy of dist/ (BENCH_DIST) leave dist/ as it is: a rebuild would pull it from under others.
  if (!(soakOnly && process.env.BENCH_DIST) && !buildIfStale()) return 1;
  const withTorch = !soakOnly && torchAvailable();
  if (!json && !withTorch && !soakOnly) console.log(`(PyTorch column skipped: needs ${torchScript} and ${python} with torch)`);
  const rows = [];
  const torchByShape = new Map();
  const torchFor = (c) => {
    const key = `${JSON.stringify(c.shape)} ${c.batch}×${c.seq}`;
    if (!torchByShape.has(key)) torchByShape.set(key, pytorch(c));
    return torchByShape.get(key);
  };
  for (const c of soakOnly ? [] : CASES) {
    if (!json) console.error(`running ${c.name} ${c.batch}×${c.seq} …`);
    const row = { c, ours: ours(c), torch: withTorch && c.mode === 'train' ? torchFor(c) : undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: c.name, batch: c.batch, seq: c.seq, ours: row.ours, pytorch: row.torch ?? null }));
  }
  if (withSst2) {
    if (!json) console.error(`running ${SST2_CASE.name} …`);
    const row = { c: SST2_CASE, ours: sst2(), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: SST2_CASE.name, ours: row.ours, reference: { huggingFaceSec: SST2_CASE.referenceSec } }));
  }
  if (!soakOnly) {
    if (!json) console.error(`running ${EXPLAIN_CASE.name} …`);
    const row = { c: EXPLAIN_CASE, ours: explain(), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: EXPLAIN_CASE.name, ours: row.ours.raw ?? row.ours }));
  }
  for (const c of withLearning ? LEARNING_CASES : []) {
    if (!json) console.error(`running ${c.name} …`);
    const row = { c, ours: learning(c), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: c.name, ours: row.ours }));
  }
  for (const c of withSoak ? SOAK_CASES : []) {
    if (!json) console.error(`running ${c.name} …`);
    const row = { c, ours: soak(c), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: c.name, ours: row.ours.raw ?? row.ours }));
  }
  if (withData) {
    if (!json) console.error(`running ${DATA_CASE.name} …`);
    const row = { c: DATA_CASE, ours: data(), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: DATA_CASE.name, ours: row.ours.raw ?? row.ours, pytorch: null }));
    if (!json) console.error(`running ${INSPECT_CASE.name} …`);
    const inspectRow = { c: INSPECT_CASE, ours: inspect(), torch: undefined };
    rows.push(inspectRow);
    if (json) console.log(JSON.stringify({ case: INSPECT_CASE.name, ours: inspectRow.ours.raw ?? inspectRow.ours, pytorch: null }));
  }
  const failures = rows.filter((r) => r.ours.error || r.torch?.error);
  const gemm = rows.find((r) => r.ours.gemm)?.ours.gemm;
  if (!json && gemm) console.log(`(wasm backend; matrix products: ${gemm})`);
  if (!json) console.log(table(rows));
  for (const r of failures) console.error(`${r.c.name}${r.c.batch ? ` ${r.c.batch}×${r.c.seq}` : ''}: ${r.ours.error ?? r.torch.error}`);
  if (json) console.log(JSON.stringify({ cases: rows.length, failed: failures.length, pytorch: withTorch }));
  return failures.length > 0 ? 1 : 0;
}

process.exit(main());
