/** `inspect`: read a dataset the way training will and print its summary, without training. */
import { resolveModelRef } from '../server/engine/hub';
import { Tokenizer } from '../server/engine/tokenizer';
import { DEFAULT_MAX_ROW_BYTES, formatSummary, loadDataset, summarizeDataset, type DatasetOptions } from '../server/engine/data';
import type { CliCommand, CliValues } from './command';
import { intOption, numberOption, requiredString, stringOption } from './options';

const DEFAULT_MAX_LENGTH = 128;
/** A JavaScript string holds at most about 512 M characters; a row is parsed into one. */
const MAX_ROW_MB = 256;

export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'read a dataset (file or folder) and print what training would use',
  usage: `Usage: bert-workbench inspect --data <file|folder> [--text-column C] [--label-column C]
       [--validation-split F] [--test-split F] [--seed N] [--no-clean-html] [--no-decode-entities]
       [--no-strip-control] [--no-collapse-whitespace] [--keep-empty] [--max-row-mb N] [--model DIR] [--max-length N] [--json]

  --data P                 a CSV, TSV, JSON Lines, JSON or Parquet file, or a folder (train/validation/test
                           files, split folders, or one folder of .txt files per label)
  --text-column C          the column with the texts (default: guessed)
  --label-column C         the column with the labels (default: guessed)
  --validation-split F     share held out for validation when the data has no validation split (default 0.1)
  --test-split F           share held out for test when the data has no splits (default 0.1)
  --seed N                 seed of that split (default 42)
  --no-clean-html          keep HTML tags and <br />        --no-decode-entities   keep &amp; &#39; …
  --no-strip-control       keep control characters          --no-collapse-whitespace  keep spacing as is
  --keep-empty             keep rows whose text is empty
  --max-row-mb N           refuse a CSV/TSV row over N MB, as each row is held in memory whole (default ${DEFAULT_MAX_ROW_BYTES >> 20})
  --model M                count tokens with this model's tokenizer (a folder, builtin:tiny-bert, or a cached Hub id)
  --max-length N           report how many examples this length cuts (default: the model's, else ${DEFAULT_MAX_LENGTH})
  --json                   print the summary as one JSON object`,
  options: {
    data: { type: 'string' },
    'text-column': { type: 'string' },
    'label-column': { type: 'string' },
    'validation-split': { type: 'string' },
    'test-split': { type: 'string' },
    seed: { type: 'string' },
    'no-clean-html': { type: 'boolean' },
    'no-decode-entities': { type: 'boolean' },
    'no-strip-control': { type: 'boolean' },
    'no-collapse-whitespace': { type: 'boolean' },
    'keep-empty': { type: 'boolean' },
    'max-row-mb': { type: 'string' },
    model: { type: 'string' },
    'max-length': { type: 'string' },
  },
  async run(values, _positionals, out) {
    const dataset = await loadDataset(requiredString(values, 'data'), datasetOptions(values));
    const model = stringOption(values, 'model');
    const tokenizer = model === undefined ? undefined : Tokenizer.load(await resolveModelRef(model, { offline: true }));
    const maxLength = intOption(values, 'max-length', 2, 512) ?? tokenizer?.modelMaxLength ?? DEFAULT_MAX_LENGTH;
    const summary = summarizeDataset(dataset, { countTokens: tokenizer && ((text) => tokenizer.countTokens(text)), maxLength });
    const human = formatSummary(summary) + (tokenizer ? '' : '\nTokens      (pass --model DIR to count tokens)');
    out.result(summary, human);
  },
};

/** The dataset options shared by every command that takes --data. */
export function datasetOptions(values: CliValues): DatasetOptions {
  return {
    textColumn: stringOption(values, 'text-column'),
    labelColumn: stringOption(values, 'label-column'),
    validationSplit: numberOption(values, 'validation-split', 0, 0.9),
    testSplit: numberOption(values, 'test-split', 0, 0.9),
    seed: intOption(values, 'seed', 0, 2 ** 32 - 1),
    maxRowBytes: megabytes(intOption(values, 'max-row-mb', 1, MAX_ROW_MB)),
    clean: {
      html: values['no-clean-html'] !== true,
      entities: values['no-decode-entities'] !== true,
      controlChars: values['no-strip-control'] !== true,
      whitespace: values['no-collapse-whitespace'] !== true,
      dropEmpty: values['keep-empty'] !== true,
    },
  };
}

function megabytes(mb: number | undefined): number | undefined {
  return mb === undefined ? undefined : mb * 2 ** 20;
}
