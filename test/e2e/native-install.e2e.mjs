// "Install Native Acceleration" as users run it, with the npm registry out of reach: a code-server
// of this file's own (its environment points npm at a closed port on 127.0.0.1, as being offline
// would), the .vsix installed, Chromium picking the CPU package. The one notification must say that
// the registry is unreachable and what to do, and the previous install must be left as it was.
// (The install itself cannot succeed on the test machines: tfjs-node's install script downloads
// libtensorflow from storage.googleapis.com, which is unreachable there.)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CodeServer, freePort } from './lib/code-server.mjs';
import { readManifest } from './lib/manifest.mjs';
import { commandLine, descendants, killOwnDescendantsNow, killProcessTreeNow } from './lib/processes.mjs';
import { endSuite, failureTracker } from './lib/steps.mjs';
import { scratchFolder } from './lib/suite-server.mjs';
import { Workbench } from './lib/workbench.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const vsix = join(root, 'dist', 'bert-workbench.vsix');
const screenshotsDir = join(root, 'test', 'e2e', 'screenshots', 'native-install');
const { manifest, extensionId, commandTitles: titles } = readManifest(root);

const scratch = scratchFolder('native');
const workspace = join(scratch, 'workspace');
let server;
let workbench;
let registry;

const killEverything = () => {
  if (server?.pid) killProcessTreeNow(server.pid);
  killOwnDescendantsNow();
};
process.once('exit', killEverything);

const tracker = failureTracker(() => workbench);
const step = tracker.step;

describe('Install Native Acceleration in VS Code', () => {
  before(
    step('start', async () => {
      assert.ok(existsSync(vsix), `no ${vsix}: run \`npm run package\` first`);
      rmSync(screenshotsDir, { recursive: true, force: true });
      mkdirSync(workspace, { recursive: true });
      writeFileSync(join(workspace, 'notes.txt'), 'A warm, clever film.\n');
      registry = `http://127.0.0.1:${await freePort()}`;
      server = await CodeServer.create(scratch);
      // What the extension's npm sees: an unreachable registry, no retries (npm reads npm_config_* from the environment).
      Object.assign(server.env, { npm_config_registry: registry, npm_config_fetch_retries: '0' });
      await server.installExtension(vsix);
      // A previous install, which a failed one must leave alone.
      mkdirSync(nativeDir(), { recursive: true });
      writeFileSync(join(nativeDir(), 'previous-install.txt'), 'kept');
      await server.start(workspace);
      workbench = await Workbench.open({ url: `${server.url}/?folder=${workspace}`, run: scratch, env: server.env, screenshotsDir });
      // The extension is active (and its commands in the palette) once it has started its language server.
      await waitFor(() => languageServerPid() !== undefined, 60_000, 'the BERT language server to start');
    }),
    { timeout: 120_000 },
  );

  after(async () => {
    await endSuite({ workbench, stop: () => server?.stop(), tracker, runDir: scratch, screenshotsDir });
  });

  test(
    'offline: one notification names the unreachable registry and the fix; the previous install is kept',
    { timeout: 90_000 },
    step('offline', async () => {
      const title = titles['bertWorkbench.installNativeAcceleration'];
      await workbench.quickInput(`>${title}`);
      await workbench.quickInputRows(title).first().waitFor({ timeout: 15_000 });
      await workbench.page.keyboard.press('Enter');
      // The quick pick: CPU (first, focused) and GPU, each with its line of explanation.
      await workbench.quickInputRows('@tensorflow/tfjs-node-gpu@4.22.0').first().waitFor({ timeout: 15_000 });
      const cpu = workbench.quickInputRows('@tensorflow/tfjs-node@4.22.0').first();
      await cpu.waitFor();
      assert.match(await cpu.innerText(), /Native TensorFlow on the processor/);
      await workbench.screenshot('choice');
      await workbench.page.keyboard.press('Enter');

      const message = await workbench.notification(/registry/, 60_000);
      await workbench.screenshot('offline-message');
      assert.match(message, /npm cannot reach the package registry/);
      assert.ok(message.includes(registry), `names the registry ${registry}: ${message}`);
      assert.match(message, /ECONNREFUSED/);
      assert.match(message, /offline or the registry is unreachable/);
      assert.match(message, /Connect to the internet .* run "BERT: Install Native Acceleration" again/);

      assert.equal(readFileSync(join(nativeDir(), 'previous-install.txt'), 'utf8'), 'kept');
      const storage = join(nativeDir(), '..');
      assert.deepEqual(readdirSync(storage).filter((name) => name.startsWith('native')), ['native'], 'no partial install or lock left');
    }),
  );
});

/** The extension's global storage folder in this code-server, and the native install in it. */
function nativeDir() {
  return join(server.dirs.userData, 'User', 'globalStorage', extensionId.toLowerCase(), 'native');
}

/** The language server's pid, when the installed extension's dist/server.js is running. */
function languageServerPid() {
  const serverJs = join(server.dirs.extensions, `${extensionId}-${manifest.version}`, 'dist', 'server.js');
  return descendants(server.pid).find((pid) => commandLine(pid).includes(serverJs));
}

async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

