/**
 * Cutting a document into the pieces the model reads — lines, sentences or paragraphs — each with
 * the range of the document it covers. Pure string work with no `vscode` import, so the unit tests
 * run it as it is.
 *
 * In Markdown, front matter, fenced and indented code blocks, HTML comments, horizontal rules and
 * table rules are skipped; block markers (`#`, `>`, `-`, `1.`, `[x]`) are not part of what the model
 * reads; a heading is a block of its own and every list item starts one.
 */

export type Granularity = 'line' | 'sentence' | 'paragraph';
export const GRANULARITIES: readonly Granularity[] = ['line', 'sentence', 'paragraph'];

export interface SegmentOptions {
  granularity: Granularity;
  /** Pieces whose text is shorter than this many characters are skipped. */
  minLength: number;
  /** Read the text as Markdown (skip code, strip block markers). */
  markdown: boolean;
}

/** Zero-based, like `vscode.Position`. */
export interface TextPosition {
  line: number;
  character: number;
}

export interface Segment {
  /** What the model reads: the piece's words, its lines joined by single spaces. */
  text: string;
  /** The first character of the text. */
  start: TextPosition;
  /** Just after the last character of the text. */
  end: TextPosition;
}

/** Splits `lines` (a document's lines, without line breaks) into segments, in document order. */
export function splitIntoSegments(lines: readonly string[], options: SegmentOptions): Segment[] {
  const blocks = proseBlocks(lines, options.markdown);
  const segments: Segment[] = [];
  for (const block of blocks) {
    if (options.granularity === 'line') {
      for (const piece of block) {
        const text = lines[piece.line].slice(piece.start, piece.end);
        if (text.length >= options.minLength) {
          segments.push({ text, start: { line: piece.line, character: piece.start }, end: { line: piece.line, character: piece.end } });
        }
      }
      continue;
    }
    const joined = joinBlock(lines, block);
    const spans = options.granularity === 'sentence' ? sentenceSpans(joined.text) : [[0, joined.text.length] as const];
    for (const [from, to] of spans) {
      const text = joined.text.slice(from, to);
      if (text.length >= options.minLength) {
        segments.push({ text, start: joined.position(from, false), end: joined.position(to, true) });
      }
    }
  }
  return segments;
}

// ---- prose: which part of which line is text, grouped into blocks --------------------------------

/** The text part of one line: `[start, end)` after block markers and surrounding whitespace. */
interface Piece {
  line: number;
  start: number;
  end: number;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HORIZONTAL_RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}=+[ \t]*$/;
const TABLE_RULE = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$/;
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*\S/;
const HEADING = /^ {0,3}#{1,6}(?:[ \t]+|$)/;
const HEADING_CLOSE = /(?:^|[ \t]+)#+[ \t]*$/;
const BLOCKQUOTE = /^[ \t]{0,3}>[ \t]?/;
const LIST_ITEM = /^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)/;
const TASK_BOX = /^\[[ xX]\][ \t]+/;
const INDENTED = /^(?: {4}|[ \t]{0,3}\t)/;

/** The document's prose, in blocks: runs of lines that belong together (paragraphs). */
function proseBlocks(lines: readonly string[], markdown: boolean): Piece[][] {
  const blocks: Piece[][] = [];
  let block: Piece[] = [];
  const close = () => {
    if (block.length > 0) blocks.push(block);
    block = [];
  };
  // Markdown state, carried from line to line.
  let fence: { marker: string; length: number } | undefined;
  let inFrontMatter = markdown && lines.length > 0 && lines[0].trim() === '---';
  let inComment = false;
  let previousBlank = true;
  let inIndentedCode = false;
  let inList = false;

  for (let line = 0; line < lines.length; line++) {
    const text = lines[line];
    const blank = text.trim() === '';
    if (!markdown) {
      if (blank) close();
      else block.push({ line, ...trimmedSpan(text, 0) });
      continue;
    }

    if (inFrontMatter) {
      if (line > 0 && /^(?:---|\.\.\.)[ \t]*$/.test(text)) inFrontMatter = false;
      close();
      continue;
    }
    if (fence) {
      const closing = new RegExp(`^ {0,3}${fence.marker === '`' ? '`' : '~'}{${fence.length},}[ \\t]*$`);
      if (closing.test(text)) fence = undefined;
      close();
      continue;
    }
    if (inComment) {
      if (text.includes('-->')) inComment = false;
      close();
      continue;
    }
    const opening = FENCE.exec(text);
    if (opening) {
      fence = { marker: opening[1][0], length: opening[1].length };
      close();
      continue;
    }
    if (blank) {
      close();
      previousBlank = true;
      continue;
    }
    const wasBlank = previousBlank;
    previousBlank = false;
    if (INDENTED.test(text) && (inIndentedCode || (wasBlank && !inList))) {
      inIndentedCode = true;
      close();
      continue;
    }
    inIndentedCode = false;
    if (/^[ \t]*<!--/.test(text)) {
      if (!text.includes('-->')) inComment = true;
      close();
      continue;
    }
    if (HORIZONTAL_RULE.test(text) || SETEXT_UNDERLINE.test(text) || TABLE_RULE.test(text) || LINK_DEFINITION.test(text)) {
      close();
      continue;
    }

    const heading = HEADING.exec(text);
    if (heading) {
      close();
      const closeMarker = HEADING_CLOSE.exec(text.slice(heading[0].length));
      const end = closeMarker ? heading[0].length + closeMarker.index : text.length;
      const span = trimmedSpan(text, heading[0].length, end);
      if (span.end > span.start) blocks.push([{ line, ...span }]);
      inList = false;
      continue;
    }

    // Blockquote markers, then a list marker (and a task box), may open the line.
    let offset = 0;
    for (let quote = BLOCKQUOTE.exec(text); quote; quote = BLOCKQUOTE.exec(text.slice(offset))) offset += quote[0].length;
    const item = LIST_ITEM.exec(text.slice(offset));
    if (item) {
      offset += item[0].length;
      const box = TASK_BOX.exec(text.slice(offset));
      if (box) offset += box[0].length;
      close();
      inList = true;
    } else if (wasBlank && !/^[ \t]/.test(text)) {
      inList = false;
    }
    const span = trimmedSpan(text, offset);
    if (span.end > span.start) block.push({ line, ...span });
    else close();
  }
  close();
  return blocks;
}

/** `[start, end)` of `text` between `from` and `to`, without the whitespace around it. */
function trimmedSpan(text: string, from: number, to = text.length): { start: number; end: number } {
  let start = from;
  let end = to;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return { start, end };
}

// ---- blocks as one text, and back to positions -------------------------------------------------

interface JoinedBlock {
  text: string;
  /** The document position of an offset into `text` (for an end, the position just after it). */
  position(offset: number, isEnd: boolean): TextPosition;
}

function joinBlock(lines: readonly string[], block: readonly Piece[]): JoinedBlock {
  const offsets: number[] = [];
  let text = '';
  for (const piece of block) {
    if (text) text += ' ';
    offsets.push(text.length);
    text += lines[piece.line].slice(piece.start, piece.end);
  }
  return {
    text,
    position(offset, isEnd) {
      const at = isEnd ? offset - 1 : offset;
      // The last piece that starts at or before `at` (binary search: a paragraph may have thousands).
      let k = 0;
      let high = offsets.length - 1;
      while (k < high) {
        const middle = (k + high + 1) >>> 1;
        if (offsets[middle] <= at) k = middle;
        else high = middle - 1;
      }
      const piece = block[k];
      const within = Math.min(Math.max(at - offsets[k], 0), piece.end - piece.start - 1);
      return { line: piece.line, character: piece.start + within + (isEnd ? 1 : 0) };
    },
  };
}

// ---- sentences -----------------------------------------------------------------------------

/** Words that end with a full stop without ending the sentence (lower case, without the stop). */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'vs', 'etc', 'cf', 'al', 'fig', 'no', 'nos',
  'approx', 'inc', 'ltd', 'co', 'corp', 'dept', 'est', 'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug',
  'sep', 'sept', 'oct', 'nov', 'dec', 'p', 'pp', 'vol', 'ch', 'sec', 'min', 'max',
]);

/** Terminal punctuation, then closing quotes and brackets that belong to the same sentence. */
const TERMINATOR = /([.!?…]+|[。！？]+)(["'”’»)\]]*)/g;

/**
 * `[from, to)` of each sentence of `text`, without surrounding whitespace. A sentence ends at `.`,
 * `!`, `?` or `…` followed by whitespace (an ellipsis only before a capital letter), or at `。！？`;
 * abbreviations (`Dr.`, `e.g.`), initials (`J. Smith`) and decimals (`3.5`) do not end one.
 */
export function sentenceSpans(text: string): Array<readonly [number, number]> {
  const spans: Array<readonly [number, number]> = [];
  let start = 0;
  const push = (from: number, to: number) => {
    const span = trimmedSpan(text, from, to);
    if (span.end > span.start) spans.push([span.start, span.end]);
  };
  for (const match of text.matchAll(TERMINATOR)) {
    const punctuation = match[1];
    const end = match.index + match[0].length;
    if (match.index < start) continue;
    if (!/^[。！？]/.test(punctuation)) {
      if (end < text.length && !/\s/.test(text[end])) continue;
      const ellipsis = punctuation.includes('…') || punctuation.includes('..');
      if (ellipsis) {
        let next = end;
        while (next < text.length && /\s/.test(text[next])) next++;
        if (next < text.length && !/\p{Lu}/u.test(text[next])) continue;
      }
      if (punctuation === '.' && isAbbreviation(text.slice(Math.max(start, match.index - 40), match.index))) continue;
    }
    push(start, end);
    start = end;
  }
  push(start, text.length);
  return spans;
}

/** Does the text before a full stop end in an abbreviation or an initial? */
function isAbbreviation(before: string): boolean {
  const word = /[\p{L}.]+$/u.exec(before)?.[0];
  if (!word) return false;
  if (/^\p{L}$/u.test(word)) return true; // an initial: "J. Smith"
  if (/^(?:\p{L}\.)+\p{L}$/u.test(word)) return true; // "e.g", "i.e", "U.S"
  return ABBREVIATIONS.has(word.toLowerCase());
}
