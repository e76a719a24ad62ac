/**
 * The classifiers the server has loaded, keyed by model reference, so that a model is read from
 * disk once and then answers every request. Concurrent first requests share one load; a load that
 * fails is forgotten, so the next request tries again (after the user fixed the folder, say).
 */
import { loadClassifier } from './engine/classifier';

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

  dispose(): void {
    for (const load of this.loads.values()) load.then((classifier) => classifier.dispose(), () => undefined);
    this.loads.clear();
  }
}
