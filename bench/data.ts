/**
 * Data benchmark: `npx tsx bench/data.ts [--rows N] [--keep]`.
 *
 * Builds a CSV of 50,000 long reviews (~66 MB) in a temp folder from real sentences of
 * ../shared/datasets, with `<br />` and HTML entities sprinkled in, then measures, in a fresh
 * process so that peak memory is the reader's alone: reading + cleaning + deduplicating +
 * splitting (loadDataset), and counting tokens with the tiny-bert tokenizer (summarizeDataset).
 * Prints one JSON line. Target (issue 3): under 30 s, memory a small multiple of the file size.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadDataset, summarizeDataset } from '../src/server/engine/data';
import { Random } from '../src/server/engine/random';

const ROOT = join(__dirname, '..');
const SHARED = join(ROOT, '..', 'shared', 'datasets');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-bert');
const REVIEW_CHARS = 1320;
const ENTITIES = ['&amp;', '&quot;', '&#39;', '&eacute;', '&hellip;', '&lt;3'];

function main(): void {
  const measure = process.argv.indexOf('--measure');
  if (measure !== -1) {
    void measureFile(process.argv[measure + 1]);
    return;
  }
  const rows = Number(argValue('--rows') ?? 50_000);
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-'));
  const file = join(dir, 'reviews.csv');
  void buildCsv(file, rows).then(() => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--measure', file], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${file}`);
    process.exit(child.status ?? 1);
  });
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

/** Sentences by polarity from the binary datasets. */
function sentences(): Record<'negative' | 'positive', string[]> {
  const out = { negative: [] as string[], positive: [] as string[] };
  for (const name of ['sst2', 'rt-polarity']) {
    const rows = parse(readFileSync(join(SHARED, name, 'train.csv'), 'utf8'), { columns: true }) as { text: string; label: 'negative' | 'positive' }[];
    for (const row of rows) if (row.text.length > 40) out[row.label].push(row.text.trim());
  }
  return out;
}

/** Writes `rows` reviews, each ~REVIEW_CHARS of same-polarity sentences with HTML noise. */
async function buildCsv(file: string, rows: number): Promise<void> {
  const pool = sentences();
  const generator = new Random(7);
  const random = () => generator.next();
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const out = createWriteStream(file);
  out.write('review,sentiment\n');
  for (let i = 0; i < rows; i++) {
    const label = random() < 0.5 ? 'negative' : 'positive';
    let text = '';
    while (text.length < REVIEW_CHARS) {
      text += pick(pool[label]);
      const noise = random();
      text += noise < 0.25 ? '<br /><br />' : noise < 0.35 ? ` ${pick(ENTITIES)} ` : ' ';
    }
    if (!out.write(`"${text.replace(/"/g, '""')}",${label}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
}

async function measureFile(file: string): Promise<void> {
  const baselineRss = process.memoryUsage().rss;
  const started = performance.now();
  const dataset = await loadDataset(file);
  const loaded = performance.now();
  const tokenizer = await loadTokenizer();
  const tokenizerLoaded = performance.now();
  const summary = summarizeDataset(dataset, { countTokens: tokenizer, maxLength: 128 });
  const done = performance.now();
  const mb = (bytes: number) => Math.round(bytes / 1024 ** 2);
  const fileMb = statSync(file).size / 1024 ** 2;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const seconds = (ms: number) => Math.round(ms / 10) / 100;
  console.log(
    JSON.stringify({
      bench: 'data',
      rows: summary.rows.read,
      kept: summary.rows.kept,
      file_mb: Math.round(fileMb * 10) / 10,
      read_clean_split_s: seconds(loaded - started),
      tokenize_s: tokenizer ? seconds(done - tokenizerLoaded) : null,
      total_s: seconds(done - started),
      tokens_median: summary.tokens?.median ?? null,
      tokens_p90: summary.tokens?.p90 ?? null,
      peak_rss_mb: mb(peakRss),
      baseline_rss_mb: mb(baselineRss),
      peak_over_file: Math.round(((peakRss - baselineRss) / 1024 ** 2 / fileMb) * 10) / 10,
    }),
  );
}

/** countTokens of the real tokenizer, when its module exists. */
async function loadTokenizer(): Promise<((text: string) => number) | undefined> {
  if (!existsSync(join(ROOT, 'src', 'server', 'engine', 'tokenizer.ts'))) return undefined;
  const { Tokenizer } = await import('../src/server/engine/tokenizer');
  const tokenizer = Tokenizer.load(MODEL);
  return (text) => tokenizer.countTokens(text);
}

main();
