/**
 * Dataset problems as diagnostics (src/server/training/dataset-problems.ts): a user's mistake in a
 * file lands on its line of that file, goes when the dataset loads cleanly, and is checked again
 * when the file changes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic } from 'vscode-languageserver/node';
import { loadDataset } from '../../../src/server/engine/data';
import { UserError } from '../../../src/server/engine/errors';
import { DatasetProblems, DIAGNOSTIC_SOURCE } from '../../../src/server/training/dataset-problems';
import { FIXTURES } from '../../helpers/golden';

const scratch = mkdtempSync(join(tmpdir(), 'problems-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function sink() {
  const published = new Map<string, Diagnostic[]>();
  return { published, sendDiagnostics: ({ uri, diagnostics }: { uri: string; diagnostics: Diagnostic[] }) => published.set(uri, diagnostics) };
}

async function failureOf(path: string): Promise<unknown> {
  try {
    await loadDataset(path);
  } catch (error) {
    return error;
  }
  assert.fail(`${path} loaded`);
}

test("an empty label becomes an error diagnostic on that line of that file", async () => {
  const file = join(scratch, 'empty-label.csv');
  copyFileSync(join(FIXTURES, 'datasets', 'broken', 'empty-label.csv'), file);
  const out = sink();
  const problems = new DatasetProblems(out, (path, options) => loadDataset(path, options));
  assert.equal(problems.report(file, {}, await failureOf(file)), true);
  const [diagnostic] = out.published.get(pathToFileURL(file).href)!;
  assert.deepEqual(diagnostic.range, { start: { line: 3, character: 0 }, end: { line: 4, character: 0 } }, 'line 4, whole line');
  assert.equal(diagnostic.severity, 1);
  assert.equal(diagnostic.source, DIAGNOSTIC_SOURCE);
  assert.equal(diagnostic.code, 'empty-label');
  assert.match(diagnostic.message, /Line 4 has a text but no label[\s\S]*Fill in the label/);

  // Fixed on disk: the change is noticed, the dataset read again, the diagnostic cleared.
  writeFileSync(file, 'text,label\ngood,positive\nbad,negative\nno label,negative\nfine,positive\n');
  problems.filesChanged([pathToFileURL(file).href]);
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(out.published.get(pathToFileURL(file).href), []);
});

test('a problem without a file, or in a folder, is not a diagnostic', () => {
  const out = sink();
  const problems = new DatasetProblems(out, async () => undefined);
  assert.equal(problems.report('/x.csv', {}, new UserError({ kind: 'single-class', message: 'one class' })), false);
  assert.equal(problems.report(scratch, {}, new UserError({ kind: 'no-dataset', message: 'nothing', file: scratch })), false);
  assert.equal(problems.report('/x.csv', {}, new Error('a bug')), false);
  assert.equal(out.published.size, 0);
});

test('clear removes what was published for the dataset', async () => {
  const file = join(scratch, 'field-count.csv');
  copyFileSync(join(FIXTURES, 'datasets', 'broken', 'field-count.csv'), file);
  const out = sink();
  const problems = new DatasetProblems(out, async () => undefined);
  problems.report(file, {}, await failureOf(file));
  assert.equal(out.published.get(pathToFileURL(file).href)![0].range.start.line, 3);
  problems.clear(file);
  assert.deepEqual(out.published.get(pathToFileURL(file).href), []);
});
