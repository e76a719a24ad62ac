// `npm run bench`: the standard benchmark set, run through the built CLI (`node dist/cli.js bench …`),
// with PyTorch's figure for the training shapes beside ours when PyTorch is installed, and the
// dataset-reading benchmark (bench/data.ts: read, clean, split and count tokens of a 66 MB CSV).
// dist/ is built first (`node esbuild.mjs`) when dist/cli.js is missing or older than a source file.
//
//   node bench/run.mjs            a table
//   node bench/run.mjs --json     one JSON object per case, then a summary object
//   node bench/run.mjs --no-data  without the dataset benchmark
//
// PyTorch is measured "at its best" on one thread (see ../shared/docs/ENGINE-NOTES.md) by
// ../shared/bench/torch_bert_train.py; its column is left empty when that script or torch is missing.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const torchScript = join(root, '..', 'shared', 'bench', 'torch_bert_train.py');
const python = '/usr/bin/python3';
const json = process.argv.includes('--json');
const withData = !process.argv.includes('--no-data');

const L4_H256 = { layers: 4, hidden: 256, heads: 4, intermediate: 1024 };
const BERT_BASE = { layers: 12, hidden: 768, heads: 12, intermediate: 3072 };
const TINY_BERT = { layers: 2, hidden: 32, heads: 2, intermediate: 64 }; // test/fixtures/tiny-bert

const CASES = [
  { name: 'train L4/H256', mode: 'train', shape: L4_H256, batch: 16, seq: 128, steps: 5 },
  { name: 'predict L4/H256', mode: 'predict', shape: L4_H256, batch: 32, seq: 64, steps: 5 },
  { name: 'predict bert-base', mode: 'predict', shape: BERT_BASE, batch: 8, seq: 128, steps: 3 },
  { name: 'train tiny-bert', mode: 'train', shape: TINY_BERT, batch: 16, seq: 128, steps: 5 },
  { name: 'train tiny-bert', mode: 'train', shape: TINY_BERT, batch: 32, seq: 16, steps: 20 },
];
const DATA_CASE = { name: 'data: read+clean+split+count tokens', mode: 'data' };

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
  const options = { layers, hidden, heads, intermediate, 'batch-size': c.batch, 'seq-len': c.seq, steps: c.steps };
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
  const header = ['case', 'batch', 'samples/s', 's/step', 'CPU s/step', 'peak RSS', 'PyTorch samples/s', 'ours/PyTorch'];
  const lines = rows.map(({ c, ours: o, torch: t }) => {
    if (c.mode === 'data') {
      return [
        `${c.name}${o.error ? '' : ` (${o.rows} rows, ${o.fileMB} MB)`}`,
        '',
        o.error ? 'failed' : `${o.samplesPerSec} rows/s`,
        o.error ? '' : `${o.totalSec} s total`,
        '',
        o.error ? '' : `${o.peakRssMB} MB`,
        '',
        '',
      ];
    }
    return [
      `${c.name}`,
      `${c.batch}×${c.seq}`,
      o.error ? 'failed' : String(o.samplesPerSec),
      o.error ? '' : String(o.secPerStep),
      o.error || o.cpuSecPerStep === undefined ? '' : String(o.cpuSecPerStep),
      o.error ? '' : `${o.peakRssMB} MB`,
      t ? (t.error ? 'failed' : String(t.samplesPerSec)) : '',
      t && !t.error && !o.error ? `${(o.samplesPerSec / t.samplesPerSec).toFixed(2)}×` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n');
}

function main() {
  if (!buildIfStale()) return 1;
  const withTorch = torchAvailable();
  if (!json && !withTorch) console.log(`(PyTorch column skipped: needs ${torchScript} and ${python} with torch)`);
  const rows = [];
  for (const c of CASES) {
    if (!json) console.error(`running ${c.name} ${c.batch}×${c.seq} …`);
    const row = { c, ours: ours(c), torch: withTorch && c.mode === 'train' ? pytorch(c) : undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: c.name, batch: c.batch, seq: c.seq, ours: row.ours, pytorch: row.torch ?? null }));
  }
  if (withData) {
    if (!json) console.error(`running ${DATA_CASE.name} …`);
    const row = { c: DATA_CASE, ours: data(), torch: undefined };
    rows.push(row);
    if (json) console.log(JSON.stringify({ case: DATA_CASE.name, ours: row.ours.raw ?? row.ours, pytorch: null }));
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
