// One code-server for the whole suite (docs E2E.md: "start one server per suite, not per test").
// run.mjs starts it, with the .vsix installed, before the test files and stops it after them; each
// file runs in a process of its own (node:test) and finds the server through the environment
// variable BERT_E2E_SERVER. Files open their own workspace folders in it (`/?folder=…`), so they do
// not share editor state. A file run on its own (`node --test x.e2e.mjs`) starts a server itself.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CodeServer } from './code-server.mjs';
import { killProcessTreeNow } from './processes.mjs';

const VARIABLE = 'BERT_E2E_SERVER';

/** What a test file needs of the server: the same fields as a `CodeServer`, as plain data. */
function describe(server) {
  return { url: server.url, run: server.run, port: server.port, pid: server.pid, logFile: server.logFile, env: server.env, dirs: server.dirs };
}

/**
 * Starts the suite's server (called by run.mjs) and exports it to the test files' processes.
 * Returns `stop()`; the server is also killed if this process exits without calling it.
 */
export async function startSuiteServer(vsix) {
  const run = mkdtempSync(join(tmpdir(), 'bert-workbench-e2e-suite-'));
  const server = await CodeServer.create(run);
  const kill = () => server.pid && killProcessTreeNow(server.pid);
  const interrupted = () => {
    kill();
    process.exit(130);
  };
  process.once('exit', kill);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, interrupted);
  try {
    await server.installExtension(vsix);
    const home = join(run, 'workspaces');
    mkdirSync(home, { recursive: true });
    await server.start(home);
  } catch (error) {
    await server.stop();
    throw error;
  }
  process.env[VARIABLE] = JSON.stringify(describe(server));
  return {
    server,
    async stop({ keep = false } = {}) {
      delete process.env[VARIABLE];
      process.off('exit', kill);
      for (const signal of ['SIGINT', 'SIGTERM']) process.off(signal, interrupted);
      const killed = await server.stop();
      if (!keep) rmSync(run, { recursive: true, force: true });
      return { killed, run };
    },
  };
}

/**
 * The suite's server when run.mjs started one; else a server of this file's own (with `vsix`
 * installed). `release({ keep })` stops the server only when it is this file's own (`keep`: leave
 * its folder, with the logs, for inspection).
 */
export async function suiteServer(vsix) {
  const shared = process.env[VARIABLE];
  if (shared) return { server: JSON.parse(shared), shared: true, release: async () => 0 };
  const own = await startSuiteServer(vsix);
  return { server: describe(own.server), shared: false, release: async (options) => (await own.stop(options)).killed };
}

/** A fresh folder under the system's temporary folder for one file's workspace and browser. */
export function scratchFolder(name) {
  return mkdtempSync(join(tmpdir(), `bert-workbench-e2e-${name}-`));
}
