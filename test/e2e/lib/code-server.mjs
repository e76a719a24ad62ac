// A real VS Code (code-server 4.100.3) for the suite, recipe of docs E2E.md: everything it writes
// goes under the run folder; it listens on 127.0.0.1 only; it is started detached and stopped by
// process group.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stopProcessTree } from './processes.mjs';

const e2eDir = fileURLToPath(new URL('..', import.meta.url));
const codeServerBin = join(e2eDir, 'node_modules', '.bin', 'code-server');

/** Settings that make runs stable and quiet (no startup editor, no network checks). */
const userSettings = {
  'workbench.startupEditor': 'none',
  'workbench.reduceMotion': 'on',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'editor.hover.delay': 200,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
};

export class CodeServer {
  constructor(run, port) {
    this.run = run;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = join(run, 'code-server.log');
    this.child = undefined;
    this.env = {
      ...process.env,
      HOME: join(run, 'home'),
      XDG_CONFIG_HOME: join(run, 'xdg', 'config'),
      XDG_DATA_HOME: join(run, 'xdg', 'data'),
      XDG_CACHE_HOME: join(run, 'xdg', 'cache'),
    };
    this.dirs = { userData: join(run, 'user-data'), extensions: join(run, 'extensions') };
  }

  /** Lays out the run folder: config, user settings and the folders code-server writes into. */
  static async create(run) {
    const server = new CodeServer(run, await freePort());
    for (const dir of [server.env.HOME, server.env.XDG_CONFIG_HOME, server.env.XDG_DATA_HOME, server.env.XDG_CACHE_HOME]) {
      mkdirSync(dir, { recursive: true });
    }
    mkdirSync(join(server.dirs.userData, 'User'), { recursive: true });
    mkdirSync(server.dirs.extensions, { recursive: true });
    writeFileSync(join(run, 'config.yaml'), `bind-addr: 127.0.0.1:${server.port}\nauth: none\ncert: false\n`);
    writeFileSync(join(server.dirs.userData, 'User', 'settings.json'), JSON.stringify(userSettings, null, 2));
    return server;
  }

  get commonArgs() {
    return [
      '--config', join(this.run, 'config.yaml'),
      '--user-data-dir', this.dirs.userData,
      '--extensions-dir', this.dirs.extensions,
    ];
  }

  /** Installs a .vsix the way users do. */
  async installExtension(vsix) {
    const { stdout } = await promisify(execFile)(
      codeServerBin,
      [...this.commonArgs, '--install-extension', vsix],
      { env: this.env, timeout: 60_000 },
    );
    if (!/successfully installed/i.test(stdout)) throw new Error(`installing ${vsix} failed:\n${stdout}`);
  }

  /** Starts the server on `workspace` and waits until /healthz answers. */
  async start(workspace) {
    const log = openSync(this.logFile, 'a');
    this.child = spawn(
      codeServerBin,
      [
        ...this.commonArgs,
        '--bind-addr', `127.0.0.1:${this.port}`,
        '--auth', 'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        workspace,
      ],
      { env: this.env, detached: true, stdio: ['ignore', log, log] },
    );
    const exited = new Promise((_, reject) =>
      this.child.once('exit', (code) => reject(new Error(`code-server exited (${code}); see ${this.logFile}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([this.waitHealthy(30_000), exited]);
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`code-server did not answer /healthz within ${timeoutMs} ms; see ${this.logFile}`);
  }

  /** The pid leading code-server's process group (for emergency stops). */
  get pid() {
    return this.child?.pid;
  }

  /** Stops the server and everything it started. Returns how many processes needed SIGKILL. */
  async stop() {
    if (!this.child?.pid) return 0;
    const pid = this.child.pid;
    this.child = undefined;
    return stopProcessTree(pid);
  }
}

/** A port on 127.0.0.1 that nothing listens on (free now; closed, for a client that should be refused). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
