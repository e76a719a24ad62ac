/**
 * Reading CLI option values into typed, checked values. A value that is missing, malformed or out
 * of range is a UsageError: the command line itself is wrong (exit code 2), unlike a bad file or
 * model, which is a UserError (exit code 1).
 */
import { UserError } from '../server/engine/errors';
import { BACKEND_CHOICES, type BackendChoice } from '../server/engine/backend';
import type { CliOptions, CliValues } from './command';

/** The command line is wrong: an unknown command or option, a missing or bad value. Exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, fix?: string) {
    super({ kind: 'bad-argument', message, fix });
    this.name = 'UsageError';
  }
}

/** Turns a UserError about an option's value, made by the engine, into a UsageError. */
export function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof UserError && !(e instanceof UsageError) && e.kind === 'bad-argument') throw new UsageError(e.message, e.fix);
    throw e;
  }
}

export function stringOption(values: CliValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredString(values: CliValues, name: string): string {
  const v = stringOption(values, name);
  if (v === undefined) {
    throw new UsageError(`--${name} is required.`, `Add --${name} <value>.`);
  }
  return v;
}

export function stringList(values: CliValues, name: string): string[] {
  const v = values[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string');
}

/** An integer option within [min, max]. */
export function intOption(values: CliValues, name: string, min: number, max: number): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${v}".`, `Give --${name} a value in range.`);
  }
  return n;
}

/** A number option within [min, max]. */
export function numberOption(values: CliValues, name: string, min: number, max: number): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, not "${v}".`, `Give --${name} a value in range.`);
  }
  return n;
}

/** A string option that must be one of `choices`. */
export function choiceOption<T extends string>(values: CliValues, name: string, choices: readonly T[]): T | undefined {
  const v = stringOption(values, name);
  if (v === undefined || (choices as readonly string[]).includes(v)) return v as T | undefined;
  throw new UsageError(`--${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, not "${v}".`, 'Choose one of those.');
}

/** The optimisation options that `train` and `pretrain` share (TrainSettings' names in kebab case). */
export const OPTIMIZER_OPTIONS: CliOptions = {
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'max-length': { type: 'string' },
  seed: { type: 'string' },
  'weight-decay': { type: 'string' },
  'warmup-ratio': { type: 'string' },
};

/** The options of every command that loads a model: which backend, and how to reach the Hub. */
export const MODEL_LOADING_OPTIONS: CliOptions = {
  backend: { type: 'string' },
  offline: { type: 'boolean' },
  'cache-dir': { type: 'string' },
};

export function modelLoading(values: CliValues): { backend: BackendChoice; offline: boolean; cacheDir?: string } {
  return {
    backend: backendOption(values),
    offline: values.offline === true,
    cacheDir: stringOption(values, 'cache-dir'),
  };
}

export function backendOption(values: CliValues): BackendChoice {
  return choiceOption(values, 'backend', BACKEND_CHOICES) ?? 'auto';
}
