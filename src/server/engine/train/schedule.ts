/**
 * The learning-rate schedule of BERT fine-tuning: linear warmup from 0, then linear decay to 0
 * (Hugging Face's `get_linear_schedule_with_warmup`). `step` counts optimizer steps taken so far,
 * so the first update uses the rate at step 0, exactly as the Trainer does.
 */
export function linearWarmupDecay(baseLr: number, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return (baseLr * step) / Math.max(1, warmupSteps);
  return baseLr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** Warmup steps for a warmup ratio, rounded up as the Trainer does (`math.ceil`). */
export function warmupStepsFor(totalSteps: number, warmupRatio: number): number {
  return Math.ceil(totalSteps * warmupRatio);
}
