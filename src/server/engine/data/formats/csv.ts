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
/**
 * A row is held in memory whole while it is parsed, so a longer one is refused (bytes of UTF-8, the
 * fields' text without quotes and delimiters; csv-parse's max_record_size). Raised by maxRowBytes.
 */
export const DEFAULT_MAX_ROW_BYTES = 8 << 20;
const QUOTE_FIX = 'Close the quote, or double every quote inside a quoted field ("").';

export interface CsvOptions {
  delimiter: string;
  /** Whether the first row is a header (default: guessed from the rows after it). */
  header?: boolean;
  /** The longest row, in bytes (default DEFAULT_MAX_ROW_BYTES). */
  maxRowBytes?: number;
  warn: (message: string) => void;
  /** Told of each name the header gives more than one column (read as `name`, `name_2`…). */
  repeated?: (column: RepeatedColumn) => void;
}

/** A name the header gives more than one column. */
export interface RepeatedColumn {
  name: string;
  /** 1-based positions in the header. */
  positions: number[];
  /** The names the columns are read as, position by position: `text`, `text_2`. */
  columns: string[];
  /** The header's line. */
  line: number;
}

interface CsvRecord {
  fields: string[];
  /** 1-based line the record starts on. */
  line: number;
}

export async function* readCsvRows(file: string, options: CsvOptions): AsyncGenerator<RawRow> {
  const records = csvRecords(file, options)[Symbol.asyncIterator]();
  const head = await take(records, HEADER_SAMPLE + 1);
  if (head.length === 0) {
    throw new UserError({ kind: 'empty-file', file, message: 'The file is empty.', fix: 'Add a header line and one row per example.' });
  }
  const hasHeader = options.header ?? looksLikeHeader(head[0].fields, head.slice(1).map((r) => r.fields));
  const columns = hasHeader ? columnNames(head[0].fields) : head[0].fields.map((_, i) => `column_${i + 1}`);
  if (hasHeader) for (const repeated of repeatedColumns(head[0].fields, columns, head[0].line)) options.repeated?.(repeated);
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
async function* csvRecords(file: string, options: CsvOptions): AsyncGenerator<CsvRecord> {
  const { delimiter, warn } = options;
  const maxRowBytes = options.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  let yielded = 0;
  try {
    for await (const record of parseCsv(file, delimiter, maxRowBytes, false)) {
      yielded++;
      yield record;
    }
  } catch (e) {
    if (!(e instanceof BareQuote)) throw e;
    warn(`${file}:${e.line}: a quote inside an unquoted field was kept as part of the text (from there on, quotes are read leniently).`);
    let skip = yielded;
    for await (const record of parseCsv(file, delimiter, maxRowBytes, true)) {
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

async function* parseCsv(file: string, delimiter: string, maxRowBytes: number, relaxQuotes: boolean): AsyncGenerator<CsvRecord> {
  // Lines are counted here: csv-parse counts a CRLF inside a quoted field as two lines.
  let nextLine = 1;
  const source = Readable.from(readTextChunks(file));
  const parser = parse({
    delimiter,
    relax_quotes: relaxQuotes,
    relax_column_count: true, // counted here, to name the header in the message
    skip_empty_lines: false, // kept so that each record starts right after the previous one ends
    max_record_size: maxRowBytes,
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
    if ((e as { code?: string }).code === 'CSV_MAX_RECORD_SIZE') throw await longRowError(file, nextLine, delimiter, maxRowBytes);
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
    default:
      return e;
  }
}

function quoteError(file: string, line: number, message: string): UserError {
  return new UserError({ kind: 'unclosed-quote', file, line, message, fix: QUOTE_FIX });
}

/**
 * The row starting on `start` is over the limit: either it is really that long (a huge text, closed
 * properly) or a quote opened there is never closed. The row is scanned again without being held,
 * to tell which.
 */
async function longRowError(file: string, start: number, delimiter: string, limit: number): Promise<UserError> {
  const row = await scanRow(file, start, delimiter);
  if (row.unclosed === 'end of file') {
    return quoteError(file, start, `The quoted field that starts on line ${start} is never closed: the file ends inside it.`);
  }
  if (row.unclosed === 'stray quote') {
    const where = row.endLine === start ? 'on that line' : `on line ${row.endLine}`;
    return quoteError(
      file,
      start,
      `The quoted field that starts on line ${start} runs on past the ${size(limit)} row limit, to a quote followed by text ${where}: a quote is probably never closed, or not doubled.`,
    );
  }
  const lines = row.field.endLine > row.field.line ? `, lines ${row.field.line}–${row.field.endLine}` : '';
  const raised = Math.max(Math.ceil(row.bytes / 2 ** 20), Math.floor(limit / 2 ** 20) + 1);
  return new UserError({
    kind: 'too-large',
    file,
    line: start,
    message: `The row on line ${start} has a field of ${size(row.field.bytes, true)} (field ${row.field.index}${lines}), over the ${size(limit)} limit for one row.`,
    fix:
      `Shorten or split that text (a BERT model reads only its first 512 tokens, a few KB), ` +
      `or raise the limit to ${raised} MB (the setting bertWorkbench.train.maxRowMB in VS Code, --max-row-mb ${raised} on the command line).`,
  });
}

/** `8 MB`, `9.0 MB` (a measured size), `1 KB` (limits under a megabyte come only from the engine's option). */
function size(bytes: number, measured = false): string {
  if (bytes < 2 ** 20) return `${Math.ceil(bytes / 1024)} KB`;
  const mb = bytes / 2 ** 20;
  return measured || !Number.isInteger(mb) ? `${mb.toFixed(1)} MB` : `${mb} MB`;
}

interface ScannedRow {
  /** UTF-8 bytes of all the row's fields. */
  bytes: number;
  /** The longest field: its 1-based index, size and lines. */
  field: { index: number; bytes: number; line: number; endLine: number };
  /** The last line of the row (where the scan stopped). */
  endLine: number;
  /** Why the row does not end properly: the file ends inside a quote, or a quote is followed by text. */
  unclosed?: 'end of file' | 'stray quote';
}

/**
 * One row, read with RFC 4180 quoting from the start of line `start`, counting its bytes rather
 * than keeping them. Lines are counted as `lineBreaks` does; a quote after the start of an
 * unquoted field is text (as in the lenient pass).
 */
async function scanRow(file: string, start: number, delimiter: string): Promise<ScannedRow> {
  const delim = delimiter.charCodeAt(0);
  let line = 1;
  let prev = -1;
  let inRow = start === 1;
  let [fieldStart, quoted, quotePending] = [true, false, false];
  let [index, fieldBytes, fieldLine, rowBytes] = [1, 0, start, 0];
  const row: ScannedRow = { bytes: 0, field: { index: 1, bytes: 0, line: start, endLine: start }, endLine: start };
  const endField = () => {
    if (fieldBytes >= row.field.bytes) row.field = { index, bytes: fieldBytes, line: fieldLine, endLine: line };
    rowBytes += fieldBytes;
    [fieldStart, quoted, quotePending, fieldBytes, fieldLine] = [true, false, false, 0, line];
    index++;
  };
  const done = (unclosed?: ScannedRow['unclosed']): ScannedRow => {
    if (!unclosed) endField();
    return { ...row, bytes: rowBytes, endLine: line, unclosed };
  };
  for await (const chunk of readTextChunks(file)) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      const lineBreak = c === 0x0d || (c === 0x0a && prev !== 0x0d);
      const breakTail = c === 0x0a && prev === 0x0d;
      prev = c;
      if (!inRow) {
        if (lineBreak && ++line === start) inRow = true;
        continue;
      }
      if (breakTail && fieldStart && index === 1 && rowBytes === 0) continue; // the LF of the CRLF before the row
      if (quotePending) {
        if (c === 0x22) [quotePending, fieldBytes] = [false, fieldBytes + 1];
        else if (c === delim) endField();
        else if (lineBreak || breakTail) return done();
        else return done('stray quote');
      } else if (quoted) {
        if (c === 0x22) quotePending = true;
        else fieldBytes += utf8Bytes(c);
      } else if (c === 0x22 && fieldStart) {
        quoted = true;
      } else if (c === delim) {
        endField();
        continue;
      } else if (lineBreak || breakTail) {
        return done();
      } else {
        fieldBytes += utf8Bytes(c);
      }
      if (lineBreak) line++;
      if (c !== delim) fieldStart = false;
    }
  }
  return done(quoted && !quotePending ? 'end of file' : undefined);
}

/** UTF-8 bytes of one UTF-16 code unit (a surrogate half counts 2, a pair 4). */
function utf8Bytes(c: number): number {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
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

/** The header's names given to more than one column, with the positions and the names read. */
function repeatedColumns(header: string[], columns: string[], line: number): RepeatedColumn[] {
  const byName = new Map<string, number[]>();
  header.forEach((raw, i) => {
    const name = raw.trim();
    if (name !== '') byName.set(name, [...(byName.get(name) ?? []), i]);
  });
  return [...byName]
    .filter(([, at]) => at.length > 1)
    .map(([name, at]) => ({ name, positions: at.map((i) => i + 1), columns: at.map((i) => columns[i]), line }));
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
