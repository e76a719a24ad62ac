/** JSON Lines: one JSON object per line; blank lines are skipped. */
import { UserError } from '../../errors';
import { readLines } from '../text';
import type { RawRow } from '../types';

const JSONL_FIX = 'Make every line one complete JSON object, e.g. {"text": "great film", "label": "positive"}.';

export async function* readJsonlRows(file: string): AsyncGenerator<RawRow> {
  let rows = 0;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    const values = parseObject(text, file, line);
    rows++;
    yield { values, file, line };
  }
  if (rows === 0) {
    throw new UserError({ kind: 'empty-file', file, message: 'The file is empty.', fix: JSONL_FIX });
  }
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
