/**
 * De-duplication while reading: the loader keeps one entry per distinct (cleaned) text, never the
 * rows themselves, so a file of millions of rows with few distinct texts is read in memory bounded
 * by its distinct texts. The counts and the rule (the test copy wins, then validation; a text with
 * different labels where it is kept is dropped) are those of the whole-file rule.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random } from '../../../src/server/engine/random';
import type { SplitRow } from '../../../src/server/engine/data/split';
import { UniqueTexts } from '../../../src/server/engine/data/unique';
import type { DuplicateReport } from '../../../src/server/engine/data';

const scratch = mkdtempSync(join(tmpdir(), 'unique-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `rows` CSV rows cycling through `texts` distinct texts (label by parity), then `repeats` copies of one text. */
function duplicatesCsv(file: string, rows: number, texts: number, repeats: number): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, 'text,label\n');
    let lines: string[] = [];
    const flush = () => {
      writeSync(fd, lines.join(''));
      lines = [];
    };
    for (let i = 0; i < rows; i++) {
      const k = i % texts;
      lines.push(`review number ${k} of a film,${k % 2 ? 'pos' : 'neg'}\n`);
      if (lines.length === 10_000) flush();
    }
    for (let i = 0; i < repeats; i++) {
      lines.push('the one review everybody copied,pos\n');
      if (lines.length === 10_000) flush();
    }
    flush();
  } finally {
    closeSync(fd);
  }
}

test('600,000 rows of 401 distinct texts load in a 48 MB heap, with the right duplicate counts', () => {
  // Held row by row this needs well over 96 MB of heap (measured); held per distinct text, a few MB.
  const file = join(scratch, 'copies.csv');
  duplicatesCsv(file, 400_000, 400, 200_000);
  const script = join(scratch, 'load.ts');
  writeFileSync(
    script,
    `import { loadDataset } from ${JSON.stringify(join(__dirname, '..', '..', '..', 'src', 'server', 'engine', 'data'))};
loadDataset(${JSON.stringify(file)}).then((ds) => console.log(JSON.stringify({ report: ds.report, sizes: [ds.splits.train.length, ds.splits.validation.length, ds.splits.test.length] })));`,
  );
  const run = spawnSync(process.execPath, ['--max-old-space-size=48', '--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `the loader ran out of its 48 MB heap or failed:\n${run.stderr.slice(-2000)}`);
  const { report, sizes } = JSON.parse(run.stdout);
  assert.equal(report.rowsRead, 600_000);
  assert.equal(report.rowsKept, 401);
  assert.equal(report.duplicates.removed, 600_000 - 401);
  assert.equal(report.duplicates.conflicts, 0);
  assert.equal(sizes.reduce((a: number, b: number) => a + b, 0), 401);
});

test('200,000 rows of 3 texts: the state is 3 entries, the counts are those of 200,000 rows', () => {
  const unique = new UniqueTexts<SplitRow>();
  const texts = ['a fine film', 'a dull film', 'not bad'];
  for (let i = 0; i < 200_000; i++) unique.add({ text: texts[i % 3], label: i % 3 === 1 ? 'neg' : 'pos', file: 'f.csv', line: i + 2 });
  assert.equal(unique.rows, 200_000);
  assert.equal(unique.size, 3, 'one entry per distinct text, not per row');
  const { kept, report } = unique.result();
  assert.deepEqual(kept.map((r) => r.line), [2, 3, 4], 'the first copy of each is kept');
  assert.equal(report.removed, 199_997);
  assert.equal(report.conflicts, 0);
});

/** The rule on the whole list of rows at once, as the loader applied it before it streamed. */
function wholeListRule(rows: SplitRow[]): { kept: SplitRow[]; report: DuplicateReport } {
  const order = [undefined, 'train', 'validation', 'test'];
  const report: DuplicateReport = { removed: 0, acrossSplits: 0, conflicts: 0, conflictRowsDropped: 0, conflictSamples: [] };
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => groups.set(row.text, [...(groups.get(row.text) ?? []), i]));
  const drop = new Set<number>();
  const bySecondCopy = [...groups.values()].filter((g) => g.length > 1).sort((a, b) => a[1] - b[1]);
  for (const group of bySecondCopy) {
    const rank = (i: number) => order.indexOf(rows[i].split);
    const best = group.reduce((m, i) => Math.max(m, rank(i)), -1);
    const owners = group.filter((i) => rank(i) === best);
    const keep = new Set(owners.map((i) => rows[i].label)).size === 1 ? owners[0] : -1;
    const labels = [...new Set(group.map((i) => rows[i].label))];
    if (labels.length > 1) {
      report.conflicts++;
      if (report.conflictSamples.length < 5) {
        const firstOf = labels.map((l) => rows[group.find((i) => rows[i].label === l)!]);
        report.conflictSamples.push({ text: rows[group[0]].text, labels, where: firstOf.map((r) => `${r.file}:${r.line}`) });
      }
    }
    for (const i of group) {
      if (i === keep) continue;
      drop.add(i);
      if (labels.length > 1) report.conflictRowsDropped++;
      else report.removed++;
      if (keep !== -1 && rows[i].split !== rows[keep].split) report.acrossSplits++;
    }
  }
  return { kept: rows.filter((_, i) => !drop.has(i)), report };
}

test('streamed, the rule gives what it gives on the whole list: kept rows in file order, every count, the conflict samples', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = new Random(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(random.next() * xs.length)];
    const rows: SplitRow[] = Array.from({ length: 3000 }, (_, i) => ({
      text: `text ${Math.floor(random.next() * 400)}`,
      label: random.next() < 0.93 ? 'pos' : pick(['neg', 'meh']),
      split: pick([undefined, 'train', 'train', 'validation', 'test']),
      file: pick(['a.csv', 'b.csv']),
      line: i + 2,
    }));
    const unique = new UniqueTexts<SplitRow>();
    for (const row of rows) unique.add(row);
    const streamed = unique.result();
    const expected = wholeListRule(rows);
    assert.deepEqual(streamed.kept, expected.kept, `seed ${seed}: kept rows`);
    assert.deepEqual(streamed.report, expected.report, `seed ${seed}: report`);
    assert.ok(streamed.report.conflicts > 0 && streamed.report.acrossSplits > 0, 'the case covers conflicts and copies across splits');
    assert.deepEqual(unique.splits, new Set(rows.map((r) => r.split)));
  }
});
