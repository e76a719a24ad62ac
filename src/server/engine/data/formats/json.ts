/**
 * A JSON array of objects, streamed: a small scanner finds where each top-level object starts and
 * ends (so every row knows its line), and each object is parsed on its own.
 */
import { UserError } from '../../errors';
import { readTextChunks } from '../text';
import type { RawRow } from '../types';
import { describeJsonError, isObject, jsonErrorOffset, jsonKind } from './jsonl';

const JSON_FIX = 'Make the file one JSON array of objects: [{"text": "great film", "label": "positive"}, …].';

type Phase = 'start' | 'element' | 'afterElement' | 'object' | 'end';

export async function* readJsonRows(file: string): AsyncGenerator<RawRow> {
  const scanner = new ArrayScanner(file);
  for await (const chunk of readTextChunks(file)) {
    for (const row of scanner.push(chunk)) yield row;
  }
  scanner.finish();
}

class ArrayScanner {
  private phase: Phase = 'start';
  private line = 1;
  private rows = 0;
  private afterComma = false;
  // the object being scanned
  private depth = 0;
  private inString = false;
  private escaped = false;
  private objectText = '';
  private objectLine = 0;

  constructor(private readonly file: string) {}

  push(chunk: string): RawRow[] {
    const rows: RawRow[] = [];
    let objectStart = this.phase === 'object' ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 0x0a) this.line++;
      if (this.phase === 'object') {
        if (!this.scanObjectChar(c)) continue;
        this.objectText += chunk.slice(objectStart, i + 1);
        rows.push(this.completeObject());
        objectStart = -1;
      } else if (c === 0x7b /* { */ && this.phase === 'element') {
        [this.phase, this.depth, this.objectLine, this.objectText] = ['object', 1, this.line, ''];
        objectStart = i;
      } else {
        this.structuralChar(c);
      }
    }
    if (this.phase === 'object') this.objectText += chunk.slice(objectStart);
    return rows;
  }

  /** Tracks strings and nesting; true when the character closes the top-level object. */
  private scanObjectChar(c: number): boolean {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (c === 0x5c /* \ */) this.escaped = true;
      else if (c === 0x22 /* " */) this.inString = false;
      return false;
    }
    if (c === 0x22) this.inString = true;
    else if (c === 0x7b || c === 0x5b) this.depth++;
    else if (c === 0x7d || c === 0x5d) this.depth--;
    return this.depth === 0;
  }

  /** A character between the array's elements. */
  private structuralChar(c: number): void {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) return;
    const ch = String.fromCharCode(c);
    if (this.phase === 'start' && ch === '[') this.phase = 'element';
    else if (this.phase === 'element' && ch === ']' && !this.afterComma) this.phase = 'end';
    else if (this.phase === 'afterElement' && ch === ',') [this.phase, this.afterComma] = ['element', true];
    else if (this.phase === 'afterElement' && ch === ']') this.phase = 'end';
    else throw this.error(this.unexpected(ch));
  }

  private unexpected(ch: string): string {
    switch (this.phase) {
      case 'start':
        return `The file starts with "${ch}", not "[": a JSON dataset is an array of objects.`;
      case 'element':
        return ch === ']'
          ? `Line ${this.line} has a comma before "]" (JSON allows no trailing comma).`
          : `Element ${this.rows + 1} of the array (line ${this.line}) is not an object: it starts with "${ch}".`;
      case 'afterElement':
        return `Line ${this.line}: expected "," or "]" after element ${this.rows}, found "${ch}".`;
      default:
        return `Line ${this.line} has "${ch}" after the end of the array.`;
    }
  }

  private completeObject(): RawRow {
    const text = this.objectText;
    [this.phase, this.afterComma, this.objectText] = ['afterElement', false, ''];
    this.rows++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const line = this.objectLine + countNewlines(text.slice(0, jsonErrorOffset(text)));
      throw this.error(`Element ${this.rows} of the array (line ${line}) is not valid JSON: ${describeJsonError(e)}.`, line);
    }
    if (!isObject(value)) throw this.error(`Element ${this.rows} is ${jsonKind(value)}, not an object.`, this.objectLine);
    return { values: value, file: this.file, line: this.objectLine };
  }

  finish(): void {
    if (this.phase === 'start') {
      throw new UserError({ kind: 'empty-file', file: this.file, message: 'The file is empty.', fix: JSON_FIX });
    }
    if (this.phase !== 'end') {
      const where = this.phase === 'object' ? `inside element ${this.rows + 1} (which starts on line ${this.objectLine})` : 'before the array is closed';
      throw this.error(`The file ends ${where}.`, this.phase === 'object' ? this.objectLine : this.line);
    }
    if (this.rows === 0) {
      throw new UserError({ kind: 'empty-file', file: this.file, line: 1, message: 'The array is empty.', fix: JSON_FIX });
    }
  }

  private error(message: string, line = this.line): UserError {
    return new UserError({ kind: 'bad-json', file: this.file, line, message, fix: JSON_FIX });
  }
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
