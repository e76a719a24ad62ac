/**
 * A new BERT to pre-train from scratch: a shape of one's choosing, random weights (Hugging Face's
 * initialisation) and the base model's WordPiece vocabulary, optionally compacted to the pieces the
 * corpus uses.
 *
 * Compacting keeps the special tokens, every single character (alone and as `##c`, so that any text
 * still tokenizes without [UNK]) and the corpus's most frequent pieces, in the original order. Greedy
 * longest-match-first WordPiece then splits every word whose pieces were kept exactly as the full
 * vocabulary does; a rarer word falls to shorter pieces. The vocabulary is most of a small model's
 * size (30,522 × hidden floats), so this is what lets a model with a wider hidden size ship in a few MB.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bertConfigToJson } from '../model-config';
import { randomBert, type BertShape } from '../random-bert';
import { tokenizerJsonFromVocab, type Tokenizer } from '../tokenizer';
import { saveModelFolder } from '../train/save';
import { Tokenizer as TokenizerClass } from '../tokenizer';
import { UserError } from '../errors';

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** The tokens to keep, in the base vocabulary's order: at most `size`, special tokens and single characters first. */
export function compactVocabulary(tokenizer: Tokenizer, texts: string[], size: number): string[] {
  const vocab = tokenizer.vocabulary();
  const required = new Set(vocab.filter((t) => SPECIAL.includes(t) || [...t.replace(/^##/, '')].length === 1));
  if (required.size >= size) {
    throw new UserError({ kind: 'bad-argument', message: `--vocab-size ${size} cannot hold the ${required.size} special tokens and single characters.`, fix: `Use a vocabulary size above ${required.size}.` });
  }
  const counts = new Map<string, number>();
  for (const text of texts) for (const piece of tokenizer.tokenize(text)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  const frequent = [...counts].filter(([piece]) => !required.has(piece)).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const keep = new Set([...required, ...frequent.slice(0, size - required.size).map(([piece]) => piece)]);
  return vocab.filter((t) => keep.has(t));
}

/**
 * Writes a model folder with random weights of `shape` and the given vocabulary (or the base
 * tokenizer's whole one) into a fresh temporary folder, and returns it: the start of a pre-training run.
 */
export async function newModelFolder(base: Tokenizer, shape: Omit<BertShape, 'vocab'>, vocabulary: string[] | undefined, seed: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bert-workbench-new-model-'));
  const tokens = vocabulary ?? base.vocabulary();
  const vocabText = `${tokens.join('\n')}\n`;
  const tokenizerConfig = { do_lower_case: true, model_max_length: shape.maxPositions ?? 512, tokenizer_class: 'BertTokenizer' };
  writeFileSync(join(dir, 'vocab.txt'), vocabText);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJsonFromVocab(vocabText, tokenizerConfig)));
  const model = randomBert({ ...shape, vocab: tokens.length }, seed);
  model.config.padTokenId = tokens.indexOf('[PAD]');
  try {
    await saveModelFolder(dir, { model, tokenizer: TokenizerClass.load(dir), baseConfig: bertConfigToJson(model.config) });
  } finally {
    for (const p of model.params.values()) p.dispose();
  }
  return dir;
}

/** `layers=2,hidden=128,heads=2,intermediate=512[,positions=512]` → a shape. */
export function parseShape(text: string): Omit<BertShape, 'vocab'> {
  const fields = Object.fromEntries(text.split(',').map((kv) => kv.split('=').map((s) => s.trim())));
  const int = (key: string, fallback?: number) => {
    const n = fields[key] === undefined ? fallback : Number(fields[key]);
    if (n === undefined || !Number.isInteger(n) || n < 1) {
      throw new UserError({ kind: 'bad-argument', message: `--shape needs ${key}=<whole number>, in "${text}".`, fix: 'Give --shape layers=2,hidden=128,heads=2,intermediate=512.' });
    }
    return n;
  };
  const shape = { layers: int('layers'), hidden: int('hidden'), heads: int('heads'), intermediate: int('intermediate'), maxPositions: int('positions', 512) };
  if (shape.hidden % shape.heads !== 0) throw new UserError({ kind: 'bad-argument', message: `--shape: hidden ${shape.hidden} is not a multiple of heads ${shape.heads}.`, fix: 'Choose heads that divide hidden.' });
  return shape;
}
