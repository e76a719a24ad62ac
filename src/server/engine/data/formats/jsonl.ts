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
      message: `Line ${line} is not valid JSON: ${describeJsonError(e)}.`,
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

/** V8's JSON.parse message without the "in JSON at position N" that means nothing to the user. */
export function describeJsonError(e: unknown, withPosition = true): string {
  const message = e instanceof Error ? e.message : String(e);
  const position = jsonErrorPosition(e);
  const what = message.replace(/\s*in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)$/, '');
  return position === undefined || !withPosition ? what : `${what} at character ${position + 1}`;
}

export function jsonErrorPosition(e: unknown): number | undefined {
  const match = /at position (\d+)/.exec(e instanceof Error ? e.message : '');
  return match ? Number(match[1]) : undefined;
}
