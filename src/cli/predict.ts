/** `predict`: class probabilities for texts given on the command line or in a file (one per line). */
import { existsSync, readFileSync } from 'node:fs';
import { loadClassifier } from '../server/engine/classifier';
import { UserError } from '../server/engine/errors';
import type { CliCommand, CliValues } from './command';
import { MODEL_LOADING_OPTIONS, intOption, modelLoading, requiredString, stringList, stringOption } from './options';

export const predictCommand: CliCommand = {
  name: 'predict',
  summary: 'predict the class of texts with a model folder, a Hub id or builtin:tiny-bert',
  usage: `Usage: bert-workbench predict --model <dir|hub id|builtin:tiny-bert> (--text T … | --file F)
       [--max-length N] [--backend auto|tensorflow|wasm|cpu] [--offline] [--cache-dir DIR] [--json]

  --text T         a text to classify (repeat for more)
  --file F         a UTF-8 file: each non-empty line is one text
  --max-length N   truncate to N tokens, [CLS] and [SEP] included (default: the model's limit)
  --json           {"predictions":[{"text","label","probs":{label:p},"logits":[…]}],"model":{…}}`,
  options: {
    model: { type: 'string' },
    text: { type: 'string', multiple: true },
    file: { type: 'string' },
    'max-length': { type: 'string' },
    ...MODEL_LOADING_OPTIONS,
  },
  async run(values, _positionals, out) {
    const texts = readTexts(values);
    const maxLength = intOption(values, 'max-length', 2, 512);
    const classifier = await loadClassifier(requiredString(values, 'model'), {
      ...modelLoading(values),
    });
    for (const warning of classifier.info.warnings) out.log(`warning: ${warning}`);
    const predictions = await classifier.predict(texts, { maxLength });
    const human = predictions.map((p) => `${p.label.padEnd(12)} ${p.probs[p.label].toFixed(3)}  ${p.text}`).join('\n');
    out.result({ predictions, model: classifier.info }, human);
    classifier.dispose();
  },
};

function readTexts(values: CliValues): string[] {
  const texts = stringList(values, 'text');
  const file = stringOption(values, 'file');
  if (file !== undefined) {
    if (!existsSync(file)) {
      throw new UserError({ kind: 'bad-argument', message: `The file ${file} does not exist.`, file, fix: 'Give an existing text file.' });
    }
    texts.push(...readFileSync(file, 'utf8').split(/\r?\n/).filter((line) => line.trim() !== ''));
  }
  if (texts.length === 0) {
    throw new UserError({ kind: 'bad-argument', message: 'Nothing to predict.', fix: 'Give --text "…" (repeatable) or --file <file>.' });
  }
  return texts;
}
