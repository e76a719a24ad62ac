// The extension as users get it: the .vsix installed into a real VS Code (code-server), the
// samples/ workspace open, and Chromium playing the user. One server for the whole suite.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CodeServer } from './lib/code-server.mjs';
import { commandLine, descendants, killOwnDescendantsNow, killProcessTreeNow } from './lib/processes.mjs';
import { endSuite, failureTracker } from './lib/steps.mjs';
import { Workbench } from './lib/workbench.mjs';
import { readManifest } from './lib/manifest.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const vsix = join(root, 'dist', 'bert-workbench.vsix');
const screenshotsDir = join(root, 'test', 'e2e', 'screenshots');
// Titles with their %key% placeholders replaced by the English text of package.nls.json.
const { manifest: packageJson, extensionId, commandTitles } = readManifest(root);

const run = mkdtempSync(join(tmpdir(), 'bert-workbench-e2e-'));
const workspace = join(run, 'samples');
let server;
let workbench;
/** Console messages about Content Security Policy violations, from any frame. */
const cspViolations = [];

// Whatever happens to this process, code-server, the language server and Chromium go with it.
const killEverything = () => {
  if (server?.pid) killProcessTreeNow(server.pid);
  killOwnDescendantsNow();
};
process.once('exit', killEverything);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killEverything();
    rmSync(run, { recursive: true, force: true });
    process.exit(130);
  });
}

const tracker = failureTracker(() => workbench);
const step = tracker.step;

describe('BERT Workbench in VS Code (code-server 4.100.3)', () => {
  before(
    step('start', async () => {
      assert.ok(existsSync(vsix), `no ${vsix}: run \`npm run package\` first`);
      rmSync(screenshotsDir, { recursive: true, force: true });
      cpSync(join(root, 'samples'), workspace, { recursive: true });
      server = await CodeServer.create(run);
      await server.installExtension(vsix);
      await server.start(workspace);
      const url = `${server.url}/?folder=${workspace}`;
      workbench = await Workbench.open({ url, run, env: server.env, screenshotsDir });
      workbench.page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
    }),
    { timeout: 120_000 },
  );

  after(async () => {
    await endSuite({ workbench, stop: () => server?.stop(), tracker, runDir: run, screenshotsDir });
  });

  test(
    'the workbench loads with the extension active and its commands in the palette',
    { timeout: 60_000 },
    step('palette', async () => {
      await waitFor(() => languageServerPid() !== undefined, 30_000, 'the BERT language server to start');
      await workbench.quickInput('>BERT: ');
      // Commands with an `enablement` (Stop Training: only while a run goes on) are left out of the palette until it holds.
      const always = packageJson.contributes.commands.filter((c) => !c.enablement).map((c) => commandTitles[c.command]);
      for (const title of always) {
        await workbench.quickInputRows(title).first().waitFor({ timeout: 15_000 });
      }
      await workbench.screenshot('palette');
      await workbench.closeQuickInput();
      assert.match(extensionHostLog(), new RegExp(`_doActivateExtension ${extensionId}`));
    }),
  );

  test(
    'Predict Sentiment of Selection shows the label and probabilities the CLI gives for that line',
    { timeout: 60_000 },
    step('predict', async () => {
      const lines = readFileSync(join(workspace, 'notes.txt'), 'utf8').split('\n');
      const lineNumber = 3;
      const text = lines[lineNumber - 1];
      await workbench.openFile('notes.txt');
      await workbench.selectLine(lineNumber);
      await workbench.screenshot('line-selected');
      await workbench.runCommand(commandTitles['bertWorkbench.predictSelection']);
      const message = await workbench.notification(/BERT: .+ — .+%/);
      await workbench.screenshot('prediction');

      const shown = parseNotification(message);
      const expected = await cliPrediction(text);
      assert.equal(shown.label, expected.label, message);
      assert.deepEqual(Object.keys(shown.percent), Object.keys(expected.probs), message);
      for (const [label, p] of Object.entries(expected.probs)) {
        assert.ok(Math.abs(shown.percent[label] - p * 100) <= 0.051, `${label}: shown ${shown.percent[label]}%, CLI ${p * 100}%`);
      }
    }),
  );

  test(
    'Show Engine Info names the backend and where it was loaded from, the model and its labels',
    { timeout: 60_000 },
    step('engine-info', async () => {
      await workbench.runCommand(commandTitles['bertWorkbench.showEngineInfo']);
      const message = await workbench.notification(/BERT engine: /);
      await workbench.screenshot('engine-info');
      assert.match(message, /backend (tensorflow|wasm|cpu)\b.* · training workers \d+ · model builtin:tiny-bert · labels negative, positive/);
      // On this machine the wasm backend computes its products with ONNX Runtime (the linux-x64 VSIX carries it).
      assert.match(message, /backend wasm \+ ONNX Runtime GEMM /);
      // Where the backend came from: the bundled wasm (or cpu) package, or a native one and its folder.
      assert.match(message, /\((@tensorflow\/tfjs-backend-(wasm|cpu), bundled with the extension|@tensorflow\/tfjs-node(-gpu)? .+)\) · training workers/);
    }),
  );

  test(
    'Open Training Panel shows the engine backend under a strict Content Security Policy',
    { timeout: 60_000 },
    step('panel', async () => {
      await workbench.runCommand(commandTitles['bertWorkbench.openPanel']);
      const page = workbench.webview();
      const body = page.locator('body[data-state="ready"]');
      await body.waitFor({ timeout: 30_000 });
      await workbench.screenshot('training-panel');

      assert.match(await body.getAttribute('data-backend'), /^(tensorflow|wasm|cpu)$/);
      assert.equal(await body.getAttribute('data-model'), 'builtin:tiny-bert');
      const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'nonce-[^']+'(;|$)/, 'scripts only with the page nonce');
      assert.doesNotMatch(csp, /'unsafe-/);
      assert.equal(await page.locator('#loss-chart').getAttribute('data-points'), '0');
      await page.getByText('No training run yet').waitFor();

      // The panel itself broke no rule; and the rules hold: an inline style is refused (and reported).
      assert.deepEqual(cspViolations, [], 'the panel ran without policy violations');
      const outline = await body.evaluate((element) => {
        const style = document.createElement('style');
        style.textContent = 'body { outline: 7px solid red }';
        document.head.append(style);
        return getComputedStyle(element).outlineWidth;
      });
      assert.notEqual(outline, '7px', 'an inline <style> must not apply');
      await waitFor(() => cspViolations.length > 0, 5_000, 'the refused inline style to be reported');
    }),
  );
});

/** The language server's pid, when the installed extension's dist/server.js is running. */
function languageServerPid() {
  const serverJs = join(server.dirs.extensions, `${extensionId}-${packageJson.version}`, 'dist', 'server.js');
  return descendants(server.pid).find((pid) => commandLine(pid).includes(serverJs));
}

/** Every extension-host log of this run, concatenated. */
function extensionHostLog() {
  const logs = join(server.dirs.userData, 'logs');
  return readdirSync(logs, { recursive: true })
    .filter((f) => f.endsWith('exthost.log'))
    .map((f) => readFileSync(join(logs, f), 'utf8'))
    .join('\n');
}

/** `BERT: positive — negative 16.8%, positive 83.2%` → { label, percent: { negative: 16.8, … } } */
function parseNotification(message) {
  const match = /BERT: (.+?) — (.+)$/.exec(message);
  assert.ok(match, `unexpected notification: ${message}`);
  const percent = Object.fromEntries(
    match[2].split(', ').map((part) => {
      const [, label, value] = /^(.+) (\d+(?:\.\d+)?)%$/.exec(part) ?? assert.fail(`unexpected probability: ${part}`);
      return [label, Number(value)];
    }),
  );
  return { label: match[1], percent };
}

async function cliPrediction(text) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(root, 'dist', 'cli.js'), 'predict', '--model', 'builtin:tiny-bert', '--json', '--text', text],
    { cwd: root, timeout: 60_000 },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1));
  return result.predictions[0];
}

async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
