/** `predict`: class probabilities for texts given on the command line or in a file (one per line). */
import { stat } from 'node:fs/promises';
import { loadClassifier, type Explanation, type Prediction } from '../server/engine/classifier';
import { readLines } from '../server/engine/data/text';
import type { TextExpectation } from '../server/engine/data/sniff';
import { UserError } from '../server/engine/errors';
import type { CliCommand, CliValues } from './command';
import { escapeForTerminal } from './echo';
import { MODEL_LOADING_OPTIONS, UsageError, intOption, modelLoading, requiredString, stringList, stringOption } from './options';

const ONE_TEXT_PER_LINE = 'Give --file a UTF-8 text file with one text per line (blank lines are skipped).';
const TEXT_FILE: TextExpectation = { what: 'a text file', fix: ONE_TEXT_PER_LINE };

export const predictCommand: CliCommand = {
  name: 'predict',
  summary: 'predict the class of texts with a model folder, a Hub id or builtin:tiny-bert',
  usage: `Usage: bert-workbench predict --model <dir|hub id|builtin:tiny-bert> (--text T … | --file F)
       [--explain [--steps N] [--label L]] [--max-length N] [--backend auto|tensorflow|wasm|cpu] [--offline] [--cache-dir DIR] [--json]

  --text T         a text to classify (repeat for more)
  --file F         a UTF-8 file: each non-empty line is one text
  --max-length N   truncate to N tokens, [CLS] and [SEP] included (default: the model's limit)
  --explain        also say which words pushed each prediction toward its class (> 0) and away
                   from it (< 0): Integrated Gradients on the word embeddings, [PAD] baseline
  --steps N        Integrated Gradients' quadrature steps, 20 to 50 (default 20; 50 when the
                   attributions miss completeness by more than 5%)
  --label L        explain this class instead of the predicted one
  --json           {"predictions":[{"text","label","probs":{label:p},"logits":[…],
                   "explanation":{"words":[{"word","score"}],"scoreDifference","completenessError","steps"}}],"model":{…}}`,
  options: {
    model: { type: 'string' },
    text: { type: 'string', multiple: true },
    file: { type: 'string' },
    'max-length': { type: 'string' },
    explain: { type: 'boolean' },
    steps: { type: 'string' },
    label: { type: 'string' },
    ...MODEL_LOADING_OPTIONS,
  },
  async run(values, _positionals, out) {
    const texts = await readTexts(values);
    const maxLength = intOption(values, 'max-length', 2, 512);
    const classifier = await loadClassifier(requiredString(values, 'model'), {
      ...modelLoading(values),
    });
    for (const warning of classifier.info.warnings) out.warn(warning);
    try {
      const predictions: (Prediction & { explanation?: Explanation })[] = await classifier.predict(texts, { maxLength });
      if (values.explain === true) {
        const steps = intOption(values, 'steps', 20, 50);
        const label = stringOption(values, 'label');
        for (const p of predictions) p.explanation = await classifier.explain(p.text, { maxLength, steps, label });
      }
      const human = predictions
        .map((p) => `${escapeForTerminal(p.label).padEnd(12)} ${p.probs[p.label].toFixed(3)}  ${escapeForTerminal(p.text)}${p.explanation ? `\n${formatExplanation(p.explanation)}` : ''}`)
        .join('\n');
      out.result({ predictions, model: classifier.info }, human);
    } finally {
      classifier.dispose();
    }
  },
};

/** The --text values, then the non-blank lines of --file (which must be UTF-8 text with at least one). */
async function readTexts(values: CliValues): Promise<string[]> {
  const texts = stringList(values, 'text');
  const file = stringOption(values, 'file');
  if (file !== undefined) {
    const info = await stat(file).catch(() => undefined);
    if (!info) throw new UserError({ kind: 'missing-file', file, message: 'No such file.', fix: 'Give --file an existing text file.' });
    if (!info.isFile()) throw new UserError({ kind: 'bad-argument', file, message: 'This is a folder, not a file.', fix: ONE_TEXT_PER_LINE });
    const before = texts.length;
    for await (const { text } of readLines(file, TEXT_FILE)) if (text.trim() !== '') texts.push(text);
    if (texts.length === before) throw new UserError({ kind: 'empty-file', file, message: 'The file has no text to predict.', fix: ONE_TEXT_PER_LINE });
  }
  if (texts.length === 0) throw new UsageError('Nothing to predict.', 'Give --text "…" (repeatable) or --file <file>.');
  return texts;
}

/** `  + loved 1.46  + acting 1.17  − the 0.88 …`: the words by how much they mattered, then completeness. */
function formatExplanation(e: Explanation): string {
  const ranked = [...e.words].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).slice(0, 8);
  const words = ranked.map((w) => `${w.score >= 0 ? '+' : '−'} ${escapeForTerminal(w.word)} ${Math.abs(w.score).toFixed(2)}`).join('  ');
  return `    toward ${escapeForTerminal(e.label)} (+) / away (−): ${words}\n    (Integrated Gradients, ${e.steps} steps; the scores add up to the logit margin ${e.scoreDifference.toFixed(3)} within ${(100 * e.completenessError).toFixed(2)}%)`;
}
