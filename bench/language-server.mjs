// The built language server (dist/server.js) as a child process over stdio, spoken to with
// vscode-jsonrpc as the extension's client speaks to it (the method names of src/shared/protocol.ts).
// Used by the soak benchmarks (bench/soak-train.mjs, bench/soak-predict.mjs).
//
// The server is `<root>/dist/server.js`, or `$BENCH_DIST/server.js` when BENCH_DIST names another
// folder: a copy of dist/ (`cp -r dist /tmp/dist-soak`) that a rebuild (`npm run build` replaces
// dist/ and its native .node files) cannot pull from under a long soak.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

export const methods = {
  engineInfo: 'bertWorkbench/engineInfo',
  predictInline: 'bertWorkbench/predictInline',
  startRun: 'bertWorkbench/startRun',
  runEvent: 'bertWorkbench/runEvent',
  /** Read-only figures of the inline prediction queues (src/server/predictions/index.ts; not in src/shared/protocol.ts). */
  predictionStats: 'bertWorkbench/predictionStats',
};

/** The folder holding the built server.js: $BENCH_DIST, else `<root>/dist`. */
export function distFolder(root) {
  return process.env.BENCH_DIST ? resolve(process.env.BENCH_DIST) : join(root, 'dist');
}

/**
 * Starts `dist/server.js --stdio`, initializes it with `initializationOptions`, and answers with the
 * child, the connection and `stop()` (LSP shutdown and exit, then SIGKILL if it lingers).
 */
export async function startServer(root, initializationOptions) {
  const child = spawn(process.execPath, [join(distFolder(root), 'server.js'), '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(String(chunk)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const reader = new StreamMessageReader(child.stdout);
  // A server killed mid-message (stop()'s last resort) would leave the reader re-arming its
  // partial-message timer for ever, and the soak would never exit.
  reader.partialMessageTimeout = 0;
  const connection = createMessageConnection(reader, new StreamMessageWriter(child.stdin));
  const log = [];
  connection.onNotification('window/logMessage', ({ message }) => log.push(message));
  connection.listen();
  await connection.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions });
  await connection.sendNotification('initialized', {});
  return {
    child,
    connection,
    /** What the server logged (window/logMessage) and wrote to stderr, for error messages. */
    logs: () => [...log, ...stderr].join('\n'),
    /** The server's memory now, in MB and tensors (engineInfo's `memory`). */
    async memory() {
      const { memory } = await connection.sendRequest(methods.engineInfo, {});
      return { rssMB: mb(memory.rss), heapMB: mb(memory.heapUsed), externalMB: mb(memory.external), numTensors: memory.numTensors, tensorMB: mb(memory.numBytes) };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await Promise.race([connection.sendRequest('shutdown').then(() => connection.sendNotification('exit')), delay(5000)]).catch(() => undefined);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      connection.dispose();
    },
  };
}

export function mb(bytes) {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
