/** `eval`: a model's accuracy, macro F1, per-class scores and confusion matrix on a labelled dataset. */
import { writeFileSync } from 'node:fs';
import { loadClassifier, type Classifier } from '../server/engine/classifier';
import { confusionRows, possibleLabelErrors, reviewedRowsCsv, type ReviewedRow, type RowToReview } from '../server/engine/explain/misclassified';
import { sameSplitAsTraining } from '../server/engine/explain/review';
import { reliability, saveThreshold, thresholdCurve, thresholdMetrics, type Reliability } from '../server/engine/train/calibration';
import { loadDataset, type SplitName } from '../server/engine/data';
import { UserError } from '../server/engine/errors';
import type { ClassificationMetrics } from '../server/engine/train/metrics';
import type { CliCommand, CliValues } from './command';
import { escapeForTerminal } from './echo';
import { datasetOptions, inspectCommand } from './inspect';
import { MODEL_LOADING_OPTIONS, choiceOption, intOption, modelLoading, numberOption, requiredString, stringOption, UsageError } from './options';

const SPLIT_CHOICES = ['test', 'validation', 'train', 'all'] as const;

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'measure a model on a labelled dataset (file or folder)',
  usage: `Usage: bert-workbench eval --model <dir|hub id> --data <file|folder> [--split test|validation|train|all]
       [--errors [--csv FILE]] [--calibration] [--threshold P [--save-threshold]] [--clear-threshold]
       [--max-length N] [--backend B] [--offline] [--cache-dir DIR] [dataset options as for inspect] [--json]

  --split S        which split of data that has splits (default: test, else validation); data without
                   splits is evaluated whole
  --max-length N   tokens per text (default: what the model was trained with)
  --errors         also list the misclassified rows of each confusion-matrix cell (file:line, text, true and
                   predicted class, confidence; most confident first) and the possible label errors (rows
                   whose label the model confidently contradicts, after Northcutt et al. 2021)
  --csv FILE       with --errors: write the possible label errors as CSV to FILE
  --calibration    the reliability diagram (10 bins) and expected calibration error, with the model's
                   temperature (calibration.json, fitted on validation when it was trained) and without
  --threshold P    two classes: precision and recall of the second class when it is predicted at
                   probability ≥ P (and the curve from 0.05 to 0.95)
  --save-threshold with --threshold: keep P in the model's calibration.json; predict and the editor use it
  --clear-threshold remove a saved threshold: predictions answer the most probable class again
  --json           {"accuracy","macroF1","perClass":{label:{precision,recall,f1,support}},"confusion":[[…]],"n","loss"}`,
  options: {
    ...inspectCommand.options,
    model: { type: 'string' },
    split: { type: 'string' },
    errors: { type: 'boolean' },
    csv: { type: 'string' },
    calibration: { type: 'boolean' },
    threshold: { type: 'string' },
    'save-threshold': { type: 'boolean' },
    'clear-threshold': { type: 'boolean' },
    ...MODEL_LOADING_OPTIONS,
  },
  async run(values, _positionals, out) {
    const split = choiceOption(values, 'split', SPLIT_CHOICES);
    const maxLength = intOption(values, 'max-length', 2, 512);
    const data = requiredString(values, 'data');
    checkThresholdOptions(values);
    const dataOptions = datasetOptions(values);
    const classifier = await loadClassifier(requiredString(values, 'model'), {
      ...modelLoading(values),
    });
    for (const warning of classifier.info.warnings) out.warn(warning);
    try {
      const { preprocessing } = classifier.loaded;
      const dataset = await loadDataset(data, {
        ...dataOptions,
        ...(preprocessing ? { clean: preprocessing.clean } : {}),
        labels: classifier.info.labels,
        ...sameSplitAsTraining(preprocessing, data),
      });
      const chosen = chooseSplit(dataset.splits, split);
      const examples = chosen.flatMap((s) => dataset.splits[s]);
      const metrics = classifier.evaluate(examples, { maxLength });
      const labels = classifier.info.labels;
      const extra = await analyses(values, classifier, chosen.flatMap((s) => dataset.splits[s].map((e) => ({ ...e, split: s }))), maxLength);
      out.result(
        { ...metrics, split: chosen.join('+'), ...extra.json },
        [formatMetrics(metrics, labels, chosen.join('+')), ...extra.human].join('\n\n'),
      );
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

/** --save-threshold with its --threshold and without --clear-threshold, checked before any work. */
function checkThresholdOptions(values: CliValues): void {
  if (values['save-threshold'] !== true) return;
  const clear = values['clear-threshold'] === true;
  if (values.threshold === undefined || clear) {
    throw new UsageError(clear ? '--save-threshold and --clear-threshold contradict each other.' : '--save-threshold needs --threshold P.', 'Give either --threshold P --save-threshold or --clear-threshold.');
  }
}

type EvalRow = RowToReview & { split: string };

/** --errors, --calibration, --threshold: what each adds to the result, for JSON and for people. */
async function analyses(values: CliValues, classifier: Classifier, examples: Omit<EvalRow, 'probs'>[], maxLength?: number): Promise<{ json: Record<string, unknown>; human: string[] }> {
  const json: Record<string, unknown> = {};
  const human: string[] = [];
  const threshold = numberOption(values, 'threshold', 0.001, 0.999);
  const clear = values['clear-threshold'] === true;
  if (values.errors !== true && values.calibration !== true && threshold === undefined && !clear) return { json, human };
  const labels = classifier.info.labels;
  const predictions = await classifier.predict(examples.map((e) => e.text), { maxLength });
  const rows: EvalRow[] = examples.map((e, i) => ({ ...e, probs: labels.map((l) => predictions[i].probs[l]) }));
  if (values.errors === true) {
    const cells = confusionRows(rows, labels.length);
    const suspects = possibleLabelErrors(rows, labels.length);
    json.errors = { cells, possibleLabelErrors: suspects };
    human.push(formatErrors(cells, suspects, labels));
    const csv = stringOption(values, 'csv');
    if (csv !== undefined) {
      writeFileSync(csv, reviewedRowsCsv(suspects, labels));
      human.push(`Possible label errors written to ${csv}.`);
    }
  }
  if (values.calibration === true) {
    const logits = predictions.map((p) => p.logits);
    const truth = rows.map((r) => r.label);
    const temperature = classifier.loaded.calibration?.temperature ?? 1;
    const raw = reliability(logits, truth);
    const calibrated = reliability(logits, truth, temperature);
    json.calibration = { temperature, uncalibrated: raw, calibrated };
    human.push(formatCalibration(raw, calibrated, temperature));
  }
  if (threshold !== undefined) {
    if (labels.length !== 2) throw new UserError({ kind: 'bad-argument', message: `--threshold needs a model with two classes; this one has ${labels.length}.`, fix: 'Leave out --threshold.' });
    const positive = rows.map((r) => r.probs[1]);
    const truth = rows.map((r) => r.label);
    const at = thresholdMetrics(positive, truth, threshold);
    json.threshold = { ...at, curve: thresholdCurve(positive, truth) };
    human.push(`${labels[1]} at probability ≥ ${threshold}: precision ${pct(at.precision)}, recall ${pct(at.recall)}, F1 ${pct(at.f1)}, accuracy ${pct(at.accuracy)}`);
    if (values['save-threshold'] === true) {
      saveThreshold(classifier.info.modelDir, threshold);
      human.push(`Saved in ${classifier.info.modelDir}/calibration.json: predictions answer ${labels[1]} from probability ${threshold} on.`);
    }
  }
  if (clear) {
    saveThreshold(classifier.info.modelDir, undefined);
    json.thresholdCleared = true;
    human.push(`Removed the threshold from ${classifier.info.modelDir}/calibration.json: predictions answer the most probable class again.`);
  }
  return { json, human };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function formatErrors(cells: ReviewedRow[][][], suspects: ReviewedRow[], labels: string[]): string {
  const line = (r: ReviewedRow) => `    ${r.file}:${r.line}  ${labels[r.predicted]} ${r.confidence.toFixed(3)}  ${escapeForTerminal(r.text.length > 100 ? `${r.text.slice(0, 97)}…` : r.text)}`;
  const parts: string[] = [];
  cells.forEach((row, t) =>
    row.forEach((cell, p) => {
      if (t === p || cell.length === 0) return;
      parts.push(`  true ${labels[t]}, predicted ${labels[p]}: ${cell.length} rows (most confident first)`, ...cell.slice(0, 10).map(line));
    }),
  );
  parts.push(`  possible label errors: ${suspects.length} rows (label given, then the model's class and confidence)`);
  parts.push(...suspects.slice(0, 10).map((r) => `    ${r.file}:${r.line}  labelled ${labels[r.label]} (p ${r.labelProbability.toFixed(3)}), model says ${labels[r.predicted]} ${r.confidence.toFixed(3)}  ${escapeForTerminal(r.text.slice(0, 80))}`));
  return ['Misclassified rows:', ...parts].join('\n');
}

function formatCalibration(raw: Reliability, calibrated: Reliability, temperature: number): string {
  const bins = calibrated.bins
    .filter((b) => b.count > 0)
    .map((b) => `    ${b.lower.toFixed(1)}–${b.upper.toFixed(1)}  ${String(b.count).padStart(6)}  confidence ${b.confidence.toFixed(3)}  accuracy ${b.accuracy.toFixed(3)}`);
  return [
    `Calibration: expected calibration error ${pct(raw.ece)} raw, ${pct(calibrated.ece)} with temperature ${temperature.toFixed(3)}; NLL ${raw.nll.toFixed(4)} → ${calibrated.nll.toFixed(4)}`,
    '  reliability (top probability bin, examples, mean confidence, accuracy), calibrated:',
    ...bins,
  ].join('\n');
}
