/**
 * De-duplication as the rows stream in: one entry per distinct text, never the rows themselves, so
 * a file of millions of rows with few distinct texts is read in memory bounded by its distinct
 * texts. A text seen once costs its row, a map entry and a slot; a text seen again becomes a small
 * group that counts its copies and remembers only the row it keeps and the first row of each label.
 *
 * The rule is the whole-dataset one (see `dedupe` in split.ts): across splits the test copy wins,
 * then validation, then train, then rows without a split; among the copies in the winning split the
 * first is kept, and the text is dropped altogether when those copies disagree on the label.
 */
import type { DuplicateReport, SplitName } from './types';
import type { SplitRow } from './split';

/** When the same text is in several splits, the copy in the split latest here is kept. */
const KEEP_ORDER: (SplitName | undefined)[] = [undefined, 'train', 'validation', 'test'];
/** Conflicting texts listed in the report. */
const CONFLICT_SAMPLES = 5;

/** A text seen more than once. */
class Group<T extends SplitRow> {
  /** Copies seen. */
  count = 1;
  /** The first copy in the best split so far, and its place among all rows. */
  owner: T;
  ownerOrdinal: number;
  rank: number;
  /** Copies in the best split, and whether they all share the owner's label. */
  atBest = 1;
  ownersAgree = true;
  /** The first row of each label, in the order the labels were seen. */
  byLabel: T[];
  /** The place of the second copy: groups are reported in the order they became groups. */
  secondOrdinal = -1;

  constructor(first: T, ordinal: number) {
    this.owner = first;
    this.ownerOrdinal = ordinal;
    this.rank = KEEP_ORDER.indexOf(first.split);
    this.byLabel = [first];
  }

  add(row: T, ordinal: number): void {
    if (this.count++ === 1) this.secondOrdinal = ordinal;
    if (!this.byLabel.some((r) => r.label === row.label)) this.byLabel.push(row);
    const rank = KEEP_ORDER.indexOf(row.split);
    if (rank > this.rank) {
      [this.owner, this.ownerOrdinal, this.rank, this.atBest, this.ownersAgree] = [row, ordinal, rank, 1, true];
    } else if (rank === this.rank) {
      this.atBest++;
      if (row.label !== this.owner.label) this.ownersAgree = false;
    }
  }
}

export class UniqueTexts<T extends SplitRow> {
  /** Each distinct text's slot, in the order the texts were first seen. */
  private readonly slots = new Map<string, number>();
  /** By slot: the only row of a text seen once, or the group of a text seen again. */
  private readonly entries: (T | Group<T>)[] = [];
  /** By slot: the place among all rows of the text's first row. */
  private firstOrdinal = new Float64Array(1024);
  private rowsAdded = 0;
  /** The splits the rows named (undefined: a row without one), before de-duplication. */
  readonly splits = new Set<SplitName | undefined>();

  /** Rows added so far. */
  get rows(): number {
    return this.rowsAdded;
  }

  /** Distinct texts held. */
  get size(): number {
    return this.entries.length;
  }

  add(row: T): void {
    const ordinal = this.rowsAdded++;
    this.splits.add(row.split);
    const slot = this.slots.get(row.text);
    if (slot === undefined) {
      const next = this.entries.length;
      if (next === this.firstOrdinal.length) {
        const grown = new Float64Array(next * 2);
        grown.set(this.firstOrdinal);
        this.firstOrdinal = grown;
      }
      this.firstOrdinal[next] = ordinal;
      this.slots.set(row.text, next);
      this.entries.push(row);
      return;
    }
    const seen = this.entries[slot];
    if (seen instanceof Group) {
      seen.add(row, ordinal);
    } else {
      const group = new Group(seen, this.firstOrdinal[slot]);
      group.add(row, ordinal);
      this.entries[slot] = group;
    }
  }

  /** The rows kept, in file order, and what was removed. */
  result(): { kept: T[]; report: DuplicateReport } {
    const report: DuplicateReport = { removed: 0, acrossSplits: 0, conflicts: 0, conflictRowsDropped: 0, conflictSamples: [] };
    const kept: T[] = [];
    const keptOrdinals: number[] = [];
    const conflicts: Group<T>[] = [];
    this.entries.forEach((entry, slot) => {
      if (!(entry instanceof Group)) {
        kept.push(entry);
        keptOrdinals.push(this.firstOrdinal[slot]);
        return;
      }
      const conflict = entry.byLabel.length > 1;
      const keeps = entry.ownersAgree;
      if (keeps) {
        kept.push(entry.owner);
        keptOrdinals.push(entry.ownerOrdinal);
        report.acrossSplits += entry.count - entry.atBest;
      }
      const dropped = keeps ? entry.count - 1 : entry.count;
      if (conflict) {
        report.conflicts++;
        report.conflictRowsDropped += dropped;
        conflicts.push(entry);
      } else {
        report.removed += dropped;
      }
    });
    report.conflictSamples = conflicts
      .sort((a, b) => a.secondOrdinal - b.secondOrdinal)
      .slice(0, CONFLICT_SAMPLES)
      .map((group) => sample(group));
    return { kept: inFileOrder(kept, keptOrdinals), report };
  }
}

/** The rows by their place among all rows (already so, unless a later copy won a group). */
function inFileOrder<T>(rows: T[], ordinals: number[]): T[] {
  if (ordinals.every((o, i) => i === 0 || o > ordinals[i - 1])) return rows;
  return rows.map((row, i) => ({ row, ordinal: ordinals[i] })).sort((a, b) => a.ordinal - b.ordinal).map((k) => k.row);
}

function sample<T extends SplitRow>(group: Group<T>): DuplicateReport['conflictSamples'][number] {
  const text = group.owner.text;
  return {
    text: text.length > 80 ? `${text.slice(0, 77)}…` : text,
    labels: group.byLabel.map((r) => r.label),
    where: group.byLabel.map((r) => `${r.file}:${r.line}`),
  };
}
