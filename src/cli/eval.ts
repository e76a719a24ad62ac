/** `eval`: a model's accuracy, macro F1, per-class scores and confusion matrix on a labelled dataset. */
import { loadClassifier } from '../server/engine/classifier';
import { loadDataset, type SplitName } from '../server/engine/data';
import { UserError } from '../server/engine/errors';
import type { ClassificationMetrics } from '../server/engine/train/metrics';
import type { CliCommand } from './command';
import { datasetOptions, inspectCommand } from './inspect';
import { MODEL_LOADING_OPTIONS, intOption, modelLoading, requiredString, stringOption } from './options';

const SPLIT_CHOICES = ['test', 'validation', 'train', 'all'] as const;

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'measure a model on a labelled dataset (file or folder)',
  usage: `Usage: bert-workbench eval --model <dir|hub id> --data <file|folder> [--split test|validation|train|all]
       [--max-length N] [--backend B] [--offline] [--cache-dir DIR] [dataset options as for inspect] [--json]

  --split S        which split of data that has splits (default: test, else validation); data without
                   splits is evaluated whole
  --max-length N   tokens per text (default: what the model was trained with)
  --json           {"accuracy","macroF1","perClass":{label:{precision,recall,f1,support}},"confusion":[[…]],"n","loss"}`,
  options: {
    ...inspectCommand.options,
    model: { type: 'string' },
    split: { type: 'string' },
    ...MODEL_LOADING_OPTIONS,
  },
  async run(values, _positionals, out) {
    const split = stringOption(values, 'split');
    if (split !== undefined && !(SPLIT_CHOICES as readonly string[]).includes(split)) {
      throw new UserError({ kind: 'bad-argument', message: `--split must be one of ${SPLIT_CHOICES.join(', ')}, not "${split}".`, fix: 'Choose one of those.' });
    }
    const maxLength = intOption(values, 'max-length', 2, 512);
    const classifier = await loadClassifier(requiredString(values, 'model'), {
      ...modelLoading(values),
    });
    try {
      const { preprocessing } = classifier.loaded;
      const dataset = await loadDataset(requiredString(values, 'data'), {
        ...datasetOptions(values),
        ...(preprocessing ? { clean: preprocessing.clean } : {}),
        labels: classifier.info.labels,
        validationSplit: 0,
        testSplit: 0,
      });
      const chosen = chooseSplit(dataset.splits, split as (typeof SPLIT_CHOICES)[number] | undefined);
      const examples = chosen.flatMap((s) => dataset.splits[s]);
      const metrics = classifier.evaluate(examples, { maxLength });
      out.result({ ...metrics, split: chosen.join('+') }, formatMetrics(metrics, classifier.info.labels, chosen.join('+')));
    } finally {
      classifier.dispose();
    }
  },
};

function chooseSplit(splits: Record<SplitName, unknown[]>, asked?: (typeof SPLIT_CHOICES)[number]): SplitName[] {
  if (asked === 'all') return ['train', 'validation', 'test'];
  if (asked) {
    if (splits[asked].length === 0) {
      throw new UserError({ kind: 'bad-argument', message: `The data has no ${asked} split.`, fix: 'Choose another --split, or --split all.' });
    }
    return [asked];
  }
  if (splits.test.length > 0) return ['test'];
  if (splits.validation.length > 0) return ['validation'];
  return ['train'];
}

function formatMetrics(m: ClassificationMetrics, labels: string[], split: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const width = Math.max(8, ...labels.map((l) => l.length));
  const rows = labels.map((l) => {
    const c = m.perClass[l];
    return `  ${l.padEnd(width)}  ${pct(c.precision).padStart(9)}  ${pct(c.recall).padStart(9)}  ${pct(c.f1).padStart(9)}  ${String(c.support).padStart(7)}`;
  });
  const confusion = m.confusion.map((row, i) => `  ${labels[i].padEnd(width)}  ${row.map((n) => String(n).padStart(7)).join(' ')}`);
  return [
    `${split}: ${m.n} examples, accuracy ${pct(m.accuracy)}, macro F1 ${pct(m.macroF1)}${m.loss !== undefined ? `, loss ${m.loss.toFixed(4)}` : ''}`,
    '',
    `  ${'class'.padEnd(width)}  ${'precision'.padStart(9)}  ${'recall'.padStart(9)}  ${'F1'.padStart(9)}  ${'support'.padStart(7)}`,
    ...rows,
    '',
    `  confusion (rows: true class; columns: predicted, in the same order)`,
    ...confusion,
  ].join('\n');
}
