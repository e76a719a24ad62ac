/** What the extension, the server and the panel read the same way in a run's events. */
import type { FineTuneEvent } from '../server/engine/fine-tune';

/**
 * The events of the masked-LM adaptation that comes before fine-tuning when a run adapts its base
 * model to the dataset's text first (`FineTuneRequest.adaptSteps`): its start, its steps (both with
 * `phase: 'mlm'`, and steps counted from 1 again) and its held-out evaluation.
 */
export function isMaskedLMEvent(event: FineTuneEvent): boolean {
  return ((event.event === 'start' || event.event === 'step') && event.phase === 'mlm') || event.event === 'mlm-eval';
}
