/**
 * The folder-per-label layout: `<label>/*.txt`, one example per file, the folder name its label
 * (as IMDb's `aclImdb/train/pos/0_9.txt`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertText, encodingError } from '../sniff';
import type { RawRow } from '../types';

/** Folders that hold unlabelled text next to label folders (IMDb's `unsup`). */
const UNLABELLED = new Set(['unsup', 'unlabeled', 'unlabelled']);
const PARALLEL_READS = 32;
const byNumberAware = new Intl.Collator('en', { numeric: true }).compare;

export interface LabelFolder {
  label: string;
  path: string;
  files: string[];
}

/** The subfolders of `dir` that directly hold .txt files, each a label. */
export async function findLabelFolders(dir: string): Promise<LabelFolder[]> {
  const folders: LabelFolder[] = [];
  for (const entry of await listDir(dir)) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || UNLABELLED.has(entry.name.toLowerCase())) continue;
    const path = join(dir, entry.name);
    const files = (await listDir(path))
      .filter((f) => f.isFile() && f.name.toLowerCase().endsWith('.txt'))
      .map((f) => f.name)
      .sort(byNumberAware);
    if (files.length > 0) folders.push({ label: entry.name, path, files });
  }
  return folders.sort((a, b) => byNumberAware(a.label, b.label));
}

export async function listDir(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** One row per .txt file: `{ text, label }`, line 1. */
export async function* readLabelFolderRows(folders: LabelFolder[]): AsyncGenerator<RawRow> {
  for (const folder of folders) {
    for (let start = 0; start < folder.files.length; start += PARALLEL_READS) {
      const batch = folder.files.slice(start, start + PARALLEL_READS).map((name) => join(folder.path, name));
      const texts = await Promise.all(batch.map(readText));
      for (let i = 0; i < batch.length; i++) {
        yield { values: { text: texts[i], label: basename(folder.path) }, file: batch[i], line: 1 };
      }
    }
  }
}

async function readText(file: string): Promise<string> {
  const bytes = await readFile(file);
  assertText(file, bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw await encodingError(file);
  }
}
