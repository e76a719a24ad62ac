/**
 * A command line read against the commands and their options. Every mistake is a UsageError of one
 * line (exit code 2): an unknown command or option, with the closest known name when one is close,
 * an option without its value, a value given to a flag, an argument no command expects.
 */
import { parseArgs } from 'node:util';
import type { CliCommand, CliOptions, CliValues } from './command';
import { UsageError } from './options';

/** The options every command has. */
export const COMMON_OPTIONS: CliOptions = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

export interface CommandLine {
  values: CliValues;
  positionals: string[];
  /** --help or -h was given: print the command's usage and do nothing else. */
  help: boolean;
}

/** The command called `name`, or a UsageError naming the closest one. */
export function findCommand(commands: CliCommand[], name: string): CliCommand {
  const command = commands.find((c) => c.name === name);
  if (command) return command;
  if (name.startsWith('-')) {
    throw new UsageError(`the command comes first: bert-workbench <command> [options], not an option ("${name}").`, '"bert-workbench --help" lists the commands.');
  }
  const closest = closestName(name, commands.map((c) => c.name));
  if (closest) throw new UsageError(`unknown command "${name}"; did you mean ${closest}?`);
  throw new UsageError(`unknown command "${name}"; the commands are ${commands.map((c) => c.name).join(', ')}.`, '"bert-workbench --help" says what each does.');
}

export function parseCommandLine(command: CliCommand, args: string[]): CommandLine {
  const options: CliOptions = { ...command.options, ...COMMON_OPTIONS };
  // Not strict: Node's own errors are several lines and name no alternative; the tokens are checked here.
  const { values, positionals, tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  if (values.help === true) return { values, positionals, help: true };
  for (const token of tokens) {
    if (token.kind === 'positional' && !command.positionals) {
      throw new UsageError(`unexpected argument "${token.value}"; ${command.name} takes only options.`, `"bert-workbench ${command.name} --help" lists them.`);
    }
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!spec) throw unknownOption(command, token.rawName, options);
    if (spec.type === 'boolean' && token.inlineValue) {
      throw new UsageError(`${token.rawName} takes no value, not "${token.value}".`, `Write ${token.rawName} alone.`);
    }
    // `--epochs --json`: parseArgs took the next option for the value.
    const swallowed = !token.inlineValue && token.value !== undefined && isOption(token.value, options);
    if (spec.type === 'string' && (token.value === undefined || swallowed)) {
      throw new UsageError(`${token.rawName} needs a value.`, `Write ${token.rawName} <value> (or ${token.rawName}=<value> for a value that starts with -).`);
    }
  }
  return { values, positionals, help: false };
}

function unknownOption(command: CliCommand, rawName: string, options: CliOptions): UsageError {
  const closest = rawName.startsWith('--') ? closestName(rawName.slice(2), Object.keys(options)) : undefined;
  if (closest) return new UsageError(`unknown option ${rawName}; did you mean --${closest}?`);
  return new UsageError(`unknown option ${rawName}; "bert-workbench ${command.name} --help" lists the options.`);
}

function isOption(arg: string, options: CliOptions): boolean {
  if (arg.startsWith('--')) return Object.hasOwn(options, arg.slice(2).split('=')[0]);
  return arg.length === 2 && arg[0] === '-' && Object.values(options).some((o) => o.short === arg[1]);
}

/**
 * The known name nearest to `name`: the only one it is a prefix of, else the nearest by edit
 * distance (a swap of two neighbours counts as one edit) when that is at most 2, and at most a
 * third of the name.
 */
export function closestName(name: string, known: string[]): string | undefined {
  const prefixed = name.length >= 2 ? known.filter((k) => k.startsWith(name)) : [];
  if (prefixed.length === 1) return prefixed[0];
  const limit = Math.min(2, Math.ceil(name.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance with transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
