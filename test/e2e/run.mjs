// Runs the end-to-end suite (every *.e2e.mjs here) with Node's test runner, prints the spec
// report and then one summary line, `N passed, N failed`; exits non-zero when anything failed.
// `npm run test:e2e` builds and packages the .vsix and installs the tooling first. Arguments narrow
// the run to the files whose name contains one of them (`node test/e2e/run.mjs training workbench`).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import { startSuiteServer } from './lib/suite-server.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.e2e.mjs') && (filters.length === 0 || filters.some((part) => name.includes(part))))
  // The smoke test first: it empties the screenshots folder that the other files add to.
  .sort((a, b) => (b === 'workbench.e2e.mjs') - (a === 'workbench.e2e.mjs') || a.localeCompare(b))
  .map((name) => join(here, name));
if (files.length === 0) {
  console.error(`e2e: no test file matches ${filters.join(', ')}`);
  process.exit(1);
}

// One code-server for the files that use it (lib/suite-server.mjs), with the .vsix installed.
const suite = await startSuiteServer(join(here, '..', '..', 'dist', 'bert-workbench.vsix')).catch((error) => {
  console.error(`e2e: the suite's code-server did not start: ${error.message}`);
  process.exit(1);
});

const started = Date.now();
const counts = { passed: 0, failed: 0 };
// Per file: training.e2e.mjs trains four times and opens a second window (about 90 s here).
const stream = run({ files, concurrency: 1, timeout: 240_000 });
// Count tests, not the suites around them; a file that crashes counts as a failure.
stream.on('test:pass', ({ details }) => details.type !== 'suite' && (counts.passed += 1));
stream.on('test:fail', ({ details }) => details.type !== 'suite' && (counts.failed += 1));
const report = stream.compose(new spec());
report.pipe(process.stdout, { end: false });
report.on('end', async () => {
  const { killed } = await suite.stop();
  if (killed) console.log(`# the suite's code-server: ${killed} process(es) needed SIGKILL`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${counts.passed} passed, ${counts.failed} failed (e2e suite ${seconds} s)`);
  process.exitCode = counts.failed > 0 || counts.passed === 0 ? 1 : 0;
});
