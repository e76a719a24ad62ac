/** `datasets`: list the files and folders in a workspace that look like labelled datasets. */
import { discoverDatasets, type DatasetCandidate } from '../server/engine/data';
import type { CliCommand } from './command';
import { escapeForTerminal } from './echo';
import { intOption, stringOption } from './options';

export const datasetsCommand: CliCommand = {
  name: 'datasets',
  summary: 'list the labelled datasets found under a folder',
  usage: `Usage: bert-workbench datasets [--root DIR] [--max-size MB] [--all] [--json]

  --root DIR      where to look (default: the current folder); node_modules, .git and build output are skipped
  --max-size MB   skip files larger than this (default 100)
  --all           include files over --max-size
  --json          {"datasets":[{"path","kind","format","rows","rowsExact","textColumn","labelColumn","labels",…}]}`,
  options: {
    root: { type: 'string' },
    'max-size': { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(values, _positionals, out) {
    const root = stringOption(values, 'root') ?? process.cwd();
    const maxMb = intOption(values, 'max-size', 1, 1_000_000) ?? 100;
    const datasets = await discoverDatasets(root, { maxBytes: maxMb * 1024 ** 2, includeLarge: values.all === true });
    out.result({ root, datasets }, datasets.length ? table(datasets) : `No labelled datasets found under ${root}.`);
  },
};

function table(datasets: DatasetCandidate[]): string {
  const header = ['path', 'format', 'rows', 'text', 'label', 'labels', 'splits'];
  const rows = datasets.map((d) =>
    [
      d.kind === 'folder' ? `${d.relativePath}/` : d.relativePath,
      d.format,
      `${d.rowsExact ? '' : '~'}${d.rows.toLocaleString('en-US')}`,
      d.textColumn,
      d.labelColumn,
      d.labels.slice(0, 6).join(',') + (d.labels.length > 6 ? ',…' : ''),
      d.splits.join(','),
    ].map(escapeForTerminal),
  );
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [header, ...rows].map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}
