/**
 * Text cleaning, on by default, each step switchable. The steps run in the order a browser would
 * show the text: tags removed first, then entities decoded (so `&lt;3` stays the text "<3").
 */
import { decodeHTMLStrict } from 'entities';
import type { CleanOptions } from './types';

export const DEFAULT_CLEAN: CleanOptions = {
  html: true,
  entities: true,
  controlChars: true,
  whitespace: true,
  dropEmpty: true,
};

// A tag needs a letter (or `/`, `!`) right after `<`, so "a < b" and "<3" are left alone.
const HTML_TAG = /<!--[\s\S]*?-->|<\/?[a-zA-Z][^<>]*>/g;
// C0 and C1 controls except tab/newline/carriage return, plus zero-width characters and stray BOMs.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200D\u2060\uFEFF]/g;
const WHITESPACE = /\s+/g;

export function cleanText(text: string, steps: CleanOptions): string {
  let out = text;
  if (steps.html && out.includes('<')) out = out.replace(HTML_TAG, ' ');
  // Strict decoding needs the `;`, so "AT&T" and "&notice" are not touched.
  if (steps.entities && out.includes('&')) out = decodeHTMLStrict(out);
  if (steps.controlChars) out = out.replace(CONTROL, '');
  if (steps.whitespace) out = out.replace(WHITESPACE, ' ').trim();
  return out;
}
