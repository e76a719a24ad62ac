/**
 * The server's queue of texts to predict for annotations and hovers. Texts the editor shows jump
 * ahead of texts near them; every text is predicted once and then answered from a cache keyed by the
 * text; a request whose document was closed or scrolled away is cancelled and its texts dropped
 * (the batch already computing finishes and is cached, so no work is thrown away).
 *
 * Work happens in small batches with a turn of the event loop between them, so a new visible
 * request, a cancellation or any other LSP message waits at most one batch.
 */
import { LruCache } from './cache';

export type Priority = 'visible' | 'nearby';
const RANK: Record<Priority, number> = { visible: 0, nearby: 1 };

/** What a JSON-RPC `CancellationToken` (or a test's stand-in) offers. */
export interface CancellationLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

export class CancelledError extends Error {
  constructor() {
    super('The prediction request was cancelled.');
    this.name = 'CancelledError';
  }
}

export interface SchedulerOptions {
  /** Texts per forward pass: small enough that a visible request never waits long. */
  batchSize?: number;
  /** Predictions kept, by text. */
  cacheSize?: number;
}

export interface SchedulerStats {
  /** Texts run through the model. */
  predicted: number;
  /** Texts answered from the cache. */
  cacheHits: number;
  batches: number;
}

interface Job<P> {
  texts: readonly string[];
  priority: Priority;
  seq: number;
  /** Texts still to predict. */
  remaining: Set<string>;
  found: Map<string, P>;
  resolve(predictions: P[]): void;
  reject(error: unknown): void;
  stopListening(): void;
}

export class PredictionScheduler<P> {
  readonly stats: SchedulerStats = { predicted: 0, cacheHits: 0, batches: 0 };
  private readonly cache: LruCache<P>;
  private readonly batchSize: number;
  private readonly jobs = new Set<Job<P>>();
  private seq = 0;
  private pumping = false;

  constructor(
    private readonly predictBatch: (texts: string[]) => Promise<P[]>,
    options: SchedulerOptions = {},
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? 16);
    this.cache = new LruCache<P>(options.cacheSize ?? 20_000);
  }

  /** One prediction per text, in order. Rejects with `CancelledError` when `token` is cancelled first. */
  predict(texts: readonly string[], priority: Priority = 'visible', token?: CancellationLike): Promise<P[]> {
    if (token?.isCancellationRequested) return Promise.reject(new CancelledError());
    const found = new Map<string, P>();
    const remaining = new Set<string>();
    for (const text of texts) {
      if (found.has(text) || remaining.has(text)) continue;
      const cached = this.cache.get(text);
      if (cached === undefined) remaining.add(text);
      else {
        found.set(text, cached);
        this.stats.cacheHits += 1;
      }
    }
    if (remaining.size === 0) return Promise.resolve(texts.map((text) => found.get(text) as P));

    return new Promise<P[]>((resolve, reject) => {
      const job: Job<P> = { texts, priority, seq: this.seq++, remaining, found, resolve, reject, stopListening: () => undefined };
      const subscription = token?.onCancellationRequested(() => {
        if (this.finish(job)) reject(new CancelledError());
      });
      if (subscription) job.stopListening = () => subscription.dispose();
      this.jobs.add(job);
      void this.pump();
    });
  }

  /** Requests waiting (for tests and logs). */
  get pending(): number {
    return this.jobs.size;
  }

  /** Predictions cached now, and the most the cache keeps (for the soak benchmark). */
  get cached(): { size: number; capacity: number } {
    return { size: this.cache.size, capacity: this.cache.capacity };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.jobs.size > 0) {
        // Let requests and cancellations that arrived meanwhile take their place in the queue.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = this.nextBatch();
        if (batch.length === 0) continue;
        let predictions: P[];
        try {
          predictions = await this.predictBatch(batch);
        } catch (error) {
          this.failWaitingFor(batch, error);
          continue;
        }
        this.stats.batches += 1;
        this.stats.predicted += batch.length;
        const results = new Map<string, P>();
        batch.forEach((text, i) => {
          this.cache.set(text, predictions[i]);
          results.set(text, predictions[i]);
        });
        this.deliver(results);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Up to `batchSize` texts of the most urgent requests, all of the same priority. */
  private nextBatch(): string[] {
    const ordered = [...this.jobs].sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.seq - b.seq);
    const batch = new Set<string>();
    const priority = ordered[0]?.priority;
    for (const job of ordered) {
      if (job.priority !== priority) break;
      for (const text of job.remaining) {
        if (batch.size >= this.batchSize) return [...batch];
        batch.add(text);
      }
    }
    return [...batch];
  }

  private deliver(results: ReadonlyMap<string, P>): void {
    for (const job of [...this.jobs]) {
      for (const text of job.remaining) {
        const prediction = results.get(text);
        if (prediction === undefined) continue;
        job.remaining.delete(text);
        job.found.set(text, prediction);
      }
      if (job.remaining.size === 0 && this.finish(job)) job.resolve(job.texts.map((text) => job.found.get(text) as P));
    }
  }

  private failWaitingFor(batch: readonly string[], error: unknown): void {
    for (const job of [...this.jobs]) {
      if (batch.some((text) => job.remaining.has(text)) && this.finish(job)) job.reject(error);
    }
  }

  /** Takes a job off the queue; false when it already was. */
  private finish(job: Job<P>): boolean {
    if (!this.jobs.delete(job)) return false;
    job.stopListening();
    return true;
  }
}
