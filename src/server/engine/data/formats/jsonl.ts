/**
 * JSON Lines: one JSON object per line; blank lines are skipped. A .json file that is not an array
 * comes here too, so one that holds a single object (on one line or spread over many) is refused
 * as such rather than read as one example.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { UserError } from '../../errors';
import { formatFromName } from '../sniff';
import { readLines, readTextChunks } from '../text';
import type { RawRow } from '../types';
import { joinWords } from '../words';

const JSONL_FIX = 'Make every line one complete JSON object, e.g. {"text": "great film", "label": "positive"}.';
/** A file that may be one object spread over lines is parsed whole to say what it holds, up to this size. */
const MAX_WHOLE_PARSE_BYTES = 32 << 20;

export async function* readJsonlRows(file: string): AsyncGenerator<RawRow> {
  let rows = 0;
  let first: RawRow | undefined;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    if (rows === 0 && text.trim() === '{') throw await spreadObjectError(file, line, () => parseObject(text, file, line));
    const values = parseObject(text, file, line);
    rows++;
    first ??= { values, file, line };
    yield { values, file, line };
  }
  if (rows === 0) {
    throw new UserError({ kind: 'empty-file', file, message: 'The file is empty.', fix: JSONL_FIX });
  }
  // One example is no dataset; in a .json file it is one object where a list was meant.
  if (rows === 1 && formatFromName(file) !== 'jsonl') throw oneObjectError(file, first!.line, first!.values);
}

/** Line `line` is a lone "{": the file is one object over many lines (said so when it parses), else `lineError`'s error. */
async function spreadObjectError(file: string, line: number, lineError: () => unknown): Promise<unknown> {
  const { size } = await stat(file);
  if (size > MAX_WHOLE_PARSE_BYTES) return oneObjectError(file, line);
  let text = '';
  for await (const chunk of readTextChunks(file)) text += chunk;
  try {
    const value: unknown = JSON.parse(text);
    if (isObject(value)) return oneObjectError(file, line, value);
  } catch {
    // not one object after all (several pretty-printed ones, or broken): the line's own error says where
  }
  try {
    lineError();
  } catch (e) {
    return e;
  }
  return oneObjectError(file, line);
}

/**
 * The file is one JSON object, not rows. When one of its keys holds the rows (`{"data": [{…}, …]}`)
 * or its keys hold columns (`{"text": […], "label": […]}`), the error says so and how to convert.
 */
function oneObjectError(file: string, line: number, value?: Record<string, unknown>): UserError {
  const expected = 'A dataset is an array of objects ([{"text": "great film", "label": "pos"}, …]) or JSON Lines (one such object per line)';
  const entries = Object.entries(value ?? {});
  const rowLists = entries.filter(([, v]) => Array.isArray(v) && v.length > 0 && v.every(isObject)) as [string, unknown[]][];
  const columns = entries.length > 1 && entries.every(([, v]) => Array.isArray(v) && v.length === (entries[0][1] as unknown[]).length);
  let detail = '';
  let how = '.';
  if (rowLists.length > 0) {
    const [key, rows] = rowLists[0];
    detail = rowLists.length === 1
      ? `; its key "${key}" holds a list of ${rows.length} objects`
      : `; its keys ${joinWords(rowLists.map(([k, v]) => `"${k}" (${v.length} objects)`))} hold lists of objects`;
    how = `: make a file of the list under "${key}" alone, e.g. jq '.${key}' ${basename(file)} > ${key}.json.`;
  } else if (columns) {
    detail = `; its keys ${joinWords(entries.map(([k]) => `"${k}"`))} each hold a list of ${(entries[0][1] as unknown[]).length} values (columns, not rows)`;
    how = `: turn the columns into rows, e.g. in Python pandas.read_json("${basename(file)}").to_json("rows.jsonl", orient="records", lines=True).`;
  }
  return new UserError({
    kind: 'bad-json',
    file,
    line,
    message: `The file holds one JSON object, not a list of examples${detail}.`,
    fix: expected + how,
  });
}

function parseObject(text: string, file: string, line: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError({
      kind: 'bad-json',
      file,
      line,
      message: `Line ${line} is not valid JSON at character ${jsonErrorOffset(text) + 1}: ${describeJsonError(e)}.`,
      fix: JSONL_FIX,
    });
  }
  if (!isObject(value)) {
    throw new UserError({
      kind: 'bad-json',
      file,
      line,
      message: `Line ${line} holds ${jsonKind(value)}, not an object.`,
      fix: JSONL_FIX,
    });
  }
  return value;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/** V8's JSON.parse message without the parts that mean nothing to the user (position, echoed text). */
export function describeJsonError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/, (?:\.\.\.)?".*is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
}

/**
 * The 0-based offset of the character where JSON.parse fails on `text`. V8 does not always say, so
 * it is found by parsing prefixes: a prefix before the error only runs out early.
 */
export function jsonErrorOffset(text: string): number {
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsInside(text.slice(0, mid))) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

function failsInside(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return false;
  } catch (e) {
    const message = (e as Error).message;
    if (/Unexpected end of JSON input/.test(message)) return false;
    const position = /at position (\d+)/.exec(message);
    return !position || Number(position[1]) < prefix.length;
  }
}
