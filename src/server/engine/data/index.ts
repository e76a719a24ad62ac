/**
 * Workspace datasets: find them, read them (CSV, TSV, JSON Lines, JSON arrays, Parquet, folders of
 * .txt files per label), clean and split them, and explain what was found. See README.md here.
 */
export { loadDataset } from './load';
export { discoverDatasets, type DatasetCandidate, type DiscoverOptions } from './discover';
export { summarizeDataset, formatSummary, type DatasetSummary, type SplitSummary, type SummaryOptions, type TokenSummary } from './summary';
export { DEFAULT_CLEAN, cleanText } from './clean';
export { DEFAULT_MAX_ROW_BYTES } from './formats/csv';
export type {
  CleanOptions,
  Dataset,
  DatasetFile,
  DatasetFormat,
  DatasetOptions,
  DatasetReport,
  DuplicateReport,
  Example,
  SplitName,
} from './types';
