/**
 * The runs' journal: one JSON Lines file per run in the server's runs folder (the workspace's
 * extension storage), appended to as the run goes. A restarted server (after a crash, a window
 * reload or a setting change) reads it back, so the panel can still show every run and an
 * interrupted one can be continued. A line cut short by a crash is skipped.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FineTuneEvent, FineTuneRequest } from '../engine/fine-tune';
import { activeRunStatuses, type RunInfo } from '../../shared/protocol';

/** A run as the journal holds it. */
export interface JournalRun {
  info: RunInfo;
  request: FineTuneRequest;
  events: FineTuneEvent[];
}

type Line =
  | { kind: 'run'; run: RunInfo; request: FineTuneRequest }
  | { kind: 'event'; event: FineTuneEvent }
  | { kind: 'status'; run: RunInfo };

const SUFFIX = '.jsonl';

export class RunJournal {
  private failed = false;

  /** Keeps the newest `keep` runs; older files are removed as new runs start. */
  constructor(
    private readonly dir: string,
    private readonly keep = 20,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  /** Every run on disk, oldest first. Runs that were still going when their server died come back `interrupted`. */
  load(): JournalRun[] {
    const runs: JournalRun[] = [];
    for (const file of this.files()) {
      const run = readRun(join(this.dir, file));
      if (!run) continue;
      if (activeRunStatuses.includes(run.info.status)) {
        run.info = { ...run.info, status: 'interrupted', activity: undefined };
        this.status(run.info);
      }
      runs.push(run);
    }
    return runs.sort((a, b) => a.info.id.localeCompare(b.info.id));
  }

  create(info: RunInfo, request: FineTuneRequest): void {
    this.append(info.id, { kind: 'run', run: info, request });
    this.prune();
  }

  event(runId: string, event: FineTuneEvent): void {
    this.append(runId, { kind: 'event', event });
  }

  status(info: RunInfo): void {
    this.append(info.id, { kind: 'status', run: info });
  }

  private append(runId: string, line: Line): void {
    if (this.failed) return;
    try {
      mkdirSync(this.dir, { recursive: true });
      appendFileSync(join(this.dir, `${runId}${SUFFIX}`), `${JSON.stringify(line)}\n`);
    } catch (error) {
      // A full disk or a read-only storage folder must not stop training: the history stays in memory.
      this.failed = true;
      this.log(`Cannot write the training journal in ${this.dir}: ${(error as Error).message}`);
    }
  }

  private prune(): void {
    const files = this.files().sort();
    for (const file of files.slice(0, Math.max(0, files.length - this.keep))) rmSync(join(this.dir, file), { force: true });
  }

  private files(): string[] {
    try {
      return readdirSync(this.dir).filter((name) => name.endsWith(SUFFIX));
    } catch {
      return [];
    }
  }
}

function readRun(file: string): JournalRun | undefined {
  let run: JournalRun | undefined;
  for (const text of readFileSync(file, 'utf8').split('\n')) {
    const line = parseLine(text);
    if (line?.kind === 'run') run = { info: line.run, request: line.request, events: [] };
    else if (line?.kind === 'event') run?.events.push(line.event);
    else if (line?.kind === 'status' && run) run.info = line.run;
  }
  return run;
}

function parseLine(text: string): Line | undefined {
  if (!text.trim()) return undefined;
  try {
    const line = JSON.parse(text) as Line;
    return typeof line === 'object' && line !== null && typeof line.kind === 'string' ? line : undefined;
  } catch {
    return undefined;
  }
}
