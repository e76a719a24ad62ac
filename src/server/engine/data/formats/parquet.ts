/** Parquet through hyparquet (pure JS), one row group at a time. Rows are numbered from 1. */
import * as zlib from 'node:zlib';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, Compressors, FileMetaData } from 'hyparquet';
import { UserError } from '../../errors';
import type { RawRow } from '../types';

const RESAVE_FIX =
  "Re-save it with snappy or gzip compression (pandas: df.to_parquet(path, compression='snappy')), or as CSV or JSON Lines.";

/** Snappy is built into hyparquet; these come from Node's zlib. */
const COMPRESSORS: Compressors = {
  GZIP: (input) => new Uint8Array(zlib.gunzipSync(input)),
  BROTLI: (input) => new Uint8Array(zlib.brotliDecompressSync(input)),
  ...zstd(),
};

function zstd(): Compressors {
  const decompress = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
  return decompress ? { ZSTD: (input) => new Uint8Array(decompress(input)) } : {};
}

export async function* readParquetRows(file: string): AsyncGenerator<RawRow> {
  const buffer = await asyncBufferFromFile(file);
  const metadata = await readMetadata(file, buffer);
  if (Number(metadata.num_rows) === 0) {
    throw new UserError({ kind: 'empty-file', file, message: 'The Parquet file has no rows.', fix: 'Write the examples into it, one row each.' });
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await readRows(file, () =>
      parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd, compressors: COMPRESSORS }),
    );
    for (let i = 0; i < rows.length; i++) yield { values: rows[i], file, line: rowStart + i + 1 };
    rowStart = rowEnd;
  }
}

/** The column names and row count of a Parquet file, from its footer. */
export async function parquetColumns(file: string): Promise<{ columns: string[]; rows: number }> {
  const { schema, num_rows } = await readMetadata(file, await asyncBufferFromFile(file));
  const columns: string[] = [];
  for (let i = 1; i < schema.length; i += subtreeSize(schema, i)) columns.push(schema[i].name);
  return { columns, rows: Number(num_rows) };
}

/** How many schema elements the field at `i` spans, its nested children included. */
function subtreeSize(schema: FileMetaData['schema'], i: number): number {
  let size = 1;
  for (let child = 0; child < (schema[i].num_children ?? 0); child++) size += subtreeSize(schema, i + size);
  return size;
}

async function readMetadata(file: string, buffer: AsyncBuffer): Promise<FileMetaData> {
  try {
    return await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new UserError({
      kind: 'bad-encoding',
      file,
      message: `The file is not a readable Parquet file (${(e as Error).message}).`,
      fix: 'Check that the file was written completely, or export the data as CSV or JSON Lines.',
    });
  }
}

async function readRows(file: string, read: () => Promise<Record<string, unknown>[]>): Promise<Record<string, unknown>[]> {
  try {
    return await read();
  } catch (e) {
    const message = (e as Error).message;
    throw new UserError({
      kind: 'bad-encoding',
      file,
      message: `The Parquet file cannot be read: ${message}.`,
      fix: /compression|codec/i.test(message) ? RESAVE_FIX : 'Export the data as CSV or JSON Lines.',
    });
  }
}
