/**
 * The classifiers the server has loaded, keyed by model reference, so that a model is read from
 * disk once and then answers every request. Concurrent first requests share one load; a load that
 * fails is forgotten, so the next request tries again (after the user fixed the folder, say).
 */
import { resolve } from 'node:path';
import { loadClassifier } from './engine/classifier';

/** How long a forgotten classifier stays usable for the requests that already hold it. */
const FORGOTTEN_GRACE_MS = 60_000;

export type Classifier = Awaited<ReturnType<typeof loadClassifier>>;
export type LoadOptions = NonNullable<Parameters<typeof loadClassifier>[1]>;

export class ClassifierCache {
  private readonly loads = new Map<string, Promise<Classifier>>();

  constructor(private readonly options: LoadOptions) {}

  get(modelRef: string): Promise<Classifier> {
    const cached = this.loads.get(modelRef);
    if (cached) return cached;
    const load = loadClassifier(modelRef, this.options);
    this.loads.set(modelRef, load);
    load.catch(() => {
      if (this.loads.get(modelRef) === load) this.loads.delete(modelRef);
    });
    return load;
  }

  /**
   * Forgets what was loaded from `modelDir` (by any reference to that folder), so that the next
   * request reads it again (e.g. its calibration.json changed). Requests holding it finish first.
   */
  forget(modelDir: string): void {
    for (const [ref, load] of [...this.loads]) {
      if (resolve(ref) !== resolve(modelDir)) continue;
      this.loads.delete(ref);
      setTimeout(() => load.then((classifier) => classifier.dispose(), () => undefined), FORGOTTEN_GRACE_MS).unref();
    }
  }

  dispose(): void {
    for (const load of this.loads.values()) load.then((classifier) => classifier.dispose(), () => undefined);
    this.loads.clear();
  }
}
