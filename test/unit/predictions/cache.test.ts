import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../../src/server/predictions/cache';
import { type CancellationLike, CancelledError, PredictionScheduler } from '../../../src/server/predictions/scheduler';

test('the LRU cache keeps the most recently used entries up to its capacity', () => {
  const cache = new LruCache<number>(3);
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('c', 3);
  assert.equal(cache.get('a'), 1); // a is now the most recent: b is the oldest
  cache.set('d', 4);
  assert.equal(cache.size, 3);
  assert.equal(cache.has('b'), false);
  assert.deepEqual(['a', 'c', 'd'].map((k) => cache.get(k)), [1, 3, 4]);
  cache.set('c', 30); // replacing does not grow it
  assert.equal(cache.size, 3);
  assert.equal(cache.get('c'), 30);
  assert.equal(cache.delete('c'), true);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.throws(() => new LruCache(0), RangeError);
});

/** A fake model: records every batch, answers `text.length`. */
function fakeModel(delayMs = 0) {
  const batches: string[][] = [];
  const predict = async (texts: string[]) => {
    batches.push(texts);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return texts.map((t) => ({ label: `len${t.length}` }));
  };
  return { batches, predict };
}

/** A cancellation token the test controls. */
function tokenSource() {
  const listeners: Array<() => void> = [];
  const token: CancellationLike & { cancel(): void } = {
    isCancellationRequested: false,
    onCancellationRequested(listener) {
      listeners.push(listener);
      return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
    },
    cancel() {
      (this as { isCancellationRequested: boolean }).isCancellationRequested = true;
      for (const listener of [...listeners]) listener();
    },
  };
  return token;
}

test('every text is predicted once: repeats within and across requests come from the cache', async () => {
  const model = fakeModel();
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 8 });
  const first = await scheduler.predict(['good', 'bad', 'good', 'fine'], 'visible');
  assert.deepEqual(first.map((p) => p.label), ['len4', 'len3', 'len4', 'len4']);
  const second = await scheduler.predict(['bad', 'awful', 'good'], 'visible');
  assert.deepEqual(second.map((p) => p.label), ['len3', 'len5', 'len4']);
  assert.deepEqual(model.batches, [['good', 'bad', 'fine'], ['awful']]);
  assert.deepEqual(scheduler.stats, { predicted: 4, cacheHits: 2, batches: 2 });
  // A request for known texts only does not touch the model.
  await scheduler.predict(['fine', 'awful'], 'nearby');
  assert.equal(model.batches.length, 2);
});

test('visible texts jump ahead of nearby ones; texts are batched', async () => {
  const model = fakeModel(5);
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 2 });
  const nearby = scheduler.predict(['n1', 'n2', 'n3', 'n4'], 'nearby');
  const visible = scheduler.predict(['v1', 'v2', 'v3'], 'visible');
  await Promise.all([nearby, visible]);
  // Both arrived before the first batch started: the visible ones go first, in batches of two.
  assert.deepEqual(model.batches, [['v1', 'v2'], ['v3'], ['n1', 'n2'], ['n3', 'n4']]);
});

test('a visible request arriving mid-way waits for one batch at most', async () => {
  const model = fakeModel(5);
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 2 });
  const nearby = scheduler.predict(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'], 'nearby');
  while (model.batches.length === 0) await new Promise((r) => setImmediate(r));
  const visible = scheduler.predict(['v1'], 'visible');
  await Promise.all([nearby, visible]);
  assert.deepEqual(model.batches, [['n1', 'n2'], ['v1'], ['n3', 'n4'], ['n5', 'n6']]);
});

test('a cancelled request (a closed file) is dropped; the batch already running is kept in the cache', async () => {
  const model = fakeModel(5);
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 2 });
  const token = tokenSource();
  const closed = scheduler.predict(['a1', 'a2', 'a3', 'a4', 'a5'], 'visible', token);
  while (model.batches.length === 0) await new Promise((r) => setImmediate(r));
  token.cancel();
  await assert.rejects(closed, CancelledError);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(model.batches, [['a1', 'a2']]);
  assert.equal(scheduler.pending, 0);
  // The texts predicted before the cancellation are not predicted again.
  await scheduler.predict(['a1', 'a2', 'a3'], 'visible');
  assert.deepEqual(model.batches, [['a1', 'a2'], ['a3']]);
  // A request cancelled before it starts is refused at once.
  await assert.rejects(scheduler.predict(['zz'], 'visible', token), CancelledError);
});

test('two requests for the same text share one prediction', async () => {
  const model = fakeModel(5);
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 4 });
  const [a, b] = await Promise.all([scheduler.predict(['same', 'x'], 'nearby'), scheduler.predict(['same'], 'visible')]);
  assert.equal(a[0], b[0]);
  assert.deepEqual(model.batches.flat().sort(), ['same', 'x']);
});

test('a failing model fails the requests waiting for that batch and the queue goes on', async () => {
  let calls = 0;
  const scheduler = new PredictionScheduler(
    async (texts: string[]) => {
      calls += 1;
      if (texts.includes('boom')) throw new Error('model failed');
      return texts.map((t) => t.toUpperCase());
    },
    { batchSize: 1 },
  );
  const failing = scheduler.predict(['boom'], 'visible');
  const fine = scheduler.predict(['ok'], 'visible');
  await assert.rejects(failing, /model failed/);
  assert.deepEqual(await fine, ['OK']);
  assert.equal(calls, 2);
});

test("the scheduler reports its cache's fill and capacity: cycling through more texts than it holds, every one misses", async () => {
  const model = fakeModel();
  const scheduler = new PredictionScheduler(model.predict, { batchSize: 4, cacheSize: 5 });
  assert.deepEqual(scheduler.cached, { size: 0, capacity: 5 });
  const texts = ['t0', 't1', 't2', 't3', 't4', 't5', 't6'];
  for (let round = 0; round < 3; round++) for (const text of texts) await scheduler.predict([text], 'visible');
  assert.deepEqual(scheduler.cached, { size: 5, capacity: 5 });
  assert.deepEqual({ predicted: scheduler.stats.predicted, cacheHits: scheduler.stats.cacheHits }, { predicted: 21, cacheHits: 0 });
});
