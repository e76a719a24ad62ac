/** Reading CLI option values into typed, checked values. */
import { UserError } from '../server/engine/errors';
import type { BackendChoice } from '../server/engine/backend';
import type { CliOptions, CliValues } from './command';

export function stringOption(values: CliValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredString(values: CliValues, name: string): string {
  const v = stringOption(values, name);
  if (v === undefined) {
    throw new UserError({ kind: 'bad-argument', message: `--${name} is required.`, fix: `Add --${name} <value>.` });
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
    throw new UserError({ kind: 'bad-argument', message: `--${name} must be a whole number from ${min} to ${max}, not "${v}".`, fix: `Give --${name} a value in range.` });
  }
  return n;
}

/** A number option within [min, max]. */
export function numberOption(values: CliValues, name: string, min: number, max: number): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UserError({ kind: 'bad-argument', message: `--${name} must be a number from ${min} to ${max}, not "${v}".`, fix: `Give --${name} a value in range.` });
  }
  return n;
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
    backend: (stringOption(values, 'backend') ?? 'auto') as BackendChoice,
    offline: values.offline === true,
    cacheDir: stringOption(values, 'cache-dir'),
  };
}
