// `inspect` on a big file with many duplicates: `node bench/inspect.mjs [--mb N] [--model M] [--keep]`.
//
// Writes a CSV of about N MB (default 200) in a temp folder by repeating the rows of
// ../shared/datasets/sst2/train.csv (67,349 texts), so ~3.3 M rows of which 67 k are unique, then
// runs the built CLI, `node dist/cli.js inspect --data <file> --json`, as a child and reads the
// child's own peak RSS (process.resourceUsage().maxRSS, written at exit by bench/peak-rss.cjs).
// Prints one JSON line: rows, unique texts, MB/s, seconds, peak RSS. The point (issue 12, item 7):
// the footprint stays bounded by the unique texts, it does not grow with duplicate rows.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const source = join(root, '..', 'shared', 'datasets', 'sst2', 'train.csv');
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
};

/** Header once, then the body of `from` again and again until the file reaches `bytes`. */
function repeatCsv(from, file, bytes) {
  const text = readFileSync(from, 'utf8');
  const newline = text.indexOf('\n');
  const header = text.slice(0, newline + 1);
  const body = Buffer.from(text.slice(newline + 1).replace(/\n?$/, '\n'));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, header);
    for (let written = header.length; written < bytes; written += body.length) writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
}

function main() {
  if (!existsSync(cli)) return fail(`${cli} is missing: run npm run build`);
  if (!existsSync(source)) return fail(`${source} is missing`);
  const mb = Number(arg('--mb') ?? 200);
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-inspect-'));
  const file = join(dir, 'sst2-repeated.csv');
  try {
    repeatCsv(source, file, mb * 1024 ** 2);
    const fileMb = statSync(file).size / 1024 ** 2;
    const model = arg('--model');
    const args = ['--require', join(root, 'bench', 'peak-rss.cjs'), cli, 'inspect', '--data', file, ...(model ? ['--model', model] : []), '--json'];
    const started = performance.now();
    const child = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 ** 2 });
    const seconds = (performance.now() - started) / 1000;
    if (child.status !== 0) return fail(`inspect failed (${child.status}): ${(child.stderr || '').trim().split('\n').pop()}`);
    const summary = JSON.parse(child.stdout.trim().split('\n').pop());
    const peakKb = Number(/peak-rss-kb (\d+)/.exec(child.stderr)?.[1]);
    console.log(
      JSON.stringify({
        bench: 'inspect',
        rows: summary.rows.read,
        kept: summary.rows.kept,
        duplicates_removed: summary.duplicates.removed,
        file_mb: Math.round(fileMb * 10) / 10,
        seconds: Math.round(seconds * 100) / 100,
        mb_per_s: Math.round((fileMb / seconds) * 10) / 10,
        peak_rss_mb: Math.round(peakKb / 1024),
        peak_over_file: Math.round((peakKb / 1024 / fileMb) * 100) / 100,
      }),
    );
    return 0;
  } finally {
    if (process.argv.includes('--keep')) console.error(`kept ${file}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function fail(message) {
  console.log(JSON.stringify({ bench: 'inspect', error: message }));
  return 1;
}

process.exit(main());
