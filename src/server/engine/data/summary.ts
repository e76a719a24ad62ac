/**
 * The dataset summary shown before training: where the data came from, what was kept and why,
 * label counts per split, the majority-class baseline and the token lengths.
 */
import { isAbsolute, relative } from 'node:path';
import { SPLITS, type Dataset, type DatasetFile, type DatasetFormat, type DuplicateReport, type SplitName } from './types';

export interface SplitSummary {
  examples: number;
  /** Examples per class name, in id order. */
  labels: Record<string, number>;
}

export interface TokenSummary {
  median: number;
  p90: number;
  max: number;
  maxLength?: number;
  /** Examples longer than maxLength (they will be cut). */
  truncated?: number;
  truncatedShare?: number;
}

export interface DatasetSummary {
  path: string;
  format: DatasetFormat;
  files: DatasetFile[];
  columns: { text: string; label: string; guessed: { text: boolean; label: boolean }; found: string[] };
  rows: { read: number; kept: number; dropped: Record<string, number> };
  duplicates: DuplicateReport;
  id2label: string[];
  userSplits: boolean;
  splitRule: string;
  splits: Record<SplitName, SplitSummary>;
  /** Always predicting the most common training label: its accuracy on each split. */
  baseline: { label: string; accuracy: Partial<Record<SplitName, number>> };
  /** Over all examples; present when a token counter was given. */
  tokens?: TokenSummary;
  warnings: string[];
}

export interface SummaryOptions {
  /** Tokens of one text, [CLS] and [SEP] included. */
  countTokens?: (text: string) => number;
  maxLength?: number;
}

export function summarizeDataset(ds: Dataset, options: SummaryOptions = {}): DatasetSummary {
  const splits = Object.fromEntries(SPLITS.map((s) => [s, splitSummary(ds, s)])) as Record<SplitName, SplitSummary>;
  return {
    path: ds.source.path,
    format: ds.source.format,
    files: ds.source.files,
    columns: { text: ds.textColumn, label: ds.labelColumn, guessed: ds.guessed, found: ds.columns },
    rows: { read: ds.report.rowsRead, kept: ds.report.rowsKept, dropped: ds.report.dropped },
    duplicates: ds.report.duplicates,
    id2label: ds.id2label,
    userSplits: ds.report.userSplits,
    splitRule: ds.report.splitRule,
    splits,
    baseline: majorityBaseline(ds, splits),
    tokens: options.countTokens ? tokenSummary(ds, options.countTokens, options.maxLength) : undefined,
    warnings: ds.report.warnings,
  };
}

function splitSummary(ds: Dataset, split: SplitName): SplitSummary {
  const counts = new Array<number>(ds.id2label.length).fill(0);
  for (const example of ds.splits[split]) counts[example.label]++;
  return { examples: ds.splits[split].length, labels: Object.fromEntries(ds.id2label.map((l, i) => [l, counts[i]])) };
}

function majorityBaseline(ds: Dataset, splits: Record<SplitName, SplitSummary>): DatasetSummary['baseline'] {
  const train = splits.train.labels;
  const label = ds.id2label.reduce((best, l) => (train[l] > train[best] ? l : best), ds.id2label[0]);
  const accuracy: Partial<Record<SplitName, number>> = {};
  for (const s of SPLITS) if (splits[s].examples > 0) accuracy[s] = splits[s].labels[label] / splits[s].examples;
  return { label, accuracy };
}

function tokenSummary(ds: Dataset, countTokens: (text: string) => number, maxLength?: number): TokenSummary {
  const lengths = SPLITS.flatMap((s) => ds.splits[s].map((e) => countTokens(e.text)));
  const sorted = Float64Array.from(lengths).sort();
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
  const summary: TokenSummary = { median: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1] ?? 0 };
  if (maxLength === undefined) return summary;
  const truncated = lengths.filter((n) => n > maxLength).length;
  return { ...summary, maxLength, truncated, truncatedShare: truncated / Math.max(1, lengths.length) };
}

// ---- for people -----------------------------------------------------------------------------

/** The summary as a few aligned lines for a terminal. */
export function formatSummary(s: DatasetSummary, cwd = process.cwd()): string {
  const show = (p: string) => {
    const rel = relative(cwd, p);
    return rel.startsWith('..') || isAbsolute(rel) ? p : rel || '.';
  };
  const files = s.files.length === 1 ? show(s.files[0].path) : `${s.files.length} ${s.format === 'folder' ? 'folders' : 'files'}`;
  const guessed = (g: boolean) => (g ? ' (guessed)' : '');
  const lines = [
    `Dataset     ${show(s.path)} (${s.format}${s.files.length > 1 ? `, ${files}` : ''})`,
    `Columns     text "${s.columns.text}"${guessed(s.columns.guessed.text)}, label "${s.columns.label}"${guessed(s.columns.guessed.label)}; found ${s.columns.found.join(', ')}`,
    `Rows        ${n(s.rows.read)} read, ${n(s.rows.kept)} kept${droppedText(s)}`,
    `Duplicates  ${duplicatesText(s.duplicates)}`,
    `Splits      ${s.splitRule}`,
    '',
    ...splitTable(s),
    '',
    `Baseline    always "${s.baseline.label}": ${SPLITS.filter((x) => s.baseline.accuracy[x] !== undefined).map((x) => `${x} ${pct(s.baseline.accuracy[x]!)}`).join(', ')}`,
  ];
  if (s.tokens) lines.push(`Tokens      ${tokensText(s.tokens)}`);
  for (const conflict of s.duplicates.conflictSamples) {
    lines.push(`  conflict: "${conflict.text}" labelled ${conflict.labels.join(' / ')} at ${conflict.where.slice(0, 3).map(show).join(', ')}`);
  }
  for (const warning of s.warnings) lines.push(`Warning     ${warning}`);
  return lines.join('\n');
}

function droppedText(s: DatasetSummary): string {
  const reasons = Object.entries(s.rows.dropped);
  const removedAsDuplicates = s.duplicates.removed + s.duplicates.conflictRowsDropped;
  const parts = reasons.map(([reason, count]) => `${n(count)} ${reason}`);
  if (removedAsDuplicates > 0) parts.push(`${n(removedAsDuplicates)} duplicates`);
  return parts.length ? `; dropped ${parts.join(', ')}` : '';
}

function duplicatesText(d: DuplicateReport): string {
  if (d.removed === 0 && d.conflicts === 0) return 'none';
  const parts = [`${n(d.removed)} extra copies removed (${n(d.acrossSplits)} across splits; each text is in one split only)`];
  if (d.conflicts > 0) parts.push(`${n(d.conflicts)} texts with conflicting labels (${n(d.conflictRowsDropped)} rows dropped)`);
  return parts.join('; ');
}

function splitTable(s: DatasetSummary): string[] {
  const header = ['split', 'examples', ...s.id2label];
  const rows = SPLITS.map((split) => [split, n(s.splits[split].examples), ...s.id2label.map((l) => n(s.splits[split].labels[l]))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), ...rows.map(line)];
}

function tokensText(t: TokenSummary): string {
  const base = `median ${t.median}, p90 ${t.p90}, max ${t.max}`;
  if (t.maxLength === undefined) return base;
  return `${base}; max length ${t.maxLength} cuts ${pct(t.truncatedShare ?? 0)} (${n(t.truncated ?? 0)} examples)`;
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
