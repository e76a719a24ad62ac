/** Streams a file as UTF-8 text, refusing binary and non-UTF-8 files with the line of the first bad byte. */
import { createReadStream } from 'node:fs';
import { assertText, encodingError, type TextExpectation } from './sniff';

const CHUNK_BYTES = 1 << 20;

/**
 * The file's text in chunks, BOM removed. Throws a UserError for binary or non-UTF-8 content
 * (`expected` says what the file should have been: a dataset unless told).
 */
export async function* readTextChunks(file: string, expected?: TextExpectation): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true }); // drops a leading BOM
  let first = true;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    if (first) assertText(file, chunk, expected);
    first = false;
    const text = await decode(file, () => decoder.decode(chunk, { stream: true }));
    if (text) yield text;
  }
  const rest = await decode(file, () => decoder.decode());
  if (rest) yield rest;
}

async function decode(file: string, run: () => string): Promise<string> {
  try {
    return run();
  } catch (e) {
    if (e instanceof TypeError) throw await encodingError(file);
    throw e;
  }
}

/** The file's lines with their 1-based numbers (`\n` or `\r\n` endings), blank lines included. */
export async function* readLines(file: string, expected?: TextExpectation): AsyncGenerator<{ text: string; line: number }> {
  let line = 0;
  let carry = '';
  for await (const chunk of readTextChunks(file, expected)) {
    const parts = (carry + chunk).split('\n');
    carry = parts.pop() ?? '';
    for (const part of parts) yield { text: stripCr(part), line: ++line };
  }
  if (carry) yield { text: stripCr(carry), line: ++line };
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
