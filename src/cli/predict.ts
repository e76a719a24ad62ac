/** `predict`: class probabilities for texts given on the command line or in a file (one per line). */
import { existsSync, readFileSync } from 'node:fs';
import { loadClassifier, type Explanation, type Prediction } from '../server/engine/classifier';
import { UserError } from '../server/engine/errors';
import type { CliCommand, CliValues } from './command';
import { MODEL_LOADING_OPTIONS, intOption, modelLoading, requiredString, stringList, stringOption } from './options';

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
    const texts = readTexts(values);
    const maxLength = intOption(values, 'max-length', 2, 512);
    const classifier = await loadClassifier(requiredString(values, 'model'), {
      ...modelLoading(values),
    });
    for (const warning of classifier.info.warnings) out.log(`warning: ${warning}`);
    try {
      const predictions: (Prediction & { explanation?: Explanation })[] = await classifier.predict(texts, { maxLength });
      if (values.explain === true) {
        const steps = intOption(values, 'steps', 20, 50);
        const label = stringOption(values, 'label');
        for (const p of predictions) p.explanation = await classifier.explain(p.text, { maxLength, steps, label });
      }
      const human = predictions.map((p) => `${p.label.padEnd(12)} ${p.probs[p.label].toFixed(3)}  ${p.text}${p.explanation ? `\n${formatExplanation(p.explanation)}` : ''}`).join('\n');
      out.result({ predictions, model: classifier.info }, human);
    } finally {
      classifier.dispose();
    }
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

/** `  + loved 1.46  + acting 1.17  − the 0.88 …`: the words by how much they mattered, then completeness. */
function formatExplanation(e: Explanation): string {
  const ranked = [...e.words].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).slice(0, 8);
  const words = ranked.map((w) => `${w.score >= 0 ? '+' : '−'} ${w.word} ${Math.abs(w.score).toFixed(2)}`).join('  ');
  return `    toward ${e.label} (+) / away (−): ${words}\n    (Integrated Gradients, ${e.steps} steps; the scores add up to the logit margin ${e.scoreDifference.toFixed(3)} within ${(100 * e.completenessError).toFixed(2)}%)`;
}
