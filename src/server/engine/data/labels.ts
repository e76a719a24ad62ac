/**
 * Label values as class names, and the stable id2label order: numeric order when every name is a
 * number (0/1, star ratings), else sorted names, unless the caller gives the order.
 */
import { UserError } from '../errors';
import { countOf, joinWords } from './words';

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

/**
 * How each number or boolean class name was written in the file. `labelName` reads "1", "1.0" and
 * "01" as the class 1 (and "True" as true); when one file spells a class more than one way, the
 * user is told which spellings were merged and how many rows each had.
 */
export class LabelSpellings {
  private readonly byName = new Map<string, Map<string, number>>();

  /** Counts the spelling of `raw`, read as the class `name`. Only number and boolean names are tracked. */
  note(raw: unknown, name: string): void {
    if (!/^-?\d+$/.test(name) && name !== 'true' && name !== 'false') return;
    const value = Array.isArray(raw) ? raw[0] : raw;
    const spelling = typeof value === 'string' ? value.trim() : String(value);
    let counts = this.byName.get(name);
    if (!counts) this.byName.set(name, (counts = new Map()));
    counts.set(spelling, (counts.get(spelling) ?? 0) + 1);
  }

  /** One note per class written more than one way. */
  merges(): string[] {
    const notes: string[] = [];
    for (const [name, counts] of this.byName) {
      if (counts.size < 2) continue;
      // the class's own spelling first, then the most used
      const spellings = [...counts].sort(([a, m], [b, n]) => Number(b === name) - Number(a === name) || n - m);
      const total = spellings.reduce((sum, [, n]) => sum + n, 0);
      notes.push(
        `the labels ${joinWords(spellings.map(([s, n]) => `"${s}" (${countOf(n, 'row')})`))} are read as one class, "${name}" (${countOf(total, 'row')}); ` +
          'if they mean different classes, give them different names.',
      );
    }
    return notes;
  }
}

/** A note when the class names mix kinds: numbers, booleans and names ("0", "1", "positive"). */
export function labelKinds(names: Iterable<string>): string[] {
  const kinds: Record<'numbers' | 'booleans' | 'names', string[]> = { numbers: [], booleans: [], names: [] };
  for (const name of new Set(names)) {
    if (name.trim() !== '' && Number.isFinite(Number(name))) kinds.numbers.push(name);
    else if (name === 'true' || name === 'false') kinds.booleans.push(name);
    else kinds.names.push(`"${name}"`);
  }
  const present = Object.entries(kinds).filter(([, values]) => values.length > 0);
  if (present.length < 2) return [];
  const total = present.reduce((sum, [, values]) => sum + values.length, 0);
  const listed = present.map(([kind, values]) => `${kind} (${values.slice(0, 5).join(', ')}${values.length > 5 ? ', …' : ''})`);
  return [
    `the labels mix ${joinWords(listed)}: each value is a class of its own (${total} classes); ` +
      'check the label column for stray values, and that it is the right column (--label-column).',
  ];
}
