// In-extension-host tests of the training API (docs E2E.md, the `payload` route): the real
// `vscode` API, no clicking. Opened by training.e2e.mjs on a two-folder workspace:
//   alpha/            broken.csv (line 7 has no label)
//   beta/             beta.csv (samples/reviews.csv: 4,000 labelled reviews)
// Writes host-report.json beside the folders: { results: [{ name, ok, error? }] }.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const BROKEN_LINE = 7;

const tests = [
  ['every command of the manifest is registered', async () => {
    const extension = vscode.extensions.all.find((e) => e.packageJSON.name === 'bert-workbench');
    assert.ok(extension, 'the extension is installed');
    await extension.activate();
    const commands = await vscode.commands.getCommands(true);
    for (const { command } of extension.packageJSON.contributes.commands) assert.ok(commands.includes(command), command);
  }],

  ['the training settings have their documented defaults', async () => {
    const train = vscode.workspace.getConfiguration('bertWorkbench.train', folder('beta').uri);
    assert.equal(train.get('baseModel'), 'builtin:review-bert');
    assert.equal(vscode.workspace.getConfiguration('bertWorkbench').get('model'), 'builtin:tiny-bert');
    assert.equal(train.get('epochs'), 3);
    assert.equal(train.get('learningRate'), 'auto');
    assert.equal(train.get('batchSize'), 32);
    assert.equal(train.get('maxLength'), 128);
    assert.equal(train.get('freezeLayers'), 0);
    assert.equal(train.get('workers'), 0, 'workers: auto');
    assert.equal(train.get('adaptSteps'), 0, 'no adaptation to the dataset first');
    assert.equal(train.get('outputFolder'), '${workspaceFolder}/.bert-workbench/models');
    assert.equal(vscode.workspace.getConfiguration('bertWorkbench.hub').get('offline'), false);
  }],

  ['multi-root: a run on the second folder\'s dataset writes its model into that folder', async () => {
    const dataset = path.join(folder('beta').uri.fsPath, 'beta.csv');
    const runId = await vscode.commands.executeCommand('bertWorkbench.fineTune', { dataset, settings: { maxSteps: 6, epochs: 1 } });
    assert.match(String(runId), /^\d{8}-\d{6}\.\d{3}-[0-9a-f]{4}$/, 'the command returns the run id');
    const models = path.join(folder('beta').uri.fsPath, '.bert-workbench', 'models');
    const metrics = await waitFor(() => {
      const done = list(models).map((name) => path.join(models, name, 'metrics.json')).find((f) => fs.existsSync(f));
      return done && JSON.parse(fs.readFileSync(done, 'utf8'));
    }, 90_000, 'the run to save its model');
    assert.equal(metrics.steps, 6);
    assert.match(list(models)[0], /^beta-\d{8}-\d{6}$/);
    assert.deepEqual(list(path.join(folder('alpha').uri.fsPath, '.bert-workbench', 'models')), [], 'nothing in the other folder');
  }],

  ['Load Model… loads a trained model folder for predictions', async () => {
    const models = path.join(folder('beta').uri.fsPath, '.bert-workbench', 'models');
    const trained = path.join(models, list(models)[0]);
    assert.equal(await vscode.commands.executeCommand('bertWorkbench.loadModel', vscode.Uri.file(trained)), trained);
  }],

  ['only one run at a time, and Stop Training stops it', async () => {
    const dataset = path.join(folder('beta').uri.fsPath, 'beta.csv');
    // No early stopping: a run that stops improving would end on its own before it is stopped.
    const first = await vscode.commands.executeCommand('bertWorkbench.fineTune', { dataset, settings: { epochs: 200, patience: 0 } });
    assert.ok(first);
    // A second start while the first runs is refused (the command reports it and returns nothing).
    const second = await vscode.commands.executeCommand('bertWorkbench.fineTune', { dataset, settings: { epochs: 1 } });
    assert.equal(second, undefined);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await vscode.commands.executeCommand('bertWorkbench.stopTraining'), true);
    await waitFor(async () => (await vscode.commands.executeCommand('bertWorkbench.stopTraining')) === false, 30_000, 'the run to stop');
  }],

  ['a dataset problem is a diagnostic on its line, cleared once the file is fixed', async () => {
    const file = path.join(folder('alpha').uri.fsPath, 'broken.csv');
    const uri = vscode.Uri.file(file);
    // From the Explorer: the command gets the file's Uri; the flow reads it and stops at the problem.
    const result = await vscode.commands.executeCommand('bertWorkbench.fineTune', uri);
    assert.equal(result, undefined, 'no run started');
    const [diagnostic] = await waitFor(() => {
      const found = vscode.languages.getDiagnostics(uri);
      return found.length > 0 && found;
    }, 30_000, 'the diagnostic');
    assert.equal(diagnostic.range.start.line, BROKEN_LINE - 1);
    assert.equal(diagnostic.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(diagnostic.source, 'BERT Workbench');
    assert.equal(diagnostic.code, 'empty-label');
    assert.match(diagnostic.message, /Line 7 has a text but no label/);
    // Fixing the line on disk clears it (the server reads the dataset again when its file changes).
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[BROKEN_LINE - 1] = 'a label on this line now,negative';
    fs.writeFileSync(file, lines.join('\n'));
    await waitFor(() => vscode.languages.getDiagnostics(uri).length === 0, 30_000, 'the diagnostic to go');
  }],

  ['Resume Training continues the stopped run from its checkpoint', async () => {
    // The stopped run above can be resumed: resume it, then stop it again.
    const resumed = await vscode.commands.executeCommand('bertWorkbench.resumeTraining');
    assert.match(String(resumed), /^\d{8}-/);
    await new Promise((r) => setTimeout(r, 1000));
    await vscode.commands.executeCommand('bertWorkbench.stopTraining');
    await waitFor(async () => (await vscode.commands.executeCommand('bertWorkbench.stopTraining')) === false, 30_000, 'the resumed run to stop');
  }],
];

function folder(name) {
  const found = vscode.workspace.workspaceFolders.find((f) => f.name === name);
  assert.ok(found, `workspace folder ${name}`);
  return found;
}

function list(dir) {
  try {
    return fs.readdirSync(dir).filter((name) => !name.startsWith('.'));
  } catch {
    return [];
  }
}

async function waitFor(probe, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function run() {
  const results = [];
  // The window may still be opening its folders when the tests start.
  const opening = ['the two-folder workspace opens', async () => {
    const folders = () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
    await waitFor(() => folders().length === 2, 30_000, 'the two workspace folders').catch((error) => {
      throw new Error(`${error.message}: workspace file ${vscode.workspace.workspaceFile}, folders ${JSON.stringify(folders())}`);
    });
  }];
  for (const [name, body] of [opening, ...tests]) {
    if (results.length > 0 && !results[0].ok) break;
    try {
      await body();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({ name, ok: false, error: String(error && error.stack ? error.stack : error) });
    }
  }
  // Beside the .code-workspace file that training.e2e.mjs wrote.
  const report = path.join(path.dirname(vscode.workspace.workspaceFile.fsPath), 'host-report.json');
  fs.writeFileSync(report, JSON.stringify({ results }, null, 2));
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new Error(`${failed.length} host test(s) failed: ${failed.map((r) => r.name).join('; ')}`);
}

module.exports = { run };
