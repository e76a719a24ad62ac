/**
 * Text the user gave (a prediction's text, a column name, a label, a file name) as the CLI shows it
 * again. On a terminal, control characters and bidi controls are printed as visible escapes, so a
 * text cannot move the cursor, recolour the terminal or reorder the line it is shown on; with
 * --json the exact text is kept, and the JSON line is made just as safe to show.
 */

/**
 * C0 controls, DEL, C1 controls; the bidi marks (U+200E/F, U+061C), embeddings and overrides
 * (U+202A–E) and isolates (U+2066–9); the line and paragraph separators (U+2028/9).
 */
const TERMINAL_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw among those: it escapes only U+0000–U+001F. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const hex = (ch: string) => ch.charCodeAt(0).toString(16).padStart(4, '0');

/** `a\tb` → `a\\tb`, ESC → `\\u001B`, U+202E → `\\u202E`; any other character is kept. */
export function escapeForTerminal(text: string): string {
  return text.replace(TERMINAL_UNSAFE, (ch) => NAMED[ch] ?? `\\u${hex(ch).toUpperCase()}`);
}

/** Several lines of output: each line escaped, the line breaks between them kept. */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeForTerminal).join('\n');
}

/**
 * One JSON line: JSON.stringify, with DEL, C1 and the bidi controls escaped too (they can only
 * occur inside strings, where `\uXXXX` is the same character to a JSON reader).
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(JSON_UNSAFE, (ch) => `\\u${hex(ch)}`);
}
