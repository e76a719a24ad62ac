/**
 * The server's run bookkeeping (src/server/training/runs.ts and journal.ts) with a fake engine:
 * one run at a time, each run's whole history kept apart from the others, stop, failures with the
 * user's mistake attached, the journal that outlives a server (runs cut short come back
 * `interrupted`), and resuming with the history up to the last checkpoint.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../src/server/engine/errors';
import type { FineTuneEvent, FineTuneHooks, FineTuneRequest } from '../../../src/server/engine/fine-tune';
import { RunJournal } from '../../../src/server/training/journal';
import { TrainingRuns, type FineTune } from '../../../src/server/training/runs';
import type { RunEventParams, StartRunParams } from '../../../src/shared/protocol';

const scratch = mkdtempSync(join(tmpdir(), 'runs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A fake engine: emits start, `steps` steps (one per tick, so that a stop lands between them), an eval and done. */
function fakeEngine(steps = 5): { fineTune: FineTune; requests: FineTuneRequest[] } {
  const requests: FineTuneRequest[] = [];
  const fineTune: FineTune = async (request, { onEvent, signal }: FineTuneHooks) => {
    requests.push(request);
    const emit = (e: FineTuneEvent) => onEvent?.(e);
    const from = request.resume ? 2 : 0;
    emit({ event: 'start', runId: 'x', modelRef: request.model, backend: 'fake', workers: 1, totalSteps: steps, stepsPerEpoch: steps, epochs: 1, numTrain: 10, numValidation: 2, numTest: 2, labels: ['a', 'b'], numParameters: 1, trainableParameters: 1, ...(from ? { resumedFromStep: from } : {}) });
    let status: 'completed' | 'cancelled' = 'completed';
    let step = from;
    for (; step < steps; step++) {
      await new Promise((r) => setTimeout(r, 1));
      if (signal?.aborted) {
        status = 'cancelled';
        break;
      }
      emit({ event: 'step', step: step + 1, totalSteps: steps, epoch: (step + 1) / steps, loss: 1 / (step + 1), learningRate: 1e-3, gradNorm: 1, samplesPerSec: 10, elapsedSec: 1, etaSec: steps - step - 1 });
    }
    const metrics = { n: 2, accuracy: 0.5, macroF1: 0.4, perClass: {}, confusion: [], loss: 0.7 };
    emit({ event: 'eval', step, epoch: step / steps, split: 'validation', metrics, isBest: true });
    emit({ event: 'done', status, modelDir: request.outDir, steps: step, bestStep: step, best: metrics, elapsedSec: 1 });
    return {};
  };
  return { fineTune, requests };
}

function params(name: string): StartRunParams {
  return { title: name, request: { data: `/data/${name}.csv`, model: 'builtin:tiny-bert', outDir: join(scratch, 'models', name) } };
}

function finished(runs: TrainingRuns): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (runs.activeRun ? setTimeout(poll, 5) : resolve());
    poll();
  });
}

test('a run reports every change, ends with its status, and keeps its whole history', async () => {
  const seen: RunEventParams[] = [];
  const runs = new TrainingRuns({ notify: (p) => seen.push(p), fineTune: fakeEngine().fineTune });
  const run = runs.start(params('reviews'));
  assert.equal(run.status, 'preparing');
  assert.match(run.id, /^\d{8}-\d{6}\.\d{3}-[0-9a-f]{4}$/);
  await finished(runs);
  const history = runs.history(run.id)!;
  assert.equal(history.run.status, 'completed');
  assert.deepEqual(history.events.map((e) => e.event), ['start', 'step', 'step', 'step', 'step', 'step', 'eval', 'done']);
  assert.deepEqual(history.run.progress, { step: 5, totalSteps: 5, epoch: 1, epochs: 1, loss: 0.2, samplesPerSec: 10, etaSec: 0 });
  assert.equal(history.run.best?.accuracy, 0.5);
  assert.equal(seen[0].run.status, 'preparing');
  // Each event's notification says where it sits in the history.
  const indexed = seen.filter((p) => p.event);
  assert.deepEqual(indexed.map((p) => p.index), indexed.map((_, i) => i));
});

test('one run at a time; two runs one after the other are kept apart, newest first', async () => {
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: fakeEngine().fineTune });
  const first = runs.start(params('one'));
  assert.throws(() => runs.start(params('two')), (e: unknown) => e instanceof UserError && /already in progress/.test(e.message));
  await finished(runs);
  const second = runs.start(params('two'));
  await finished(runs);
  assert.deepEqual(runs.list().map((r) => r.id), [second.id, first.id]);
  assert.equal(runs.history(first.id)!.events.length, 8);
  assert.equal(runs.history(second.id)!.events.length, 8);
  assert.notEqual(first.outDir, second.outDir);
});

test('stop ends the active run as cancelled; stopping another id does nothing', async () => {
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: fakeEngine(1000).fineTune });
  const run = runs.start(params('long'));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runs.stop('20000101-000000.000-0000'), false);
  assert.equal(runs.stop(run.id), true);
  await finished(runs);
  const info = runs.history(run.id)!.run;
  assert.equal(info.status, 'cancelled');
  assert.ok(info.progress!.step < 1000);
});

test("a failed run keeps the user's mistake, with its file and line", async () => {
  const failures: unknown[] = [];
  const fineTune: FineTune = async () => {
    throw new UserError({ kind: 'empty-label', message: 'Line 4 has a text but no label.', file: '/data/bad.csv', line: 4, fix: 'Fill in the label.' });
  };
  const runs = new TrainingRuns({ notify: () => undefined, fineTune, onFailed: (_, e) => failures.push(e) });
  const run = runs.start(params('bad'));
  await finished(runs);
  const info = runs.history(run.id)!.run;
  assert.equal(info.status, 'failed');
  assert.deepEqual(info.error, { message: 'Line 4 has a text but no label.', kind: 'empty-label', file: '/data/bad.csv', line: 4, fix: 'Fill in the label.' });
  assert.equal(failures.length, 1);
  assert.equal(runs.activeRun, undefined, 'a failed run frees the slot');
});

test('the journal outlives the server: runs come back, one cut short comes back interrupted', async () => {
  const dir = join(scratch, 'journal');
  const engine = fakeEngine();
  const first = new TrainingRuns({ notify: () => undefined, fineTune: engine.fineTune, journal: new RunJournal(dir) });
  const done = first.start(params('kept'));
  await finished(first);
  // A run whose server died mid-way: its journal ends while it was training.
  const hanging = new TrainingRuns({ notify: () => undefined, fineTune: () => new Promise(() => undefined), journal: new RunJournal(dir) });
  const cut = hanging.start(params('cut'));

  const restarted = new TrainingRuns({ notify: () => undefined, journal: new RunJournal(dir) });
  assert.deepEqual(restarted.list().map((r) => [r.id, r.status]), [[cut.id, 'interrupted'], [done.id, 'completed']]);
  assert.deepEqual(restarted.history(done.id)!.events, first.history(done.id)!.events);
  assert.equal(restarted.activeRun, undefined);
});

test("a run that did not learn carries the engine's small-data warning in its summary, which the journal keeps", async () => {
  const learning = {
    kind: 'no-learning' as const, best: 0.5, baseline: 0.5, baselineLabel: 'a', margin: 0.69, numTrain: 10, numValidation: 2,
    message: "Validation accuracy 50.0% is no better than always answering 'a' (50.0%): the model did not learn from 10 training examples.",
    advice: [{ kind: 'more-data' as const, message: 'Label more examples.' }],
  };
  const engine = fakeEngine();
  const warns: FineTune = (request, hooks) => engine.fineTune(request, { ...hooks, onEvent: (e) => hooks.onEvent?.(e.event === 'done' ? { ...e, learning } : e) });
  const dir = join(scratch, 'journal-learning');
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: warns, journal: new RunJournal(dir) });
  const run = runs.start(params('small'));
  assert.equal(run.learning, undefined);
  await finished(runs);
  assert.deepEqual(runs.history(run.id)!.run.learning, learning);
  assert.deepEqual(new TrainingRuns({ notify: () => undefined, journal: new RunJournal(dir) }).history(run.id)!.run.learning, learning);
  // A run that learned has none.
  const plain = new TrainingRuns({ notify: () => undefined, fineTune: engine.fineTune });
  const learned = plain.start(params('big'));
  await finished(plain);
  assert.equal(plain.history(learned.id)!.run.learning, undefined);
});

test('the journal keeps the newest runs only', async () => {
  const dir = join(scratch, 'journal-pruned');
  const journal = new RunJournal(dir, 2);
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: fakeEngine(1).fineTune, journal, keep: 2 });
  for (const name of ['a', 'b', 'c']) {
    runs.start(params(name));
    await finished(runs);
  }
  assert.equal(runs.list().length, 2);
  assert.equal(new RunJournal(dir).load().length, 2);
});

test('resume continues a stopped run from its checkpoint, with the history up to that step', async () => {
  const engine = fakeEngine(1000);
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: engine.fineTune });
  const p = params('resumable');
  const run = runs.start(p);
  await new Promise((r) => setTimeout(r, 30));
  runs.stop();
  await finished(runs);
  // The engine's checkpoint folder of step 2 (the fake resumes from there).
  const checkpoint = join(p.request.outDir, 'checkpoints', 'step-2');
  mkdirSync(checkpoint, { recursive: true });
  writeFileSync(join(checkpoint, 'trainer_state.json'), '{}');

  const resumed = runs.resume(run.id);
  assert.equal(resumed.resumedFrom, run.id);
  assert.notEqual(resumed.id, run.id);
  // The old run's steps up to the checkpoint, then the resumed run's own events.
  const events = runs.history(resumed.id)!.events;
  assert.deepEqual(events.slice(0, 3).map((e) => (e.event === 'step' ? e.step : e.event)), [1, 2, 'start']);
  assert.equal(events[2].event === 'start' && events[2].resumedFromStep, 2);
  runs.stop();
  await finished(runs);
  assert.equal(engine.requests.at(-1)!.resume, true);
  assert.equal(engine.requests.at(-1)!.outDir, p.request.outDir);
  assert.throws(() => runs.resume(runs.list().find((r) => r.status === 'completed')?.id ?? 'nope'), UserError);
});

test('shutting down interrupts the active run (it stays resumable)', async () => {
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: fakeEngine(1000).fineTune });
  const run = runs.start(params('shutdown'));
  await new Promise((r) => setTimeout(r, 20));
  await runs.shutdown(1000);
  assert.equal(runs.history(run.id)!.run.status, 'interrupted');
});

test('a run cut short comes back with the progress its events had reached', async () => {
  const dir = join(scratch, 'journal-progress');
  // An engine that reports a start and three steps, then never returns (its server "dies").
  const fineTune: FineTune = async (request, { onEvent }) => {
    onEvent?.({ event: 'start', runId: 'x', modelRef: request.model, backend: 'fake', workers: 1, totalSteps: 10, stepsPerEpoch: 5, epochs: 2, numTrain: 10, numValidation: 2, numTest: 2, labels: ['a', 'b'], numParameters: 1, trainableParameters: 1 });
    for (let step = 1; step <= 3; step++) {
      onEvent?.({ event: 'step', step, totalSteps: 10, epoch: step / 5, loss: 1 / step, learningRate: 1e-3, gradNorm: 1, samplesPerSec: 10, elapsedSec: step, etaSec: 10 - step });
    }
    return new Promise(() => undefined);
  };
  const cut = new TrainingRuns({ notify: () => undefined, fineTune, journal: new RunJournal(dir) }).start(params('progress'));
  await new Promise((r) => setTimeout(r, 10));
  const info = new TrainingRuns({ notify: () => undefined, journal: new RunJournal(dir) }).history(cut.id)!.run;
  assert.equal(info.status, 'interrupted');
  assert.equal(info.progress?.step, 3);
  assert.equal(info.progress?.totalSteps, 10);
  assert.equal(info.backend, 'fake');
});

// ---- a run that adapts its base model to the dataset first (masked LM), then fine-tunes ---------

/**
 * A fake engine with `adaptSteps`: the masked-LM phase as fineTune reports it (start and steps with
 * phase 'mlm', counted from 1, then one held-out mlm-eval and no done of its own), `<out>/adapted`
 * written once it finished, then the fake fine-tuning above (`steps` steps). A resumed run whose
 * adapted model is there does not adapt again. `hold`: the run waits after the masked-LM phase until it resolves.
 */
function adaptingEngine({ hold, steps = 5 }: { hold?: Promise<void>; steps?: number } = {}): FineTune {
  const inner = fakeEngine(steps);
  return async (request, hooks) => {
    const emit = (e: FineTuneEvent) => hooks.onEvent?.(e);
    const adaptSteps = request.adaptSteps ?? 0;
    if (adaptSteps > 0 && !(request.resume && existsSync(join(request.outDir, 'adapted', 'config.json')))) {
      emit({ event: 'start', phase: 'mlm', runId: 'm', modelRef: request.model, backend: 'fake', workers: 1, totalSteps: adaptSteps, stepsPerEpoch: adaptSteps, epochs: 1, numTrain: 12, numValidation: 2, numTest: 0, labels: [], numParameters: 1, trainableParameters: 1 });
      for (let step = 1; step <= adaptSteps; step++) {
        emit({ event: 'step', phase: 'mlm', step, totalSteps: adaptSteps, epoch: step / adaptSteps, loss: 9 - step, learningRate: 1e-3, gradNorm: 1, samplesPerSec: 10, elapsedSec: step, etaSec: adaptSteps - step });
      }
      emit({ event: 'mlm-eval', step: adaptSteps, epoch: 1, metrics: { loss: 5.5, accuracy: 0.25, tokens: 40 } });
      mkdirSync(join(request.outDir, 'adapted'), { recursive: true });
      writeFileSync(join(request.outDir, 'adapted', 'config.json'), '{}');
    }
    await hold;
    return inner.fineTune(request, hooks);
  };
}

function adaptParams(name: string, adaptSteps: number): StartRunParams {
  const p = params(name);
  return { ...p, request: { ...p.request, adaptSteps } };
}

/** `start:mlm`, `mlm-3` (a masked-LM step), `3` (a fine-tuning step), `mlm-eval`, `eval`, … */
const label = (e: FineTuneEvent) =>
  e.event === 'step' ? `${e.phase === 'mlm' ? 'mlm-' : ''}${e.step}` : `${e.event}${e.event === 'start' && e.phase === 'mlm' ? ':mlm' : ''}`;

test('adapting first: the run says which phase it is in, and each phase counts its own steps', async () => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const seen: RunEventParams[] = [];
  const runs = new TrainingRuns({ notify: (p) => seen.push(p), fineTune: adaptingEngine({ hold }) });
  const run = runs.start(adaptParams('adapting', 3));
  await new Promise((r) => setTimeout(r, 10));
  // Held after the masked-LM phase: the summary is that phase's.
  let info = runs.history(run.id)!.run;
  assert.equal(info.status, 'training');
  assert.equal(info.phase, 'mlm');
  assert.deepEqual(info.progress, { step: 3, totalSteps: 3, epoch: 1, epochs: 1, loss: 6, samplesPerSec: 10, etaSec: 0 });
  assert.equal(info.best, undefined, 'a masked-LM evaluation is not a validation result');
  release();
  await finished(runs);
  info = runs.history(run.id)!.run;
  assert.equal(info.phase, 'fine-tune');
  assert.equal(info.status, 'completed');
  assert.deepEqual(info.progress, { step: 5, totalSteps: 5, epoch: 1, epochs: 1, loss: 0.2, samplesPerSec: 10, etaSec: 0 });
  assert.equal(info.best?.accuracy, 0.5);
  assert.deepEqual(runs.history(run.id)!.events.map(label), ['start:mlm', 'mlm-1', 'mlm-2', 'mlm-3', 'mlm-eval', 'start', '1', '2', '3', '4', '5', 'eval', 'done']);
  // Every notification carries the phase the run was in when it was sent.
  const phases = seen.filter((p) => p.event?.event === 'step').map((p) => p.run.phase);
  assert.deepEqual(phases, ['mlm', 'mlm', 'mlm', 'fine-tune', 'fine-tune', 'fine-tune', 'fine-tune', 'fine-tune']);
});

test('adapting first: a run cut short comes back from the journal in the phase it had reached', async () => {
  const dir = join(scratch, 'journal-adapting');
  const cut = new TrainingRuns({ notify: () => undefined, fineTune: adaptingEngine({ hold: new Promise(() => undefined) }), journal: new RunJournal(dir) });
  const run = cut.start(adaptParams('adapting-cut', 2));
  await new Promise((r) => setTimeout(r, 10));
  const info = new TrainingRuns({ notify: () => undefined, journal: new RunJournal(dir) }).history(run.id)!.run;
  assert.equal(info.status, 'interrupted');
  assert.equal(info.phase, 'mlm');
  assert.equal(info.progress?.step, 2);
  assert.equal(info.progress?.totalSteps, 2);
});

test('adapting first: a resumed run keeps the finished masked-LM phase whole, and fine-tuning up to its checkpoint', async () => {
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: adaptingEngine({ steps: 1000 }) });
  const p = adaptParams('adapted-resume', 4);
  const run = runs.start(p);
  await new Promise((r) => setTimeout(r, 30));
  runs.stop();
  await finished(runs);
  assert.equal(runs.history(run.id)!.run.status, 'cancelled');
  const checkpoint = join(p.request.outDir, 'checkpoints', 'step-2');
  mkdirSync(checkpoint, { recursive: true });
  writeFileSync(join(checkpoint, 'trainer_state.json'), '{}');

  const resumed = runs.resume(run.id);
  await new Promise((r) => setTimeout(r, 10));
  runs.stop();
  await finished(runs);
  const events = runs.history(resumed.id)!.events;
  // The adaptation (4 masked-LM steps, its held-out evaluation), fine-tuning steps 1 and 2, then the resumed run.
  assert.deepEqual(events.slice(0, 9).map(label), ['start:mlm', 'mlm-1', 'mlm-2', 'mlm-3', 'mlm-4', 'mlm-eval', '1', '2', 'start']);
  assert.equal(events.filter((e) => e.event === 'mlm-eval').length, 1, 'the resumed run did not adapt again');
});

test('adapting first: a run cut short while it adapted carries no masked-LM steps over; resumed, it adapts again', async () => {
  const dir = join(scratch, 'journal-adapting-resume');
  const p = adaptParams('adapting-cut-resume', 3);
  const cut = new TrainingRuns({ notify: () => undefined, fineTune: adaptingEngine({ hold: new Promise(() => undefined) }), journal: new RunJournal(dir) }).start(p);
  await new Promise((r) => setTimeout(r, 10));
  rmSync(join(p.request.outDir, 'adapted'), { recursive: true, force: true }); // the server died before the adapted model was saved
  const runs = new TrainingRuns({ notify: () => undefined, fineTune: adaptingEngine(), journal: new RunJournal(dir) });
  const resumed = runs.resume(cut.id);
  await finished(runs);
  const events = runs.history(resumed.id)!.events;
  assert.deepEqual(events.slice(0, 6).map(label), ['start:mlm', 'mlm-1', 'mlm-2', 'mlm-3', 'mlm-eval', 'start']);
  assert.equal(runs.history(resumed.id)!.run.phase, 'fine-tune');
});
