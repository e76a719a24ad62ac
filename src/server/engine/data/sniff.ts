/**
 * What a file is before it is parsed: its format, its CSV delimiter, and whether it is text at all
 * (binary files and legacy encodings are refused here, with the line of the first bad byte).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { UserError } from '../errors';
import type { DatasetFormat } from './types';

export const HEAD_BYTES = 64 * 1024;
const BINARY_PROBE_BYTES = 8 * 1024;
const RESAVE_UTF8 = 'Re-save the file as UTF-8 (in most editors: Save As… → Encoding: UTF-8).';

export interface SniffedFormat {
  format: DatasetFormat;
  /** For CSV and TSV. */
  delimiter?: string;
}

/** The first bytes of a file (fewer if the file is shorter). */
export async function readHead(file: string, bytes = HEAD_BYTES): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The format a data file's extension names, or undefined for other files. */
export function formatFromName(file: string): DatasetFormat | undefined {
  switch (extname(file).toLowerCase()) {
    case '.csv':
      return 'csv';
    case '.tsv':
    case '.tab':
      return 'tsv';
    case '.jsonl':
    case '.ndjson':
      return 'jsonl';
    case '.json':
      return 'json';
    case '.parquet':
    case '.pq':
      return 'parquet';
    default:
      return undefined;
  }
}

/** Format and delimiter from the extension, corrected by the content where the two disagree. */
export function sniffFormat(file: string, head: Buffer, delimiter?: string): SniffedFormat {
  if (head.subarray(0, 4).toString('latin1') === 'PAR1') return { format: 'parquet' };
  const byName = formatFromName(file);
  if (byName === 'parquet') return { format: 'parquet' };
  assertText(file, head);
  const text = new TextDecoder().decode(head).replace(/^\uFEFF/, '');
  const firstChar = text.trimStart()[0];
  if (byName === 'jsonl') return { format: 'jsonl' };
  // A .json file holding one object per line (as `datasets.to_json` writes) is JSON Lines.
  if (byName === 'json') return { format: firstChar === '[' ? 'json' : 'jsonl' };
  if (byName === undefined && firstChar === '[') return { format: 'json' };
  if (byName === undefined && firstChar === '{') return { format: 'jsonl' };
  // A .txt file (or one without a data extension) whose lines no delimiter divides alike has no columns.
  if (byName === undefined && delimiter === undefined && logicalLines(text).length > 0 && findDelimiter(text) === undefined) {
    throw plainTextError(file);
  }
  const chosen = delimiter ?? sniffDelimiter(text, byName === 'tsv' ? '\t' : ',');
  return { format: chosen === '\t' ? 'tsv' : 'csv', delimiter: chosen };
}

function plainTextError(file: string): UserError {
  return new UserError({
    kind: 'no-dataset',
    file,
    message: 'The file is plain text with no columns (no comma, tab, semicolon or | divides its lines into the same fields): this is not a labelled dataset.',
    fix:
      'A dataset gives each example a text and a label: a CSV with a header such as "text,label", JSON Lines such as {"text": "…", "label": "…"}, ' +
      'or a folder of .txt files per label (pos/, neg/). To classify these lines use predict --file; to pre-train on them, pretrain --data.',
  });
}

/** What a text file was expected to hold, for the error that refuses a binary one. */
export interface TextExpectation {
  /** "a text dataset": the file is binary, not that. */
  what: string;
  /** What to give instead. */
  fix: string;
}

export const DATASET_TEXT: TextExpectation = {
  what: 'a text dataset',
  fix: 'Point --data at a CSV, TSV, JSON Lines, JSON or Parquet file, or a folder of .txt files.',
};

/**
 * Refuses files that are not UTF-8 text, judging by their first bytes: archives, spreadsheets,
 * UTF-16 and anything with NUL bytes.
 */
export function assertText(file: string, head: Buffer, expected: TextExpectation = DATASET_TEXT): void {
  const probe = head.subarray(0, BINARY_PROBE_BYTES);
  const utf16 = guessUtf16(probe);
  if (utf16) {
    throw new UserError({
      kind: 'bad-encoding',
      file,
      line: 1,
      message: `The file is not UTF-8: it looks like ${utf16}.`,
      fix: RESAVE_UTF8,
    });
  }
  const magic = binaryMagic(probe);
  if (magic || probe.includes(0)) {
    throw new UserError({
      kind: 'binary-file',
      file,
      message: `The file is binary${magic ? ` (${magic.what})` : ''}, not ${expected.what}.`,
      fix: magic?.fix ?? expected.fix,
    });
  }
}

function guessUtf16(probe: Buffer): string | undefined {
  if (probe[0] === 0xff && probe[1] === 0xfe) return 'UTF-16 LE (it starts with that byte-order mark)';
  if (probe[0] === 0xfe && probe[1] === 0xff) return 'UTF-16 BE (it starts with that byte-order mark)';
  if (probe.length < 8) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i + 1 < probe.length; i += 2) {
    if (probe[i] === 0) evenZeros++;
    if (probe[i + 1] === 0) oddZeros++;
  }
  const pairs = Math.floor(probe.length / 2);
  if (oddZeros > pairs * 0.3 && evenZeros < pairs * 0.05) return 'UTF-16 LE (every other byte is zero)';
  if (evenZeros > pairs * 0.3 && oddZeros < pairs * 0.05) return 'UTF-16 BE (every other byte is zero)';
  return undefined;
}

function binaryMagic(probe: Buffer): { what: string; fix?: string } | undefined {
  const hex = probe.subarray(0, 4).toString('hex');
  if (hex === '504b0304') {
    return {
      what: 'a ZIP archive, e.g. an Excel .xlsx workbook',
      fix: 'Export the sheet as "CSV UTF-8", or unzip the archive and use the data inside.',
    };
  }
  if (hex.startsWith('1f8b')) return { what: 'gzip-compressed', fix: 'Decompress it first (gunzip).' };
  if (hex === '25504446') return { what: 'a PDF document' };
  if (hex === 'd0cf11e0') {
    return { what: 'an old Excel .xls workbook', fix: 'Export the sheet as "CSV UTF-8".' };
  }
  return undefined;
}

/**
 * The delimiter that splits the first lines into the same number of fields, preferring `preferred`
 * (the extension's) when several do.
 */
export function sniffDelimiter(sample: string, preferred: string): string {
  return findDelimiter(sample, preferred) ?? preferred;
}

/** The delimiter that splits the first lines into the same number of fields (two or more), if one does. */
export function findDelimiter(sample: string, preferred = ','): string | undefined {
  const lines = logicalLines(sample).slice(0, 50);
  if (lines.length === 0) return undefined;
  const scores = [',', '\t', ';', '|'].map((delimiter) => ({ delimiter, ...consistency(lines, delimiter) }));
  const consistent = scores.filter((s) => s.fields > 1 && s.share >= 0.9);
  if (consistent.length === 0) return undefined;
  const best = Math.max(...consistent.map((s) => s.share));
  const top = consistent.filter((s) => s.share === best);
  return (top.find((s) => s.delimiter === preferred) ?? top[0]).delimiter;
}

/** How many fields most lines have with this delimiter, and the share of lines that have that many. */
function consistency(lines: string[], delimiter: string): { fields: number; share: number } {
  const counts = new Map<number, number>();
  for (const line of lines) {
    const fields = countFields(line, delimiter);
    counts.set(fields, (counts.get(fields) ?? 0) + 1);
  }
  let fields = 1;
  let most = 0;
  for (const [n, seen] of counts) {
    if (seen > most || (seen === most && n > fields)) [fields, most] = [n, seen];
  }
  return { fields, share: most / lines.length };
}

function countFields(line: string, delimiter: string): number {
  let fields = 1;
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === delimiter && !quoted) fields++;
  }
  return fields;
}

/** Non-blank lines of a sample, not splitting inside quotes; the last, maybe cut, line is left out. */
function logicalLines(sample: string): string[] {
  const lines: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < sample.length; i++) {
    const ch = sample[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === '\n' && !quoted) {
      const line = sample.slice(start, i).replace(/\r$/, '');
      if (line.trim()) lines.push(line);
      start = i + 1;
    }
  }
  const rest = sample.slice(start);
  if (lines.length === 0 && rest.trim()) lines.push(rest);
  return lines;
}

/**
 * The error for a file that failed UTF-8 decoding: finds the first bad byte (streaming the file
 * again, as this is the error path), its line, and the legacy encoding it most likely is.
 */
export async function encodingError(file: string): Promise<UserError> {
  const found = await findInvalidUtf8(file);
  const guess = found ? guessLegacyEncoding(found.byte) : 'a legacy 8-bit encoding';
  return new UserError({
    kind: 'bad-encoding',
    file,
    line: found?.line,
    message: `The file is not valid UTF-8${found ? ` (byte 0x${found.byte.toString(16).toUpperCase()} on line ${found.line})` : ''}; it looks like ${guess}.`,
    fix: RESAVE_UTF8,
  });
}

function guessLegacyEncoding(byte: number): string {
  // 0x80–0x9F are printable only in Windows-1252 (curly quotes, dashes, ellipsis); Latin-1 has controls there.
  if (byte >= 0x80 && byte <= 0x9f) return 'Windows-1252 (Western European)';
  return 'Windows-1252 or ISO-8859-1 (Latin-1)';
}

/** The first byte that breaks UTF-8 (for a broken sequence, its lead byte) and its 1-based line. */
export async function findInvalidUtf8(file: string): Promise<{ line: number; byte: number } | undefined> {
  let line = 1;
  let lead = 0;
  let expect = 0; // continuation bytes still expected after `lead`
  let lo = 0x80;
  let hi = 0xbf;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (expect > 0) {
        if (b < lo || b > hi) return { line, byte: lead };
        [expect, lo, hi] = [expect - 1, 0x80, 0xbf];
        continue;
      }
      if (b === 0x0a) line++;
      if (b < 0x80) continue;
      const range = utf8Lead(b);
      if (!range) return { line, byte: b };
      [lead, expect, lo, hi] = [b, ...range];
    }
  }
  return expect > 0 ? { line, byte: lead } : undefined;
}

/** For a lead byte: how many continuation bytes follow and the range of the first one. */
function utf8Lead(b: number): [number, number, number] | undefined {
  if (b >= 0xc2 && b <= 0xdf) return [1, 0x80, 0xbf];
  if (b === 0xe0) return [2, 0xa0, 0xbf];
  if (b === 0xed) return [2, 0x80, 0x9f];
  if (b >= 0xe1 && b <= 0xef) return [2, 0x80, 0xbf];
  if (b === 0xf0) return [3, 0x90, 0xbf];
  if (b >= 0xf1 && b <= 0xf3) return [3, 0x80, 0xbf];
  if (b === 0xf4) return [3, 0x80, 0x8f];
  return undefined;
}
