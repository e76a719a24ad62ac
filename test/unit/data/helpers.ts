/** Shared by the data tests: fixture paths, temp folders, and writing examples in every format. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { Dataset, SplitName } from '../../../src/server/engine/data';
import { writeParquet } from './parquet-writer';

export const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'datasets');
export const BROKEN = join(FIXTURES, 'broken');
export const SPLIT_NAMES: SplitName[] = ['train', 'validation', 'test'];

export interface Row {
  text: string;
  label: string;
}

/** A fresh temp folder, removed when the test file ends. */
export function tempDir(prefix = 'bw-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function write(file: string, content: string | Buffer): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

/** The rows of a `text,label` fixture CSV, parsed independently of the module under test. */
export function readFixtureCsv(file: string): Row[] {
  return parse(readFileSync(file, 'utf8'), { columns: true }) as Row[];
}

/** Each split's examples as sorted "label<TAB>text" lines: equal when two datasets hold the same examples. */
export function examplesBySplit(ds: Dataset): Record<SplitName, string[]> {
  const lines = (split: SplitName) => ds.splits[split].map((e) => `${ds.id2label[e.label]}\t${e.text}`).sort();
  return { train: lines('train'), validation: lines('validation'), test: lines('test') };
}

function csvField(value: string, delimiter: string): string {
  return value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toDelimited(rows: Row[], delimiter: string, options: { header?: boolean; eol?: string; bom?: boolean } = {}): string {
  const eol = options.eol ?? '\n';
  const lines = rows.map((r) => `${csvField(r.text, delimiter)}${delimiter}${csvField(r.label, delimiter)}`);
  if (options.header !== false) lines.unshift(`text${delimiter}label`);
  return (options.bom ? '\uFEFF' : '') + lines.join(eol) + eol;
}

export type SplitRows = Record<SplitName, Row[]>;

/** Writes the three splits in one of the supported layouts under `dir`; returns what to pass as --data. */
export function writeAs(format: string, dir: string, splits: SplitRows): string {
  const each = (fn: (split: SplitName, rows: Row[]) => void) => SPLIT_NAMES.forEach((s) => fn(s, splits[s]));
  switch (format) {
    case 'tsv':
      each((s, rows) => write(join(dir, `${s}.tsv`), toDelimited(rows, '\t')));
      return dir;
    case 'csv-crlf-bom-semicolon':
      each((s, rows) => write(join(dir, `${s}.csv`), toDelimited(rows, ';', { eol: '\r\n', bom: true })));
      return dir;
    case 'jsonl':
      each((s, rows) => write(join(dir, `${s}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));
      return dir;
    case 'json':
      each((s, rows) => write(join(dir, `${s}.json`), JSON.stringify(rows, null, 2)));
      return dir;
    case 'parquet':
      each((s, rows) =>
        writeParquet(join(dir, `${s}.parquet`), [
          { name: 'text', type: 'string', values: rows.map((r) => r.text) },
          { name: 'label', type: 'string', values: rows.map((r) => r.label) },
        ], 64),
      );
      return dir;
    case 'split-folders':
      each((s, rows) => rows.forEach((r, i) => write(join(dir, s, r.label, `${String(i).padStart(5, '0')}.txt`), r.text)));
      return dir;
    case 'split-column': {
      const all = SPLIT_NAMES.flatMap((s) => splits[s].map((r) => ({ ...r, split: s })));
      const lines = all.map((r) => `${csvField(r.split, ',')},${csvField(r.text, ',')},${csvField(r.label, ',')}`);
      write(join(dir, 'all.csv'), ['split,text,label', ...lines].join('\n') + '\n');
      return join(dir, 'all.csv');
    }
    case 'split-dirs-jsonl':
      each((s, rows) => write(join(dir, s, 'data.jsonl'), rows.map((r) => JSON.stringify({ review: r.text, sentiment: r.label })).join('\n')));
      return dir;
    default:
      throw new Error(`unknown format ${format}`);
  }
}
