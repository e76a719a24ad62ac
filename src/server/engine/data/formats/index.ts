/** One way to read rows from any source, whatever its format. */
import type { Source } from '../layout';
import type { RawRow } from '../types';
import { readCsvRows, type RepeatedColumn } from './csv';
import { readLabelFolderRows } from './folder';
import { readJsonRows } from './json';
import { readJsonlRows } from './jsonl';
import { readParquetRows } from './parquet';

export type { RepeatedColumn };

export interface ReadOptions {
  /** Whether a CSV's first row is a header (default: guessed). */
  header?: boolean;
  /** The longest CSV/TSV row, in bytes (default 8 MiB). */
  maxRowBytes?: number;
  warn?: (message: string) => void;
  /** Told of each name a CSV/TSV header gives more than one column. */
  repeated?: (column: RepeatedColumn) => void;
}

export function openRows(source: Source, options: ReadOptions = {}): AsyncGenerator<RawRow> {
  if (source.kind === 'labels') return readLabelFolderRows(source.folders);
  switch (source.format) {
    case 'csv':
    case 'tsv':
      return readCsvRows(source.path, {
        delimiter: source.delimiter ?? ',',
        header: options.header,
        maxRowBytes: options.maxRowBytes,
        warn: options.warn ?? (() => {}),
        repeated: options.repeated,
      });
    case 'jsonl':
      return readJsonlRows(source.path);
    case 'json':
      return readJsonRows(source.path);
    case 'parquet':
      return readParquetRows(source.path);
    default:
      throw new Error(`no reader for ${source.format}`);
  }
}
