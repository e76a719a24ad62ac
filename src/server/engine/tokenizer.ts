/**
 * BERT's WordPiece tokenizer, through Transformers.js, with Hugging Face's truncation.
 *
 * Transformers.js reproduces Hugging Face's ids exactly for untruncated text. Its truncation cuts
 * after the special tokens are added, which loses the final [SEP]; Hugging Face truncates the word
 * pieces first. So this module asks Transformers.js for the bare word pieces and adds [CLS]/[SEP]
 * itself.
 */
import { BertTokenizer } from '@huggingface/transformers';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from './errors';
import { parseJsonFile } from './model-config';

/** One encoded example, unpadded: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`. */
export interface Encoding {
  inputIds: number[];
  tokenTypeIds: number[];
}

/** A padded batch in the layout BERT takes, row-major [batchSize, seqLen]. */
export interface EncodedBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
}

/** The files of a model folder that make up its tokenizer. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

export class Tokenizer {
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;

  private constructor(
    private readonly wordPiece: BertTokenizer,
    /** The files it was built from. */
    readonly sourceFiles: string[],
    /**
     * The tokenizer files of its folder (tokenizer.json, vocab.txt, …) by name, read when it was
     * loaded: what a saved model gets, even when the folder has gone since (a pruned checkpoint).
     */
    readonly files: ReadonlyMap<string, Buffer>,
    /** The tokenizer's own length limit (tokenizer_config.json `model_max_length`), if it names one. */
    readonly modelMaxLength: number | undefined,
  ) {
    this.clsId = this.tokenId('[CLS]');
    this.sepId = this.tokenId('[SEP]');
    this.padId = this.tokenId('[PAD]');
  }

  /** Reads `tokenizer.json` (or, failing that, `vocab.txt`) and `tokenizer_config.json` from a model folder. */
  static load(modelDir: string): Tokenizer {
    const configFile = join(modelDir, 'tokenizer_config.json');
    const tokenizerConfig = existsSync(configFile) ? parseJsonFile(configFile) : {};
    const jsonFile = join(modelDir, 'tokenizer.json');
    const vocabFile = join(modelDir, 'vocab.txt');
    let tokenizerJson: Record<string, unknown>;
    let source: string;
    if (existsSync(jsonFile)) {
      tokenizerJson = parseJsonFile(jsonFile);
      source = jsonFile;
    } else if (existsSync(vocabFile)) {
      tokenizerJson = tokenizerJsonFromVocab(readFileSync(vocabFile, 'utf8'), tokenizerConfig);
      source = vocabFile;
    } else {
      throw new UserError({
        kind: 'missing-file',
        message: `The model folder ${modelDir} has neither tokenizer.json nor vocab.txt.`,
        file: modelDir,
        fix: 'Copy the tokenizer files of the base model into the folder.',
      });
    }
    const sourceFiles = [source, ...(existsSync(configFile) ? [configFile] : [])];
    const maxLength = tokenizerConfig.model_max_length;
    const modelMaxLength = typeof maxLength === 'number' && maxLength < 1e9 ? maxLength : undefined;
    const files = new Map(TOKENIZER_FILES.filter((name) => existsSync(join(modelDir, name))).map((name) => [name, readFileSync(join(modelDir, name))]));
    return new Tokenizer(new BertTokenizer(tokenizerJson, tokenizerConfig), sourceFiles, files, modelMaxLength);
  }

  /** The word pieces of a text, without special tokens. */
  tokenize(text: string): string[] {
    return this.wordPiece.tokenize(text);
  }

  /** Every token of the vocabulary, by id. */
  vocabulary(): string[] {
    const tokens: string[] = [];
    for (const [token, id] of this.wordPiece.model.tokens_to_ids) tokens[id] = token;
    return tokens;
  }

  /** Word piece ids of a text, without special tokens. */
  wordPieceIds(text: string): number[] {
    return this.wordPiece.encode(text, { add_special_tokens: false });
  }

  /** How many tokens the text takes, [CLS] and [SEP] included, untruncated. */
  countTokens(text: string): number {
    return this.wordPieceIds(text).length + 2;
  }

  /**
   * `[CLS] text [SEP]`, or `[CLS] text [SEP] pair [SEP]`, at most `maxLength` tokens. Truncation
   * removes word pieces from the end of the longer of the two texts, one at a time (Hugging Face's
   * `longest_first`), and always keeps the special tokens.
   */
  encode(text: string, pair?: string, maxLength?: number): Encoding {
    let a = this.wordPieceIds(text);
    let b = pair === undefined ? undefined : this.wordPieceIds(pair);
    if (maxLength !== undefined) [a, b] = truncateLongestFirst(a, b, maxLength - (b ? 3 : 2));
    const inputIds = [this.clsId, ...a, this.sepId, ...(b ? [...b, this.sepId] : [])];
    const tokenTypeIds = inputIds.map((_, i) => (i < a.length + 2 ? 0 : 1));
    return { inputIds, tokenTypeIds };
  }

  /** Pads encodings to the longest of them (or to `padTo`) and builds the attention mask. */
  pad(encodings: Encoding[], padTo?: number): EncodedBatch {
    const seqLen = padTo ?? Math.max(...encodings.map((e) => e.inputIds.length));
    const size = encodings.length * seqLen;
    const batch: EncodedBatch = {
      batchSize: encodings.length,
      seqLen,
      inputIds: new Int32Array(size).fill(this.padId),
      attentionMask: new Int32Array(size),
      tokenTypeIds: new Int32Array(size),
    };
    encodings.forEach((e, row) => {
      if (e.inputIds.length > seqLen) throw new Error(`encoding of length ${e.inputIds.length} does not fit ${seqLen}`);
      batch.inputIds.set(e.inputIds, row * seqLen);
      batch.attentionMask.fill(1, row * seqLen, row * seqLen + e.inputIds.length);
      batch.tokenTypeIds.set(e.tokenTypeIds, row * seqLen);
    });
    return batch;
  }

  /** Encodes and pads texts in one go. */
  encodeBatch(texts: string[], maxLength: number, padTo?: number): EncodedBatch {
    return this.pad(texts.map((t) => this.encode(t, undefined, maxLength)), padTo);
  }

  /** The id of a token of the vocabulary ([MASK], [CLS]…); an error naming the tokenizer file if it has none. */
  tokenId(token: string): number {
    const id = this.wordPiece.model.tokens_to_ids.get(token);
    if (id === undefined) {
      throw new UserError({
        kind: 'bad-config',
        message: `The tokenizer has no ${token} token.`,
        file: this.sourceFiles[0],
        fix: 'Use a BERT tokenizer (tokenizer.json or vocab.txt of a BERT model).',
      });
    }
    return id;
  }
}

/** Hugging Face's `longest_first`: drop one piece at a time from the longer text (the pair on ties). */
export function truncateLongestFirst(a: number[], b: number[] | undefined, budget: number): [number[], number[] | undefined] {
  let lenA = a.length;
  let lenB = b?.length ?? 0;
  while (lenA + lenB > Math.max(budget, 0)) {
    if (lenA > lenB) lenA--;
    else lenB--;
  }
  return [a.slice(0, lenA), b?.slice(0, lenB)];
}

/**
 * The `tokenizer.json` that Hugging Face's `BertTokenizerFast` builds from a `vocab.txt`, for model
 * folders that ship only the vocabulary.
 */
export function tokenizerJsonFromVocab(vocabText: string, tokenizerConfig: Record<string, unknown>): Record<string, unknown> {
  const lines = vocabText.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop(); // the file's final newline
  const vocab: Record<string, number> = Object.fromEntries(lines.map((token, id) => [token, id]));
  const lowercase = tokenizerConfig.do_lower_case !== false;
  const special = (token: string) => ({ SpecialToken: { id: token, type_id: 0 } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.filter((t) => t in vocab).map((content) => ({
      id: vocab[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: tokenizerConfig.tokenize_chinese_chars !== false,
      strip_accents: tokenizerConfig.strip_accents ?? null,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]'), sequence('A', 0), special('[SEP]')],
      pair: [special('[CLS]'), sequence('A', 0), special('[SEP]'), sequence('B', 1), { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}
