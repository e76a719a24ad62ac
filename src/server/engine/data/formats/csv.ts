/**
 * CSV and TSV, streamed through csv-parse: RFC 4180 quoting (embedded delimiters, newlines and
 * doubled quotes), BOM, CRLF or LF. Every row carries the line it starts on.
 */
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { UserError } from '../../errors';
import { readTextChunks } from '../text';
import type { RawRow } from '../types';
import { take } from '../take';

/** Rows read before deciding whether the first one is a header. */
const HEADER_SAMPLE = 50;
/** A longer record is taken for a runaway quote rather than buffered on (characters). */
const MAX_RECORD_CHARS = 8 << 20;
const QUOTE_FIX = 'Close the quote, or double every quote inside a quoted field ("").';

export interface CsvOptions {
  delimiter: string;
  /** Whether the first row is a header (default: guessed from the rows after it). */
  header?: boolean;
  warn: (message: string) => void;
}

interface CsvRecord {
  fields: string[];
  /** 1-based line the record starts on. */
  line: number;
}

export async function* readCsvRows(file: string, options: CsvOptions): AsyncGenerator<RawRow> {
  const records = csvRecords(file, options.delimiter, options.warn)[Symbol.asyncIterator]();
  const head = await take(records, HEADER_SAMPLE + 1);
  if (head.length === 0) {
    throw new UserError({ kind: 'empty-file', file, message: 'The file is empty.', fix: 'Add a header line and one row per example.' });
  }
  const hasHeader = options.header ?? looksLikeHeader(head[0].fields, head.slice(1).map((r) => r.fields));
  const columns = hasHeader ? columnNames(head[0].fields) : head[0].fields.map((_, i) => `column_${i + 1}`);
  const body = hasHeader ? head.slice(1) : head;
  if (body.length === 0) {
    throw new UserError({
      kind: 'empty-file',
      file,
      line: head[0].line,
      message: 'The file has a header but no rows.',
      fix: 'Add one row per example below the header.',
    });
  }
  const shape = { file, columns, delimiter: options.delimiter, headerLine: hasHeader ? head[0].line : undefined };
  try {
    for (const record of body) yield toRow(record, shape);
    for (let next = await records.next(); !next.done; next = await records.next()) yield toRow(next.value, shape);
  } finally {
    await records.return?.(undefined);
  }
}

interface Shape {
  file: string;
  columns: string[];
  delimiter: string;
  headerLine?: number;
}

function toRow({ fields, line }: CsvRecord, shape: Shape): RawRow {
  const { columns } = shape;
  if (fields.length < columns.length || fields.slice(columns.length).some((f) => f.trim() !== '')) {
    throw fieldCountError(fields.length, line, shape);
  }
  const values: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) values[columns[i]] = fields[i];
  return { values, file: shape.file, line };
}

function fieldCountError(found: number, line: number, { file, columns, delimiter, headerLine }: Shape): UserError {
  const name = delimiterName(delimiter);
  const against = headerLine ? `the header (line ${headerLine})` : 'the first row';
  return new UserError({
    kind: 'field-count',
    file,
    line,
    message: `Line ${line} has ${found} field${found === 1 ? '' : 's'} but ${against} has ${columns.length} (${name}-separated).`,
    fix: `Put double quotes around fields that contain a ${name}, or make the line's ${name}s match the header.`,
  });
}

function delimiterName(delimiter: string): string {
  return { ',': 'comma', '\t': 'tab', ';': 'semicolon', '|': 'pipe' }[delimiter] ?? `"${delimiter}"`;
}

/**
 * Records, strictly parsed. A quote inside an unquoted field (`he said "hi",pos`) is common in
 * hand-made files, so on the first one the file is read again with lenient quotes, from where the
 * strict parse stopped.
 */
async function* csvRecords(file: string, delimiter: string, warn: (m: string) => void): AsyncGenerator<CsvRecord> {
  let yielded = 0;
  try {
    for await (const record of parseCsv(file, delimiter, false)) {
      yielded++;
      yield record;
    }
  } catch (e) {
    if (!(e instanceof BareQuote)) throw e;
    warn(`${file}:${e.line}: a quote inside an unquoted field was kept as part of the text (from there on, quotes are read leniently).`);
    let skip = yielded;
    for await (const record of parseCsv(file, delimiter, true)) {
      if (skip-- > 0) continue;
      yield record;
    }
  }
}

class BareQuote extends Error {
  constructor(readonly line: number) {
    super('quote inside an unquoted field');
  }
}

async function* parseCsv(file: string, delimiter: string, relaxQuotes: boolean): AsyncGenerator<CsvRecord> {
  // Lines are counted here: csv-parse counts a CRLF inside a quoted field as two lines.
  let nextLine = 1;
  const source = Readable.from(readTextChunks(file));
  const parser = parse({
    delimiter,
    relax_quotes: relaxQuotes,
    relax_column_count: true, // counted here, to name the header in the message
    skip_empty_lines: false, // kept so that each record starts right after the previous one ends
    max_record_size: MAX_RECORD_CHARS,
    on_record: (fields: string[]): CsvRecord => {
      const line = nextLine;
      nextLine += 1 + fields.reduce((n, field) => n + lineBreaks(field), 0);
      return { fields, line };
    },
  });
  source.once('error', (e) => parser.destroy(e));
  source.pipe(parser);
  try {
    for await (const record of parser as AsyncIterable<CsvRecord>) {
      if (record.fields.length === 1 && record.fields[0].trim() === '') continue; // a blank line
      yield record;
    }
  } catch (e) {
    throw csvError(file, e, nextLine);
  } finally {
    source.destroy();
    parser.destroy();
  }
}

/** Line breaks in a field as an editor counts them: CRLF, LF or a lone CR each once. */
function lineBreaks(field: string): number {
  if (field.indexOf('\n') === -1 && field.indexOf('\r') === -1) return 0;
  let n = 0;
  for (let i = 0; i < field.length; i++) {
    const c = field.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && field.charCodeAt(i + 1) !== 0x0a)) n++;
  }
  return n;
}

/** Turns a csv-parse error about the record starting on `start` into a UserError. */
function csvError(file: string, e: unknown, start: number): unknown {
  const code = (e as { code?: string }).code;
  const at = (e as { lines?: number }).lines ?? start;
  switch (code) {
    case 'INVALID_OPENING_QUOTE':
      return new BareQuote(at);
    case 'CSV_QUOTE_NOT_CLOSED':
      return quoteError(file, start, `The quoted field that starts on line ${start} is never closed: the file ends inside it.`);
    case 'CSV_INVALID_CLOSING_QUOTE':
      return quoteError(
        file,
        start,
        at === start
          ? `Line ${start} has a quote inside a quoted field that is not doubled.`
          : `The quote opened on line ${start} is not closed on that line; it runs on to line ${at}.`,
      );
    case 'CSV_MAX_RECORD_SIZE':
      return quoteError(file, start, `The row starting on line ${start} runs on for more than ${MAX_RECORD_CHARS >> 20} MB: a quote is probably never closed.`);
    default:
      return e;
  }
}

function quoteError(file: string, line: number, message: string): UserError {
  return new UserError({ kind: 'unclosed-quote', file, line, message, fix: QUOTE_FIX });
}

/**
 * The first row is data, not a header, when one of its cells looks like the values under it:
 * a number above numbers, or one of a column's few repeated values (a label).
 */
export function looksLikeHeader(first: string[], rest: string[][]): boolean {
  if (rest.length === 0) return true;
  return first.every((raw, c) => {
    const cell = raw.trim();
    const column = rest.map((r) => (r[c] ?? '').trim()).filter((v) => v !== '');
    if (cell.length > 100) return false;
    if (column.length === 0) return true;
    if (isNumber(cell) && column.every(isNumber)) return false;
    const distinct = new Set(column).size;
    return !(column.includes(cell) && distinct <= Math.max(2, column.length / 2));
  });
}

function isNumber(s: string): boolean {
  return s !== '' && Number.isFinite(Number(s));
}

/** Header cells as column names: trimmed, blanks named by position, repeats numbered. */
export function columnNames(header: string[]): string[] {
  const seen = new Map<string, number>();
  return header.map((raw, i) => {
    const name = raw.trim() || `column_${i + 1}`;
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}_${count}`;
  });
}
