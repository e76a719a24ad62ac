/**
 * The headless CLI on the engine: `bert-workbench <command> [options]`. Every command takes `--json`
 * and then prints machine-readable JSON, one object per line, the result last. A mistake the user
 * made ends with exit code 1 and one line on stderr (and a JSON `{"error":…,"file":…,"line":…}`
 * on stdout with --json), never a stack trace.
 */
import { parseArgs } from 'node:util';
import { benchCommand } from './cli/bench';
import type { CliCommand, CliOutput } from './cli/command';
import { datasetsCommand } from './cli/datasets';
import { evalCommand } from './cli/eval';
import { inspectCommand } from './cli/inspect';
import { predictCommand } from './cli/predict';
import { pretrainCommand } from './cli/pretrain';
import { trainCommand } from './cli/train';
import { isUserError } from './server/engine/errors';

const COMMANDS: CliCommand[] = [trainCommand, pretrainCommand, evalCommand, predictCommand, inspectCommand, datasetsCommand, benchCommand];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return ['Usage: bert-workbench <command> [options]   (--help after a command for its options)', '', 'Commands:', ...lines].join('\n');
}

function makeOutput(json: boolean): CliOutput {
  return {
    json,
    event: (obj) => json && console.log(JSON.stringify(obj)),
    result: (obj, human) => console.log(json ? JSON.stringify(obj) : human),
    log: (line) => (json ? console.error(line) : console.log(line)),
  };
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(name && name !== '--help' && name !== '-h' ? `Unknown command "${name}".\n\n${usage()}` : usage());
    return name && name !== '--help' && name !== '-h' ? 2 : 0;
  }
  const json = rest.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(command.usage);
      return 0;
    }
    await command.run(values, positionals, makeOutput(json));
    return 0;
  } catch (e) {
    return reportError(e, json, command);
  }
}

function reportError(e: unknown, json: boolean, command: CliCommand): number {
  if (isUserError(e)) {
    console.error(`error: ${e.describe()}`);
    if (json) console.log(JSON.stringify(e.toJSON()));
    return 1;
  }
  const code = (e as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`error: ${(e as Error).message}\n\n${command.usage}`);
    if (json) console.log(JSON.stringify({ error: (e as Error).message, kind: 'bad-argument' }));
    return 2;
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  return 70; // a bug: keep the stack trace
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
