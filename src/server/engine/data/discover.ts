/**
 * Finds the files and folders in a workspace that look like labelled datasets, reading only their
 * first rows: format, estimated rows, columns and the text/label columns that would be used.
 */
import { createReadStream } from 'node:fs';
import { join, relative } from 'node:path';
import { chooseColumns } from './columns';
import { listDir } from './formats/folder';
import { openRows } from './formats';
import { parquetColumns } from './formats/parquet';
import { datasetFolderSources, resolveSources, type Source } from './layout';
import { formatFromName } from './sniff';
import { take } from './take';
import { SPLITS, type DatasetFormat, type RawRow, type SplitName } from './types';

const SKIP_DIRS = new Set([
  'node_modules', 'bower_components', 'dist', 'build', 'out', 'target', 'coverage', '__pycache__',
  'venv', 'site-packages',
]);
const SAMPLE_ROWS = 200;

export interface DiscoverOptions {
  /** Files larger than this are skipped unless includeLarge (default 100 MB). */
  maxBytes?: number;
  includeLarge?: boolean;
  /** Folder levels below root to look at (default 6). */
  maxDepth?: number;
}

export interface DatasetCandidate {
  /** What to pass as --data. */
  path: string;
  /** The same, relative to the root searched. */
  relativePath: string;
  kind: 'file' | 'folder';
  format: DatasetFormat;
  /** For a folder: its data files or label folders, relative to it. */
  files: string[];
  splits: SplitName[];
  bytes: number;
  rows: number;
  /** False when `rows` is estimated from the first rows' size. */
  rowsExact: boolean;
  columns: string[];
  textColumn: string;
  labelColumn: string;
  /** Label values seen in the first rows. */
  labels: string[];
}

export async function discoverDatasets(root: string, options: DiscoverOptions = {}): Promise<DatasetCandidate[]> {
  const found: DatasetCandidate[] = [];
  await walk(root, 0, { maxBytes: 100 * 1024 ** 2, maxDepth: 6, includeLarge: false, ...options }, root, found);
  return found;
}

async function walk(dir: string, depth: number, options: Required<DiscoverOptions>, root: string, found: DatasetCandidate[]): Promise<void> {
  const layout = await quietly(() => datasetFolderSources(dir));
  if (layout && isDatasetFolder(layout)) {
    const candidate = await describe(dir, layout, 'folder', options, root);
    if (candidate) return void found.push(candidate);
  }
  const entries = (await listDir(dir)).filter((e) => !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (!entry.isFile() || !formatFromName(entry.name)) continue;
    const path = join(dir, entry.name);
    const sources = await quietly(() => resolveSources(path, { maxFileBytes: options.includeLarge ? Infinity : options.maxBytes }));
    const candidate = sources && (await describe(path, sources, 'file', options, root));
    if (candidate) found.push(candidate);
  }
  if (depth >= options.maxDepth) return;
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIP_DIRS.has(entry.name)) await walk(join(dir, entry.name), depth + 1, options, root, found);
  }
}

/** One split file alone, or one folder of .txt files, is too little to call the folder a dataset. */
function isDatasetFolder(sources: Source[]): boolean {
  if (sources.some((s) => s.kind === 'labels')) return sources.some((s) => s.kind === 'labels' && s.folders.length >= 2);
  return new Set(sources.map((s) => s.split)).size >= 2;
}

async function describe(
  path: string,
  sources: Source[],
  kind: 'file' | 'folder',
  options: Required<DiscoverOptions>,
  root: string,
): Promise<DatasetCandidate | undefined> {
  const first = sources[0];
  if (kind === 'folder' && sources.some((s) => s.kind === 'file' && s.bytes > options.maxBytes) && !options.includeLarge) return undefined;
  const sample = await quietly(() => sampleRows(first));
  if (!sample || sample.rows.length === 0) return undefined;
  const columns = [...new Set(sample.rows.flatMap((r) => Object.keys(r.values)))];
  const choice = await quietly(async () => chooseColumns(columns, sample.rows.map((r) => r.values), { file: first.path }));
  if (!choice) return undefined;
  let rows = 0;
  let rowsExact = true;
  for (const source of sources) {
    const count = source === first ? sample.count : (await quietly(() => sampleRows(source)))?.count;
    rows += count?.rows ?? 0;
    rowsExact &&= count?.exact ?? false;
  }
  return {
    path,
    relativePath: relative(root, path) || '.',
    kind,
    format: first.kind === 'labels' ? 'folder' : first.format,
    files: kind === 'folder' ? sources.flatMap((s) => (s.kind === 'labels' ? s.folders.map((f) => relative(path, f.path)) : [relative(path, s.path)])) : [],
    splits: SPLITS.filter((split) => sources.some((s) => s.split === split)),
    bytes: sources.reduce((n, s) => n + (s.kind === 'file' ? s.bytes : 0), 0),
    rows,
    rowsExact,
    columns,
    textColumn: choice.text,
    labelColumn: choice.label,
    labels: [...new Set(sample.rows.map((r) => String(r.values[choice.label] ?? '').trim()).filter(Boolean))].slice(0, 20),
  };
}

async function sampleRows(source: Source): Promise<{ rows: RawRow[]; count: { rows: number; exact: boolean } }> {
  const iterator = openRows(source);
  try {
    const rows = await take(iterator, SAMPLE_ROWS + 1); // one more tells whether the sample is the whole file
    return { rows, count: await countRows(source, rows) };
  } finally {
    await iterator.return(undefined);
  }
}

/** Rows of a source: exact when cheap (Parquet footer, .txt files, a sample that was the whole file), else lines / lines per row. */
async function countRows(source: Source, sample: RawRow[]): Promise<{ rows: number; exact: boolean }> {
  if (source.kind === 'labels') return { rows: source.folders.reduce((n, f) => n + f.files.length, 0), exact: true };
  if (source.format === 'parquet') return { rows: (await parquetColumns(source.path)).rows, exact: true };
  if (sample.length > 0 && sample.length <= SAMPLE_ROWS) return { rows: sample.length, exact: true };
  const lines = await countLines(source.path);
  if (sample.length < 2) return { rows: lines, exact: false };
  const linesPerRow = Math.max(1, (sample[sample.length - 1].line - sample[0].line) / (sample.length - 1));
  return { rows: Math.round((lines - sample[0].line + 1) / linesPerRow), exact: false };
}

async function countLines(file: string): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
    last = chunk[chunk.length - 1];
  }
  return last === 0x0a ? lines : lines + 1;
}

/** Runs a probe; a file that cannot be read as a dataset (or cannot be read at all) is simply not one. */
async function quietly<T>(probe: () => Promise<T>): Promise<T | undefined> {
  try {
    return await probe();
  } catch {
    return undefined;
  }
}
