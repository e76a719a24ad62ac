/**
 * The server's training runs: one at a time, each with its whole event history, kept apart from
 * the runs before it. Every change is sent to the client as a `runEvent` notification and written
 * to the journal, so a panel that opens later (or after a window reload) replays the history, and
 * a run cut short by a crash or a reload can be continued from its last checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ADAPTED_FOLDER, fineTune, type FineTuneEvent, type FineTuneHooks, type FineTuneRequest } from '../engine/fine-tune';
import { isUserError, UserError } from '../engine/errors';
import { latestCheckpoint } from '../engine/train/checkpoints';
import {
  activeRunStatuses,
  resumableRunStatuses,
  type RunError,
  type RunEventParams,
  type RunHistory,
  type RunInfo,
  type StartRunParams,
} from '../../shared/protocol';
import { isMaskedLMEvent } from '../../shared/run-events';
import type { RunJournal } from './journal';

export type FineTune = (request: FineTuneRequest, hooks: FineTuneHooks) => Promise<unknown>;

export interface RunsOptions {
  /** Tells the client about every change (the `runEvent` notification). */
  notify: (params: RunEventParams) => void;
  journal?: RunJournal;
  /** The engine's entry point; tests give a fake. */
  fineTune?: FineTune;
  /** Told of each failure, e.g. to publish a dataset problem as a diagnostic. */
  onFailed?: (run: RunInfo, error: unknown) => void;
  /** Runs remembered in memory (older ones are forgotten). */
  keep?: number;
}

interface Run {
  info: RunInfo;
  request: FineTuneRequest;
  events: FineTuneEvent[];
}

interface ActiveRun {
  id: string;
  controller: AbortController;
  finished: Promise<void>;
  /** Stopped because the server is shutting down: the run is interrupted, not cancelled. */
  shuttingDown: boolean;
}

export class TrainingRuns {
  private readonly runs = new Map<string, Run>();
  private active: ActiveRun | undefined;

  constructor(private readonly options: RunsOptions) {
    for (const run of options.journal?.load() ?? []) {
      // A run cut short has no last status line: where it got to is in its events.
      if (run.info.status === 'interrupted') run.info = { ...replay(run.info, run.events), status: 'interrupted' };
      this.runs.set(run.info.id, run);
    }
    this.forgetOld();
  }

  /** Newest first. */
  list(): RunInfo[] {
    return [...this.runs.values()].map((run) => run.info).reverse();
  }

  history(runId: string): RunHistory | undefined {
    const run = this.runs.get(runId);
    return run && { run: run.info, events: [...run.events] };
  }

  get activeRun(): RunInfo | undefined {
    return this.active && this.runs.get(this.active.id)?.info;
  }

  /** Starts a run and answers at once; the run reports through notifications. */
  start(params: StartRunParams, continues?: { from: Run; events: FineTuneEvent[] }): RunInfo {
    const busy = this.activeRun;
    if (busy) {
      throw new UserError({
        kind: 'bad-argument',
        message: `A training run is already in progress (${busy.title}).`,
        fix: 'Wait for it to finish, or stop it first.',
      });
    }
    const info: RunInfo = {
      id: newRunId(this.runs),
      title: params.title,
      status: 'preparing',
      createdAt: new Date().toISOString(),
      data: params.request.data,
      model: params.request.model,
      outDir: params.request.outDir,
      ...(continues ? { resumedFrom: continues.from.info.id } : {}),
    };
    const run: Run = { info, request: params.request, events: [...(continues?.events ?? [])] };
    this.runs.set(info.id, run);
    this.forgetOld();
    this.options.journal?.create(info, params.request);
    for (const event of run.events) this.options.journal?.event(info.id, event);
    const controller = new AbortController();
    const active: ActiveRun = { id: info.id, controller, finished: Promise.resolve(), shuttingDown: false };
    this.active = active;
    this.options.notify({ run: info });
    active.finished = this.execute(run, active);
    return info;
  }

  /** Asks the run (the active one when no id is given) to stop after its current step. */
  stop(runId?: string): boolean {
    if (!this.active || (runId !== undefined && runId !== this.active.id)) return false;
    this.active.controller.abort();
    return true;
  }

  /** Continues an interrupted or cancelled run from its last checkpoint, as a new run that starts with the old one's history. */
  resume(runId: string): RunInfo {
    const from = this.runs.get(runId);
    if (!from) throw new UserError({ kind: 'bad-argument', message: `There is no training run ${runId}.`, fix: 'Choose a run from the training panel.' });
    if (!resumableRunStatuses.includes(from.info.status)) {
      throw new UserError({
        kind: 'bad-argument',
        message: `The run ${from.info.title} is ${from.info.status}; only an interrupted or stopped run can be resumed.`,
        fix: 'Start a new run instead.',
      });
    }
    const request: FineTuneRequest = { ...from.request, resume: true, overwrite: false };
    return this.start({ title: from.info.title, request }, { from, events: eventsToContinue(from.events, from.info.outDir) });
  }

  /** On server shutdown: stops the active run and waits a little for it to save a checkpoint. */
  async shutdown(graceMs: number): Promise<void> {
    const active = this.active;
    if (!active) return;
    active.shuttingDown = true;
    active.controller.abort();
    await Promise.race([active.finished, new Promise((resolve) => setTimeout(resolve, graceMs))]);
    const run = this.runs.get(active.id);
    if (run && activeRunStatuses.includes(run.info.status)) this.update(run, { status: 'interrupted' });
  }

  private async execute(run: Run, active: ActiveRun): Promise<void> {
    const request: FineTuneRequest = {
      ...run.request,
      hub: { ...run.request.hub, onProgress: (file) => this.update(run, { activity: `downloading ${file}` }) },
    };
    try {
      await (this.options.fineTune ?? fineTune)(request, {
        signal: active.controller.signal,
        onEvent: (event) => this.record(run, event, active),
      });
      if (activeRunStatuses.includes(run.info.status)) this.update(run, { status: active.shuttingDown ? 'interrupted' : 'completed' });
    } catch (error) {
      this.update(run, { status: 'failed', error: runError(error), finishedAt: new Date().toISOString(), activity: undefined });
      this.options.onFailed?.(run.info, error);
    } finally {
      if (this.active === active) this.active = undefined;
    }
  }

  private record(run: Run, event: FineTuneEvent, active: ActiveRun): void {
    run.events.push(event);
    this.options.journal?.event(run.info.id, event);
    run.info = { ...run.info, ...changesFrom(event, run.info, active.shuttingDown) };
    if (event.event === 'done' || event.event === 'start') this.options.journal?.status(run.info);
    this.options.notify({ run: run.info, event, index: run.events.length - 1 });
  }

  private update(run: Run, changes: Partial<RunInfo>): void {
    run.info = { ...run.info, ...changes };
    this.options.journal?.status(run.info);
    this.options.notify({ run: run.info });
  }

  private forgetOld(): void {
    const keep = this.options.keep ?? 20;
    for (const id of [...this.runs.keys()].slice(0, Math.max(0, this.runs.size - keep))) {
      if (id !== this.active?.id) this.runs.delete(id);
    }
  }
}

/** How an engine event changes what the run's summary says. */
function changesFrom(event: FineTuneEvent, info: RunInfo, shuttingDown: boolean): Partial<RunInfo> {
  switch (event.event) {
    case 'start':
      // Adapting to the dataset (masked LM) comes first, then fine-tuning: each start begins its phase's progress.
      return {
        status: 'training',
        activity: undefined,
        phase: event.phase ?? 'fine-tune',
        backend: event.backend,
        workers: event.workers,
        progress: { step: event.resumedFromStep ?? 0, totalSteps: event.totalSteps, epoch: (event.resumedFromStep ?? 0) / event.stepsPerEpoch, epochs: event.epochs },
      };
    case 'step':
      return {
        progress: {
          ...(info.progress ?? { epochs: Math.ceil(event.epoch) }),
          step: event.step,
          totalSteps: event.totalSteps,
          epoch: event.epoch,
          loss: event.loss,
          samplesPerSec: event.samplesPerSec,
          etaSec: event.etaSec,
        },
      };
    case 'eval': {
      if (event.split !== 'validation') return {};
      // Progress reports are thinned out; an evaluation says exactly where the run is.
      const progress = info.progress && { ...info.progress, step: event.step, epoch: event.epoch };
      if (!event.isBest) return { progress };
      return { progress, best: { step: event.step, epoch: event.epoch, accuracy: event.metrics.accuracy, macroF1: event.metrics.macroF1 } };
    }
    case 'done':
      return {
        status: shuttingDown ? 'interrupted' : event.status,
        finishedAt: new Date().toISOString(),
        learning: event.learning,
        progress: info.progress && { ...info.progress, step: event.steps, etaSec: 0 },
      };
    default:
      return {};
  }
}

function replay(info: RunInfo, events: FineTuneEvent[]): RunInfo {
  return events.reduce((current, event) => ({ ...current, ...changesFrom(event, current, false) }), info);
}

/**
 * The old run's history that a resumed run starts with: its fine-tuning steps and evaluations up to
 * the checkpoint it continues from, and its masked-LM adaptation whole when that finished (the
 * engine then reuses `<out>/adapted` and does not adapt again; otherwise it adapts from the start).
 */
function eventsToContinue(events: FineTuneEvent[], outDir: string): FineTuneEvent[] {
  const step = checkpointStep(outDir);
  const adapted = existsSync(join(outDir, ADAPTED_FOLDER, 'config.json'));
  return events.filter((e) => {
    if (isMaskedLMEvent(e)) return adapted;
    if (step === undefined) return false;
    return (e.event === 'step' || e.event === 'eval') && e.step <= step && !(e.event === 'eval' && e.split === 'test');
  });
}

function checkpointStep(outDir: string): number | undefined {
  const dir = latestCheckpoint(outDir);
  const match = dir && /step-(\d+)$/.exec(basename(dir));
  return match ? Number(match[1]) : undefined;
}

function runError(error: unknown): RunError {
  if (isUserError(error)) return { message: error.message, kind: error.kind, file: error.file, line: error.line, fix: error.fix };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** `20250101-120000.123-a1b2` (UTC): sortable by start time, unique. */
function newRunId(taken: Map<string, unknown>): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 19);
  let id: string;
  do id = `${stamp}-${randomBytes(2).toString('hex')}`;
  while (taken.has(id));
  return id;
}
