/**
 * From WordPiece pieces back to words: a piece starting with `##` continues the word before it, and
 * a word's score is the sum of its pieces' (attributions add up, so the sum keeps completeness).
 * Each word is found again in the text it came from, in order and ignoring case, so that it is shown
 * as written (capitals kept) with its offsets; where the tokenizer changed it beyond case (accents
 * stripped), the pieces' own spelling is shown and no offsets are given.
 */
export interface WordScore {
  /** As written in the text (or as the tokenizer spelled it, when it cannot be found). */
  word: string;
  /** Attribution toward the explained class: > 0 pushed toward it, < 0 away from it. */
  score: number;
  /** Offsets in the text the model saw (after the model's cleaning), end exclusive. */
  start?: number;
  end?: number;
}

export function mergeWordPieces(pieces: string[], scores: number[], text: string): WordScore[] {
  const words: { spelling: string; score: number }[] = [];
  pieces.forEach((piece, i) => {
    const last = words[words.length - 1];
    if (piece.startsWith('##') && last) {
      last.spelling += piece.slice(2);
      last.score += scores[i];
    } else {
      words.push({ spelling: piece, score: scores[i] });
    }
  });
  const lower = text.toLowerCase();
  const sameOffsets = lower.length === text.length; // lower-casing lengthens a few letters (İ)
  let cursor = 0;
  return words.map(({ spelling, score }) => {
    const at = sameOffsets && spelling !== '[UNK]' ? lower.indexOf(spelling.toLowerCase(), cursor) : -1;
    if (at < 0) return { word: spelling, score };
    cursor = at + spelling.length;
    return { word: text.slice(at, cursor), score, start: at, end: cursor };
  });
}
