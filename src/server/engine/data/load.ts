/**
 * loadDataset: reads every source of a `--data` path row by row, cleans the texts, keeps only
 * text, label and place of one row per distinct text (de-duplicated while reading, so memory is
 * bounded by the distinct texts, not the rows), then splits and numbers the labels.
 */
import { UserError } from '../errors';
import { chooseColumns, type ColumnChoice } from './columns';
import { cleanText, DEFAULT_CLEAN } from './clean';
import { openRows, type RepeatedColumn } from './formats';
import { buildId2label, LabelSpellings, labelKinds, labelLookalikes, labelName } from './labels';
import { resolveSources, type Source } from './layout';
import { formatFromName } from './sniff';
import { splitFromValue, stratifiedSplit, type SplitRow } from './split';
import { UniqueTexts } from './unique';
import {
  SPLITS,
  type CleanOptions,
  type Dataset,
  type DatasetFile,
  type DatasetOptions,
  type DuplicateReport,
  type Example,
  type RawRow,
  type SplitName,
} from './types';
import { take } from './take';
import { joinWords } from './words';

/** Rows looked at to guess the columns. */
const SAMPLE_ROWS = 200;
const FOLDER_COLUMNS: ColumnChoice = { text: 'text', label: 'label', guessed: { text: false, label: false } };

export async function loadDataset(path: string, options: DatasetOptions = {}): Promise<Dataset> {
  const clean = { ...DEFAULT_CLEAN, ...options.clean };
  const sources = await resolveSources(path, options);
  const read = await readSources(sources, options, clean);
  if (read.unique.rows === 0) throw nothingLeft(path, read.rowsRead, read.dropped);
  const split = makeSplits(read.unique, options, path);
  const id2label = options.labels ?? buildId2label(split.splits.train.map((r) => r.label));
  checkLabels(split.splits, id2label, options.labels !== undefined, path, read.choice.label);
  const splits = numberLabels(split.splits, id2label);
  return {
    source: { path, format: sources[0].kind === 'labels' ? 'folder' : sources[0].format, files: read.files },
    textColumn: read.choice.text,
    labelColumn: read.choice.label,
    columns: read.columns,
    guessed: read.choice.guessed,
    id2label,
    splits,
    report: {
      rowsRead: read.rowsRead,
      rowsKept: SPLITS.reduce((n, s) => n + splits[s].length, 0),
      dropped: read.dropped,
      duplicates: split.duplicates,
      userSplits: split.userSplits,
      splitRule: split.rule,
      clean,
      warnings: [
        ...read.warnings,
        ...read.spellings.merges(),
        ...labelKinds(labelsUsed(splits, id2label)),
        ...labelLookalikes(id2label),
        ...manyLabelsWarning(id2label, read.unique.rows),
      ],
    },
  };
}

// ---- reading --------------------------------------------------------------------------------

/** A row that survived reading: its cleaned text and label name, before label ids exist. */
type Pending = SplitRow;

interface ReadResult {
  /** The rows kept so far, one per distinct text (de-duplicated as they are read). */
  unique: UniqueTexts<Pending>;
  files: DatasetFile[];
  columns: string[];
  choice: ColumnChoice;
  rowsRead: number;
  dropped: Record<string, number>;
  /** How the number and boolean labels were written, to tell when "1" and "1.0" became one class. */
  spellings: LabelSpellings;
  warnings: string[];
}

async function readSources(sources: Source[], options: DatasetOptions, clean: CleanOptions): Promise<ReadResult> {
  const result: ReadResult = {
    unique: new UniqueTexts(),
    files: [],
    columns: [],
    choice: FOLDER_COLUMNS,
    rowsRead: 0,
    dropped: {},
    spellings: new LabelSpellings(),
    warnings: [],
  };
  let fileChoice: ColumnChoice | undefined;
  for (const source of sources) {
    const repeated: RepeatedColumn[] = [];
    const readOptions = { header: options.header, maxRowBytes: options.maxRowBytes, warn: (w: string) => result.warnings.push(w), repeated: (r: RepeatedColumn) => repeated.push(r) };
    const rows = openRows(source, readOptions)[Symbol.asyncIterator]();
    const head = await take(rows, SAMPLE_ROWS);
    const columns = columnsOf(head);
    let choice = FOLDER_COLUMNS;
    if (source.kind === 'file') {
      try {
        choice = fileChoice ??= chooseColumns(columns, head.map((r) => r.values), columnRequest(source, head, options));
        checkColumnsPresent(source, head, columns, choice);
        result.warnings.push(...checkRepeatedColumns(source.path, repeated, choice));
      } catch (e) {
        await rows.return?.(undefined); // close the file
        throw e;
      }
    }
    if (result.files.length === 0) [result.columns, result.choice] = [columns, choice];
    const counts = new Map<string, number>();
    const accept = (row: RawRow) => {
      const pending = readRow(row, source, choice, clean, result);
      counts.set(row.file, (counts.get(row.file) ?? 0) + 1);
      if (pending) result.unique.add(pending);
    };
    try {
      for (const row of head) accept(row);
      for (let next = await rows.next(); !next.done; next = await rows.next()) accept(next.value);
    } finally {
      await rows.return?.(undefined);
    }
    result.files.push(...filesRead(source, counts));
  }
  if (sources.some((s) => s.kind === 'labels') && (options.textColumn || options.labelColumn)) {
    result.warnings.push('--text-column and --label-column do not apply to label folders (the folder name is the label).');
  }
  return result;
}

/** Column names in first-seen order across the sample (JSON objects may differ in their keys). */
function columnsOf(rows: RawRow[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row.values)) seen.add(key);
  return [...seen];
}

function columnRequest(source: Source, head: RawRow[], options: DatasetOptions) {
  return { text: options.textColumn, label: options.labelColumn, file: source.path, line: headerLine(source, head) };
}

/** Where to point a column error: the header of a CSV, the first object of JSON. */
function headerLine(source: Source, head: RawRow[]): number | undefined {
  if (source.kind !== 'file' || source.format === 'parquet') return undefined;
  return source.format === 'csv' || source.format === 'tsv' ? 1 : head[0]?.line;
}

/** Every file of a multi-file dataset must have the columns chosen from the first. */
function checkColumnsPresent(source: Source, head: RawRow[], columns: string[], choice: ColumnChoice): void {
  for (const [role, column] of [['text', choice.text], ['label', choice.label]] as const) {
    if (columns.includes(column)) continue;
    throw new UserError({
      kind: 'missing-column',
      file: source.path,
      line: headerLine(source, head),
      message: `There is no ${role} column "${column}" in this file. Columns found: ${columns.map((c) => `"${c}"`).join(', ')}.`,
      fix: `Give every file of the dataset the same columns, or pass --${role}-column.`,
    });
  }
}

/**
 * A header that names a column twice (`text,text`) is read with the repeats numbered (`text_2`);
 * when one of those is the text, label or split column that is an error, else a note.
 */
function checkRepeatedColumns(file: string, repeated: RepeatedColumn[], choice: ColumnChoice): string[] {
  const notes: string[] = [];
  for (const r of repeated) {
    const twice = `"${r.name}" ${r.positions.length === 2 ? 'twice' : `${r.positions.length} times`} (columns ${joinWords(r.positions.map(String))})`;
    const roles = (['text', 'label', 'split'] as const).filter((role) => choice[role] !== undefined && r.columns.includes(choice[role]!));
    if (roles.length === 0) {
      notes.push(`${file}:${r.line}: the header names ${twice}; ${r.positions.length === 2 ? 'neither' : 'none'} is the text or the label, so they are read as ${joinWords(r.columns.map((c) => `"${c}"`))}.`);
      continue;
    }
    const used = roles.map((role) => `column ${r.positions[r.columns.indexOf(choice[role]!)]} would be the ${role}`);
    throw new UserError({
      kind: 'duplicate-column',
      file,
      line: r.line,
      message: `The header (line ${r.line}) names the column ${twice}, so which one is meant cannot be told: ${joinWords(used)}.`,
      fix: `Rename one of them in the header so that every column has its own name (e.g. "text" and "label"); --text-column and --label-column can then choose between them.`,
    });
  }
  return notes;
}

function filesRead(source: Source, counts: Map<string, number>): DatasetFile[] {
  if (source.kind === 'file') {
    return [{ path: source.path, format: source.format, split: source.split, rows: counts.get(source.path) ?? 0 }];
  }
  return source.folders.map((f) => ({ path: f.path, format: 'folder' as const, split: source.split, rows: f.files.length }));
}

/** Cleans one row, or counts why it is dropped (returning undefined). An empty label is an error. */
function readRow(row: RawRow, source: Source, choice: ColumnChoice, clean: CleanOptions, result: ReadResult): Pending | undefined {
  result.rowsRead++;
  const drop = (reason: string) => void (result.dropped[reason] = (result.dropped[reason] ?? 0) + 1);
  const rawText = row.values[choice.text];
  const rawLabel = row.values[choice.label];
  if (isBlank(rawText) && isBlank(rawLabel)) return drop('empty row');
  const label = labelName(rawLabel, row);
  if (label === null) throw emptyLabel(row, choice.label);
  result.spellings.note(rawLabel, label);
  const split = source.split ?? (choice.split ? rowSplit(row.values[choice.split]) : undefined);
  if (split === null) return drop(`split "${String(row.values[choice.split!]).trim()}" is not train/validation/test`);
  if (isBlank(rawText)) return drop('empty text');
  const text = cleanText(textOf(rawText), clean);
  if (text === '' && clean.dropEmpty) return drop('empty after cleaning');
  return { text, label, split, file: row.file, line: row.line };
}

/** The split a `split` cell names; undefined for a blank cell, null for an unknown name. */
function rowSplit(value: unknown): SplitName | undefined | null {
  if (isBlank(value)) return undefined;
  return splitFromValue(value) ?? null;
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '');
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String).join(' ');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** "Line 7" for text files, "Row 7" for Parquet. */
function rowWord(file: string): string {
  return formatFromName(file) === 'parquet' ? 'Row' : 'Line';
}

function emptyLabel(row: RawRow, column: string): UserError {
  return new UserError({
    kind: 'empty-label',
    file: row.file,
    line: row.line,
    message: `${rowWord(row.file)} ${row.line} has a text but no label (column "${column}").`,
    fix: 'Fill in the label, or delete the row.',
  });
}

function nothingLeft(path: string, rowsRead: number, dropped: Record<string, number>): UserError {
  const why = Object.entries(dropped).map(([reason, n]) => `${n} ${reason}`).join(', ');
  return new UserError({
    kind: 'no-dataset',
    file: path,
    message: `No examples left: all ${rowsRead} rows were dropped (${why || 'none read'}).`,
    fix: 'Check that --text-column names the column with the texts.',
  });
}

// ---- splitting ------------------------------------------------------------------------------

interface SplitResult {
  splits: Record<SplitName, Pending[]>;
  duplicates: DuplicateReport;
  userSplits: boolean;
  rule: string;
}

function makeSplits(rows: UniqueTexts<Pending>, options: DatasetOptions, path: string): SplitResult {
  const fractions = splitFractions(options);
  const seed = options.seed ?? 42;
  const present = rows.splits;
  const { kept, report: duplicates } = rows.result();
  if (!present.has('validation') && !present.has('test')) {
    const rule = `${present.has('train') ? 'Only a train split' : 'No splits'} in the data: seeded stratified split ${percent(1 - fractions.validation - fractions.test)}/${percent(fractions.validation)}/${percent(fractions.test)} (seed ${seed}).`;
    return { splits: stratifiedSplit(kept, fractions, seed), duplicates, userSplits: false, rule };
  }
  if (!present.has('train') && !present.has(undefined)) {
    throw new UserError({
      kind: 'no-dataset',
      file: path,
      message: `The data has ${[...present].join(' and ')} splits but no training split.`,
      fix: 'Add a train file (e.g. train.csv) or rows with split "train".',
    });
  }
  const splits: Record<SplitName, Pending[]> = { train: [], validation: [], test: [] };
  for (const row of kept) splits[row.split ?? 'train'].push(row);
  const notes = [`Splits from the data: ${SPLITS.filter((s) => present.has(s)).join(', ')}.`];
  if (!present.has('validation') && fractions.validation > 0) {
    const carved = stratifiedSplit(splits.train, { validation: fractions.validation, test: 0 }, seed);
    [splits.train, splits.validation] = [carved.train, carved.validation];
    notes.push(`Validation: ${percent(fractions.validation)}% of train, stratified (seed ${seed}).`);
  }
  if (!present.has('test')) notes.push('No test split.');
  return { splits, duplicates, userSplits: true, rule: notes.join(' ') };
}

function splitFractions(options: DatasetOptions): { validation: number; test: number } {
  const validation = options.validationSplit ?? 0.1;
  const test = options.testSplit ?? 0.1;
  const valid = (f: number) => Number.isFinite(f) && f >= 0 && f < 1;
  if (!valid(validation) || !valid(test) || validation + test >= 1) {
    throw new UserError({
      kind: 'bad-argument',
      message: `Split fractions ${validation} (validation) and ${test} (test) must each be in [0, 1) and leave some data for training.`,
      fix: 'Use fractions like --validation-split 0.1 --test-split 0.1.',
    });
  }
  return { validation, test };
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}`;
}

// ---- labels ---------------------------------------------------------------------------------

/**
 * With given class names every label must be one of them; otherwise evaluation splits may only use
 * labels seen in training. Either way there must be two classes.
 */
function checkLabels(splits: Record<SplitName, Pending[]>, id2label: string[], given: boolean, path: string, column: string): void {
  const known = new Set(given ? id2label : splits.train.map((r) => r.label));
  for (const split of given ? SPLITS : (['validation', 'test'] as const)) {
    const stray = splits[split].find((r) => !known.has(r.label));
    if (stray) throw unknownLabel(stray, [...known], given);
  }
  const used = new Set(SPLITS.flatMap((s) => splits[s].map((r) => r.label)));
  if (used.size < 2) {
    throw new UserError({
      kind: 'single-class',
      file: path,
      message: `Every example has the same label ("${[...used][0]}", column "${column}"): a classifier needs at least two classes.`,
      fix: 'Check that --label-column names the label column, or add examples of the other classes.',
    });
  }
}

function unknownLabel(row: Pending, known: string[], given: boolean): UserError {
  const list = known.map((l) => `"${l}"`).join(', ');
  return new UserError({
    kind: 'unknown-label',
    file: row.file,
    line: row.line,
    message: given
      ? `${rowWord(row.file)} ${row.line} has the label "${row.label}", which is not one of the expected classes (${list}).`
      : `${rowWord(row.file)} ${row.line} has the label "${row.label}", which the training data never uses (training labels: ${list}).`,
    fix: given
      ? 'Use one of those labels, or train a new model for the new classes.'
      : `Fix the label, or add training examples labelled "${row.label}".`,
  });
}

function numberLabels(splits: Record<SplitName, Pending[]>, id2label: string[]): Record<SplitName, Example[]> {
  const ids = new Map(id2label.map((label, id) => [label, id]));
  const number = (rows: Pending[]) => rows.map((r) => ({ text: r.text, label: ids.get(r.label)!, file: r.file, line: r.line }));
  return { train: number(splits.train), validation: number(splits.validation), test: number(splits.test) };
}

/** The class names some example has (all of id2label unless the caller gave the classes). */
function labelsUsed(splits: Record<SplitName, Example[]>, id2label: string[]): string[] {
  const used = new Set<number>();
  for (const split of SPLITS) for (const example of splits[split]) used.add(example.label);
  return id2label.filter((_, id) => used.has(id));
}

function manyLabelsWarning(id2label: string[], rows: number): string[] {
  if (id2label.length <= 50 || id2label.length <= rows / 10) return [];
  return [`The label column has ${id2label.length} different values: check that it is really the label (--label-column).`];
}
