/**
 * The headless CLI on the engine: `bert-workbench <command> [options]`. Every command takes `--json`
 * and then prints machine-readable JSON on stdout, one object per line, the result last; warnings
 * and anything else for people go to stderr. `--help` prints usage on stdout (exit code 0). A
 * mistake is one line on stderr (and a JSON `{"error":…,"kind":…,"file":…,"line":…}` on stdout with
 * --json), never a stack trace: exit code 2 when the command line is wrong (a UsageError: unknown
 * command or option, missing or bad value), 1 when a file, a model or the data is (a UserError).
 */
import { findCommand, parseCommandLine } from './cli/args';
import { benchCommand } from './cli/bench';
import type { CliCommand, CliOutput } from './cli/command';
import { datasetsCommand } from './cli/datasets';
import { escapeForTerminal, escapeLines, jsonLine } from './cli/echo';
import { evalCommand } from './cli/eval';
import { inspectCommand } from './cli/inspect';
import { UsageError } from './cli/options';
import { predictCommand } from './cli/predict';
import { pretrainCommand } from './cli/pretrain';
import { trainCommand } from './cli/train';
import { isUserError } from './server/engine/errors';

const COMMANDS: CliCommand[] = [trainCommand, pretrainCommand, evalCommand, predictCommand, inspectCommand, datasetsCommand, benchCommand];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return ['Usage: bert-workbench <command> [options]   (--help after a command for its options)', '', 'Commands:', ...lines].join('\n');
}

/** stdout, written directly: with --json, console.log is sent to stderr (see makeOutput). */
function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function makeOutput(json: boolean, streams: boolean): CliOutput {
  if (json) {
    // Whatever a library prints is not one of our JSON lines: it goes to stderr.
    console.log = console.info = console.debug = console.error;
  }
  return {
    json,
    event: (obj) => json && print(jsonLine(obj)),
    result: (obj, human) => print(json ? jsonLine(obj) : escapeLines(human)),
    log: (line) => (json ? console.error(escapeLines(line)) : print(escapeLines(line))),
    warn: (message) => {
      console.error(`warning: ${escapeForTerminal(message)}`);
      if (json && streams) print(jsonLine({ event: 'warning', message }));
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const about = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    print(about ? about.usage : usage());
    return 0;
  }
  const json = argv.includes('--json');
  try {
    const command = findCommand(COMMANDS, name);
    const line = parseCommandLine(command, rest);
    if (line.help) {
      print(command.usage);
      return 0;
    }
    await command.run(line.values, line.positionals, makeOutput(json, command.streams === true));
    return 0;
  } catch (e) {
    return reportError(e, json);
  }
}

function reportError(e: unknown, json: boolean): number {
  if (isUserError(e)) {
    console.error(`error: ${escapeForTerminal(e.describe())}`);
    if (json) print(jsonLine(e.toJSON()));
    return e instanceof UsageError ? 2 : 1;
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  return 70; // a bug: keep the stack trace
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
