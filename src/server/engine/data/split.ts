/**
 * Splits: the user's (file names, a `split` column, split folders) when the data has them, else a
 * seeded, stratified split. Deduplication makes sure no text sits in two splits.
 */
import type { DuplicateReport, SplitName } from './types';
import { Random } from '../random';

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

/** When the same text is in several splits, the copy in the split latest here is kept. */
const KEEP_ORDER: (SplitName | undefined)[] = [undefined, 'train', 'validation', 'test'];

/**
 * Keeps one copy of each text. Across splits the test copy wins, then validation (so the user's
 * evaluation sets are never emptied to feed training). A text with different labels in the winning
 * split is dropped altogether.
 */
export function dedupe<T extends SplitRow>(rows: T[]): { kept: T[]; report: DuplicateReport } {
  const report: DuplicateReport = { removed: 0, acrossSplits: 0, conflicts: 0, conflictRowsDropped: 0, conflictSamples: [] };
  const drop = new Uint8Array(rows.length);
  for (const group of duplicateGroups(rows)) {
    const rank = (i: number) => KEEP_ORDER.indexOf(rows[i].split);
    const best = Math.max(...group.map(rank));
    const owners = group.filter((i) => rank(i) === best);
    const ownerLabels = new Set(owners.map((i) => rows[i].label));
    const keep = ownerLabels.size === 1 ? owners[0] : -1;
    const conflict = new Set(group.map((i) => rows[i].label)).size > 1;
    if (conflict) report.conflicts++;
    if (conflict && report.conflictSamples.length < 5) report.conflictSamples.push(sample(rows, group));
    for (const i of group) {
      if (i === keep) continue;
      drop[i] = 1;
      if (conflict) report.conflictRowsDropped++;
      else report.removed++;
      if (keep !== -1 && rows[i].split !== rows[keep].split) report.acrossSplits++;
    }
  }
  return { kept: rows.filter((_, i) => !drop[i]), report };
}

/** Indices of rows sharing a text, for every text seen more than once (in first-seen order). */
function duplicateGroups(rows: SplitRow[]): number[][] {
  const first = new Map<string, number>();
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const seen = first.get(row.text);
    if (seen === undefined) first.set(row.text, i);
    else if (groups.has(row.text)) groups.get(row.text)!.push(i);
    else groups.set(row.text, [seen, i]);
  });
  return [...groups.values()];
}

function sample(rows: SplitRow[], group: number[]): DuplicateReport['conflictSamples'][number] {
  const text = rows[group[0]].text;
  return {
    text: text.length > 80 ? `${text.slice(0, 77)}…` : text,
    labels: [...new Set(group.map((i) => rows[i].label))],
    where: group.map((i) => `${rows[i].file}:${rows[i].line}`),
  };
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
