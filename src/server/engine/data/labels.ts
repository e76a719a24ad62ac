/**
 * Label values as class names, and the stable id2label order: numeric order when every name is a
 * number (0/1, star ratings), else sorted names, unless the caller gives the order.
 */
import { UserError } from '../errors';

/** The class name of a raw label value, or null when the value is empty. Lists and objects are refused. */
export function labelName(value: unknown, where: { file: string; line: number }): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return stringLabel(value);
  if (Array.isArray(value) && value.length === 1) return labelName(value[0], where);
  throw notOneLabel(value, where);
}

function stringLabel(raw: string): string | null {
  const value = raw.trim();
  if (value === '') return null;
  if (/^(true|false)$/i.test(value)) return value.toLowerCase();
  // "1.0", "+1" and "01" are the class 1, as pandas would have written it
  if (/^[+-]?\d+(\.0+)?$/.test(value)) return String(Number(value));
  return value;
}

function notOneLabel(value: unknown, { file, line }: { file: string; line: number }): UserError {
  return new UserError({
    kind: 'unknown-label',
    file,
    line,
    message: `The label on line ${line} is ${Array.isArray(value) ? 'a list' : 'an object'} (${JSON.stringify(value)?.slice(0, 60)}); only one label per example is supported.`,
    fix: 'Give each example a single label (a string, number or boolean).',
  });
}

/** Class names in id order. */
export function buildId2label(names: Iterable<string>): string[] {
  const unique = [...new Set(names)];
  if (unique.every((n) => Number.isFinite(Number(n)))) return unique.sort((a, b) => Number(a) - Number(b));
  return unique.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Warnings for class names that differ only in case or spacing ("Positive" and "positive"). */
export function labelLookalikes(names: Iterable<string>): string[] {
  const byKey = new Map<string, string[]>();
  for (const name of new Set(names)) {
    const key = name.toLowerCase().replace(/[\s_-]+/g, ' ');
    byKey.set(key, [...(byKey.get(key) ?? []), name]);
  }
  return [...byKey.values()]
    .filter((group) => group.length > 1)
    .map((group) => `the labels ${group.map((n) => `"${n}"`).join(' and ')} differ only in case or spacing; they are kept as separate classes.`);
}
