/**
 * Which column is the text and which the label: the user's choice, else a known name, else the
 * content (the label has few distinct short values, the text is the longest string column).
 */
import { UserError } from '../errors';

// Most likely first; names are compared lower-cased without spaces, `_` or `-`.
const TEXT_NAMES = [
  'text', 'sentence', 'review', 'reviewtext', 'content', 'document', 'body', 'comment', 'tweet',
  'utterance', 'message', 'passage', 'texta', 'sentence1', 'description', 'abstract', 'question',
  'query', 'input', 'title',
];
const LABEL_NAMES = [
  'label', 'labels', 'sentiment', 'target', 'class', 'category', 'polarity', 'rating', 'stars',
  'labelid', 'goldlabel', 'intent', 'emotion', 'topic', 'score', 'y', 'output',
];
const SPLIT_NAMES = ['split'];
const ID_NAMES = ['id', 'idx', 'index', 'uid', 'guid'];

export interface ColumnChoice {
  text: string;
  label: string;
  /** A column saying which split each row belongs to, if there is one. */
  split?: string;
  guessed: { text: boolean; label: boolean };
}

export interface ColumnRequest {
  text?: string;
  label?: string;
  file: string;
  /** The line of the header (or first row), for errors. */
  line?: number;
}

export function chooseColumns(columns: string[], sample: Record<string, unknown>[], request: ColumnRequest): ColumnChoice {
  const split = columns.find((c) => SPLIT_NAMES.includes(key(c)));
  const text = request.text !== undefined ? findColumn(columns, request.text, 'text', request) : undefined;
  const label = request.label !== undefined ? findColumn(columns, request.label, 'label', request) : undefined;
  const others = (taken: (string | undefined)[]) => columns.filter((c) => c !== split && !taken.includes(c));
  const labelColumn = label ?? byName(others([text]), LABEL_NAMES) ?? labelByContent(others([text]), sample);
  if (!labelColumn) throw notFound('label', columns, request);
  const textColumn = text ?? byName(others([labelColumn]), TEXT_NAMES) ?? textByContent(others([labelColumn]), sample);
  if (!textColumn) throw notFound('text', columns, request);
  return { text: textColumn, label: labelColumn, split, guessed: { text: text === undefined, label: label === undefined } };
}

function key(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

/** The column the user named: exactly, else ignoring case. */
function findColumn(columns: string[], wanted: string, role: 'text' | 'label', request: ColumnRequest): string {
  const found = columns.find((c) => c === wanted) ?? columns.find((c) => c.toLowerCase() === wanted.toLowerCase());
  if (found) return found;
  throw new UserError({
    kind: 'missing-column',
    file: request.file,
    line: request.line,
    message: `There is no ${role} column "${wanted}". Columns found: ${list(columns)}.`,
    fix: `Pass one of those with --${role}-column.`,
  });
}

function byName(columns: string[], names: string[]): string | undefined {
  for (const name of names) {
    const found = columns.find((c) => key(c) === name);
    if (found) return found;
  }
  return undefined;
}

interface Stats {
  column: string;
  distinct: number;
  filled: number;
  meanLength: number;
}

function stats(column: string, sample: Record<string, unknown>[]): Stats {
  const values = sample.map((row) => row[column]).filter((v) => v !== null && v !== undefined && String(v).trim() !== '');
  const strings = values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
  const meanLength = strings.reduce((sum, s) => sum + s.length, 0) / Math.max(1, strings.length);
  return { column, distinct: new Set(strings).size, filled: strings.length, meanLength };
}

/** A column with at least two but few distinct, short values. Fewest distinct values wins. */
function labelByContent(columns: string[], sample: Record<string, unknown>[]): string | undefined {
  const candidates = columns
    .filter((c) => !ID_NAMES.includes(key(c)))
    .map((c) => stats(c, sample))
    .filter((s) => s.distinct >= 2 && s.distinct <= Math.max(2, Math.min(100, s.filled / 2)) && s.meanLength <= 40);
  candidates.sort((a, b) => a.distinct - b.distinct);
  return candidates[0]?.column;
}

/** The column with the longest values on average. */
function textByContent(columns: string[], sample: Record<string, unknown>[]): string | undefined {
  const candidates = columns
    .filter((c) => !ID_NAMES.includes(key(c)))
    .map((c) => stats(c, sample))
    .filter((s) => s.filled > 0);
  candidates.sort((a, b) => b.meanLength - a.meanLength);
  return candidates[0]?.column;
}

function notFound(role: 'text' | 'label', columns: string[], request: ColumnRequest): UserError {
  const hint = role === 'text' ? 'e.g. "text" or "sentence"' : 'e.g. "label" or "sentiment"';
  return new UserError({
    kind: 'missing-column',
    file: request.file,
    line: request.line,
    message: `No ${role} column found. Columns found: ${list(columns)}.`,
    fix: `Name it with --${role}-column, or rename the column (${hint}).`,
  });
}

function list(columns: string[]): string {
  return columns.length ? columns.map((c) => `"${c}"`).join(', ') : '(none)';
}
