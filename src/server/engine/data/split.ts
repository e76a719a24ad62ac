/**
 * Splits: the user's (file names, a `split` column, split folders) when the data has them, else a
 * seeded, stratified split. Deduplication makes sure no text sits in two splits.
 */
import type { DuplicateReport, SplitName } from './types';
import { Random } from '../random';
import { UniqueTexts } from './unique';

const SPLIT_WORDS: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  validation: 'validation',
  valid: 'validation',
  val: 'validation',
  dev: 'validation',
  development: 'validation',
  test: 'test',
  testing: 'test',
};

/** The split a file or folder name names (`train.csv`, `imdb-test.jsonl`, `dev/`), if exactly one. */
export function splitFromName(name: string): SplitName | undefined {
  const stem = name.replace(/\.[^.]*$/, '').toLowerCase();
  const named = new Set(stem.split(/[^a-z]+/).map((word) => SPLIT_WORDS[word]).filter(Boolean));
  return named.size === 1 ? [...named][0] : undefined;
}

/** The split a `split` column value names ("train", "dev", "Test"…). */
export function splitFromValue(value: unknown): SplitName | undefined {
  return typeof value === 'string' ? SPLIT_WORDS[value.trim().toLowerCase()] : undefined;
}

/** What deduplication needs of a row. */
export interface SplitRow {
  text: string;
  label: string;
  split?: SplitName;
  file: string;
  line: number;
}

/**
 * Keeps one copy of each text. Across splits the test copy wins, then validation (so the user's
 * evaluation sets are never emptied to feed training). A text with different labels in the winning
 * split is dropped altogether. (The loader does the same while it reads, with UniqueTexts.)
 */
export function dedupe<T extends SplitRow>(rows: T[]): { kept: T[]; report: DuplicateReport } {
  const unique = new UniqueTexts<T>();
  for (const row of rows) unique.add(row);
  return unique.result();
}

/**
 * A seeded split that keeps each class's share in every split: per class, shuffle and deal out
 * round(n·fraction) examples, at least one left to train. Rows keep their file order in each split.
 */
export function stratifiedSplit<T extends { label: string }>(
  rows: T[],
  fractions: { validation: number; test: number },
  seed: number,
): Record<SplitName, T[]> {
  const random = new Random(seed);
  const assigned = new Uint8Array(rows.length); // 0 train, 1 validation, 2 test
  for (const indices of groupByLabel(rows)) {
    random.shuffle(indices);
    const n = indices.length;
    const test = Math.min(Math.round(n * fractions.test), n - 1);
    const validation = Math.min(Math.round(n * fractions.validation), n - 1 - test);
    indices.slice(0, validation).forEach((i) => (assigned[i] = 1));
    indices.slice(validation, validation + test).forEach((i) => (assigned[i] = 2));
  }
  const out: Record<SplitName, T[]> = { train: [], validation: [], test: [] };
  rows.forEach((row, i) => out[(['train', 'validation', 'test'] as const)[assigned[i]]].push(row));
  return out;
}

/** Row indices per label, labels in sorted order so that the shuffle does not depend on file order of classes. */
function groupByLabel(rows: { label: string }[]): number[][] {
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const group = groups.get(row.label);
    if (group) group.push(i);
    else groups.set(row.label, [i]);
  });
  return [...groups.keys()].sort().map((label) => groups.get(label)!);
}
