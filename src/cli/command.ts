/**
 * The shape every CLI command has. `src/cli.ts` dispatches `argv[2]` to the command of that name;
 * each command lives in its own file under `src/cli/` and declares its options for Node's
 * `util.parseArgs`.
 */
import type { ParseArgsConfig } from 'node:util';

export type CliOptions = NonNullable<ParseArgsConfig['options']>;
export type CliValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Where a command's output goes. With --json, stdout holds nothing but JSON objects, one a line;
 * for people, user text in `result` and `log` is shown with control and bidi characters escaped.
 */
export interface CliOutput {
  /** `--json` was given: print machine-readable JSON only (one object per line). */
  readonly json: boolean;
  /** A JSON event (with --json) — ignored otherwise. */
  event(obj: object): void;
  /** The final result: JSON with --json, else `human` (text) is printed. */
  result(obj: object, human: string): void;
  /** A line for people (stderr with --json so stdout stays pure JSON). */
  log(line: string): void;
  /** `warning: …` on stderr; with --json, a command that streams events also prints `{"event":"warning","message":…}`. */
  warn(message: string): void;
}

export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  options: CliOptions;
  /** It reads arguments that are not options (bench's mode); other commands refuse them. */
  positionals?: boolean;
  /** With --json it prints events as it works (train, pretrain), its result last. */
  streams?: boolean;
  run(values: CliValues, positionals: string[], out: CliOutput): Promise<void>;
}

/**
 * Ctrl-C asks a long run to stop at the next step (it keeps what it has: the best weights, or a
 * checkpoint); a second Ctrl-C quits at once.
 */
export function interruptSignal(whatHappens: string): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    console.error(`Stopping after this step${whatHappens} (Ctrl-C again to quit now)…`);
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return controller.signal;
}
