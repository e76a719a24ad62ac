/**
 * The text a masked-LM run reads: plain text files (one text per non-empty line) or labelled
 * datasets (the text of every split; the labels are never read into the run). Texts are cleaned as
 * for fine-tuning and de-duplicated.
 */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { UserError } from '../errors';
import { DEFAULT_CLEAN, cleanText, loadDataset, type DatasetOptions } from '../data';

const PLAIN_TEXT = new Set(['.txt', '.text', '.md']);

export async function readPretrainingTexts(paths: string[], options: DatasetOptions = {}): Promise<string[]> {
  if (paths.length === 0) throw new UserError({ kind: 'bad-argument', message: 'No text to pre-train on was given.', fix: 'Give --data with text files (one text per line) or a dataset.' });
  const texts = new Set<string>();
  for (const path of paths) {
    for (const text of await readOne(path, options)) if (text.length > 0) texts.add(text);
  }
  if (texts.size === 0) {
    throw new UserError({ kind: 'empty-file', message: `${paths.join(', ')} holds no text.`, file: paths[0], fix: 'Give files with at least one non-empty line of text.' });
  }
  return [...texts];
}

async function readOne(path: string, options: DatasetOptions): Promise<string[]> {
  const clean = { ...DEFAULT_CLEAN, ...options.clean };
  if (isPlainTextFile(path)) return readFileSync(path, 'utf8').split(/\r?\n/).map((line) => cleanText(line, clean));
  const dataset = await loadDataset(path, options);
  return Object.values(dataset.splits).flatMap((rows) => rows.map((row) => row.text));
}

function isPlainTextFile(path: string): boolean {
  try {
    return statSync(path).isFile() && PLAIN_TEXT.has(extname(path).toLowerCase());
  } catch {
    throw new UserError({ kind: 'missing-file', message: `${path} does not exist.`, file: path, fix: 'Give existing text files or a dataset.' });
  }
}
