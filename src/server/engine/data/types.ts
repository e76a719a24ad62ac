/** The shapes the data module hands out. Everything here is plain data, safe to JSON.stringify. */

export type DatasetFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet' | 'folder';
export type SplitName = 'train' | 'validation' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'validation', 'test'];

/** One labelled text, ready for the tokenizer. */
export interface Example {
  text: string;
  /** Index into `Dataset.id2label`. */
  label: number;
  /** The file the example came from (for the folder layout, its .txt file). */
  file: string;
  /** 1-based line in `file` where the row starts (the row number for Parquet, 1 for a .txt file). */
  line: number;
}

/** A file (or label folder) that was read, and which split it fed. */
export interface DatasetFile {
  path: string;
  format: DatasetFormat;
  /** The split the file name or folder says, if any. */
  split?: SplitName;
  rows: number;
}

export interface CleanOptions {
  /** HTML tags, `<br />` included, become spaces. */
  html: boolean;
  /** `&amp;`, `&#39;`, … are decoded. */
  entities: boolean;
  /** Control and zero-width characters are removed. */
  controlChars: boolean;
  /** Runs of whitespace become one space; ends are trimmed. */
  whitespace: boolean;
  /** Rows whose text is empty (after the steps above) are dropped and counted. */
  dropEmpty: boolean;
}

export interface DatasetOptions {
  /** Column holding the text (default: guessed). */
  textColumn?: string;
  /** Column holding the label (default: guessed). */
  labelColumn?: string;
  /** The class names in id order, e.g. a trained model's id2label. A label outside it is an error. */
  labels?: string[];
  /** Share of the data for validation when the data has no validation split (default 0.1). */
  validationSplit?: number;
  /** Share of the data for test when the data has no splits at all (default 0.1). */
  testSplit?: number;
  /** Seed of the split shuffle (default 42). */
  seed?: number;
  /** Cleaning steps to switch off or on (all on by default). */
  clean?: Partial<CleanOptions>;
  /** CSV/TSV delimiter (default: sniffed). */
  delimiter?: string;
  /** Whether the first CSV/TSV row is a header (default: guessed). */
  header?: boolean;
  /** Refuse files larger than this many bytes (default 2 GiB; 512 MiB for JSON arrays and Parquet). */
  maxFileBytes?: number;
  /** Refuse a CSV/TSV row longer than this many bytes: it is held in memory whole (default 8 MiB). */
  maxRowBytes?: number;
}

export interface DuplicateReport {
  /** Extra copies of a text with the same label that were removed. */
  removed: number;
  /** Of those, copies that sat in another split than the one kept. */
  acrossSplits: number;
  /** Texts found with more than one label. */
  conflicts: number;
  /** Rows dropped because of those conflicts. */
  conflictRowsDropped: number;
  /** A few conflicts to show the user, with where they are. */
  conflictSamples: { text: string; labels: string[]; where: string[] }[];
}

export interface DatasetReport {
  /** Data rows seen (header and blank lines not counted). */
  rowsRead: number;
  /** Examples in the three splits together. */
  rowsKept: number;
  /** Rows not kept, by reason. */
  dropped: Record<string, number>;
  duplicates: DuplicateReport;
  /** True when the splits come from the data (file names, a split column, split folders). */
  userSplits: boolean;
  /** One sentence on how the splits were made. */
  splitRule: string;
  clean: CleanOptions;
  /** Things the user should look at that are not errors. */
  warnings: string[];
}

export interface Dataset {
  source: { path: string; format: DatasetFormat; files: DatasetFile[] };
  textColumn: string;
  labelColumn: string;
  /** Every column seen in the first file, in file order. */
  columns: string[];
  /** Which of the two columns were guessed rather than given. */
  guessed: { text: boolean; label: boolean };
  id2label: string[];
  splits: Record<SplitName, Example[]>;
  report: DatasetReport;
}

/** A row as a reader yields it, before columns are chosen. */
export interface RawRow {
  values: Record<string, unknown>;
  file: string;
  line: number;
}
