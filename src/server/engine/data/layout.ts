/**
 * What a `--data` path holds: one file, a folder of split files (`train.csv`, `dev.jsonl`…),
 * split folders (`train/`, `test/`) or label folders (`pos/*.txt`).
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UserError } from '../errors';
import { findLabelFolders, listDir, type LabelFolder } from './formats/folder';
import { formatFromName, readHead, sniffFormat } from './sniff';
import { splitFromName } from './split';
import type { DatasetFormat, SplitName } from './types';

export type Source =
  | { kind: 'file'; path: string; format: DatasetFormat; delimiter?: string; split?: SplitName; bytes: number }
  | { kind: 'labels'; path: string; folders: LabelFolder[]; split?: SplitName };

export interface LayoutOptions {
  delimiter?: string;
  maxFileBytes?: number;
}

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
/** Formats read whole into memory get a lower limit. */
const DEFAULT_MAX_WHOLE_BYTES = 512 * 1024 ** 2;

export async function resolveSources(path: string, options: LayoutOptions = {}): Promise<Source[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new UserError({ kind: 'no-dataset', file: path, message: 'No such file or folder.', fix: 'Check the --data path.' });
  }
  if (info.isFile()) return [await fileSource(path, options)];
  const sources = await folderSources(path, options);
  if (sources) return sources;
  throw new UserError({
    kind: 'no-dataset',
    file: path,
    message: 'The folder holds no dataset: no .csv, .tsv, .jsonl, .json or .parquet file, and no label folders of .txt files.',
    fix: 'Point --data at a data file, or at a folder with train/validation/test files or one folder of .txt files per label.',
  });
}

async function fileSource(path: string, options: LayoutOptions, split?: SplitName): Promise<Source> {
  const { size } = await stat(path);
  if (size === 0) {
    throw new UserError({ kind: 'empty-file', file: path, message: 'The file is empty.', fix: 'Add a header line and one row per example.' });
  }
  const sniffed = sniffFormat(path, await readHead(path), options.delimiter);
  checkSize(path, size, sniffed.format, options.maxFileBytes);
  return { kind: 'file', path, ...sniffed, split, bytes: size };
}

function checkSize(path: string, size: number, format: DatasetFormat, limit?: number): void {
  const whole = format === 'json' || format === 'parquet';
  const max = limit ?? (whole ? DEFAULT_MAX_WHOLE_BYTES : DEFAULT_MAX_BYTES);
  if (size <= max) return;
  throw new UserError({
    kind: 'too-large',
    file: path,
    message: `The file is ${mb(size)}, over the ${mb(max)} limit for ${format} files.`,
    fix: whole ? 'Split it into several files, or convert it to JSON Lines, which is streamed.' : 'Split it into several files, or raise the limit (maxFileBytes).',
  });
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 ** 2)} MB`;
}

/** The sources of a folder, trying the layouts in order; undefined when none fits. */
async function folderSources(dir: string, options: LayoutOptions): Promise<Source[] | undefined> {
  const layout = await datasetFolderSources(dir, options);
  if (layout) return layout;
  const entries = (await listDir(dir)).filter((e) => !e.name.startsWith('.'));
  const dataFiles = entries.filter((e) => e.isFile() && formatFromName(e.name)).map((e) => e.name).sort();
  if (dataFiles.length === 1) return [await fileSource(join(dir, dataFiles[0]), options)];
  if (dataFiles.length > 1) {
    throw new UserError({
      kind: 'no-dataset',
      file: dir,
      message: `The folder holds several data files (${dataFiles.join(', ')}) and none is named for a split.`,
      fix: 'Point --data at one of them, or name them train, validation and test (e.g. train.csv).',
    });
  }
  // a Hugging Face dataset repository keeps its files in data/
  if (entries.some((e) => e.isDirectory() && e.name === 'data')) return folderSources(join(dir, 'data'), options);
  return undefined;
}

/**
 * The layouts that make a folder one dataset: split folders (`train/`, `test/`), data files named
 * for splits (`train.csv`, `dev.jsonl`), or label folders (`pos/*.txt`). Undefined for any other folder.
 */
export async function datasetFolderSources(dir: string, options: LayoutOptions = {}): Promise<Source[] | undefined> {
  const entries = (await listDir(dir)).filter((e) => !e.name.startsWith('.'));
  const splitDirs = entries.filter((e) => e.isDirectory() && splitFromName(e.name)).map((e) => e.name);
  const fromSplitDirs = await splitFolderSources(dir, splitDirs, options);
  if (fromSplitDirs.length > 0) return fromSplitDirs;
  const splitFiles = entries.filter((e) => e.isFile() && formatFromName(e.name) && splitFromName(e.name)).map((e) => e.name).sort();
  if (splitFiles.length > 0) {
    return Promise.all(splitFiles.map((name) => fileSource(join(dir, name), options, splitFromName(name))));
  }
  const labelFolders = await findLabelFolders(dir);
  if (labelFolders.length > 0) return [{ kind: 'labels', path: dir, folders: labelFolders }];
  return undefined;
}

/** `train/`, `test/`… each holding label folders or data files. */
async function splitFolderSources(dir: string, names: string[], options: LayoutOptions): Promise<Source[]> {
  const sources: Source[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    const split = splitFromName(basename(path));
    const folders = await findLabelFolders(path);
    if (folders.length > 0) {
      sources.push({ kind: 'labels', path, folders, split });
      continue;
    }
    const files = (await listDir(path)).filter((e) => e.isFile() && formatFromName(e.name)).map((e) => e.name).sort();
    for (const file of files) sources.push(await fileSource(join(path, file), options, split));
  }
  return sources;
}
