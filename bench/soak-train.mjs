// Soak (issue "hardening", item 9): a 1,000-step fine-tuning run in the real language server, with
// the server's memory sampled every 100 steps.
//
//   node bench/soak-train.mjs [--steps 1000] [--every 100] [--max-rss-growth-mb 96] [--max-tensor-growth 0]
//
// Starts dist/server.js over stdio (bench/language-server.mjs; $BENCH_DIST/server.js when set),
// starts a run of builtin:tiny-bert (`bertWorkbench/startRun`, batch 32, max length 64, an
// evaluation and checkpoint every 100 steps, no early stopping) on a 32,000-row slice of
// ../shared/datasets/sst2/train.csv with its validation.csv (the 200-row
// test/fixtures/datasets/sst2 when those are missing), and reads the server's RSS and live TF.js
// tensors (`bertWorkbench/engineInfo`'s `memory`) before the run, after each checkpoint of a
// multiple of 100 steps, and once the run is over. Prints one JSON line.
//
// Bounds, from the first sample (step 100, after warm-up) to the last (step 1,000): tensors may not
// grow (a leak of one tensor a step would show 900) and RSS may grow by at most 96 MB (samples swing
// by ±25 MB here with checkpoint buffers and GC timing, 291–336 MB over a 2,000-step run; a leak
// of 100 KB a step breaks the bound);
// and once the run is over the tensor count is back where it was before it. Exit 1 when one is broken.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distFolder, methods, startServer } from './language-server.mjs';
import { fittedRise, round } from './samples.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const STEPS = arg('--steps', 1000);
const EVERY = arg('--every', 100);
const MAX_RSS_GROWTH_MB = arg('--max-rss-growth-mb', 96);
const MAX_TENSOR_GROWTH = arg('--max-tensor-growth', 0);
const BATCH = 32;
const SST2 = join(root, '..', 'shared', 'datasets', 'sst2');
const FIXTURE = join(root, 'test', 'fixtures', 'datasets', 'sst2');

/** A folder with train.csv (the first `rows` rows of SST-2's) and validation.csv, in `dir`. */
function dataSlice(dir, rows) {
  if (!existsSync(join(SST2, 'train.csv'))) return { data: FIXTURE, source: 'test/fixtures/datasets/sst2' };
  const lines = readFileSync(join(SST2, 'train.csv'), 'utf8').split('\n');
  writeFileSync(join(dir, 'train.csv'), `${lines.slice(0, rows + 1).join('\n')}\n`);
  writeFileSync(join(dir, 'validation.csv'), readFileSync(join(SST2, 'validation.csv')));
  return { data: dir, source: `../shared/datasets/sst2: train.csv rows 1-${rows}, validation.csv` };
}

async function main() {
  if (!existsSync(join(distFolder(root), 'server.js'))) return fail(`${join(distFolder(root), 'server.js')} is missing: run npm run build`);
  const scratch = mkdtempSync(join(tmpdir(), 'soak-train-'));
  const dataDir = join(scratch, 'data');
  mkdirSync(dataDir);
  const { data, source } = dataSlice(dataDir, STEPS * BATCH);
  const server = await startServer(root, { backend: 'wasm', runsDir: join(scratch, 'runs') });
  try {
    const before = await server.memory();
    const samples = [];
    let sampling = Promise.resolve();
    let started = 0;
    const finished = new Promise((resolve) => {
      server.connection.onNotification(methods.runEvent, ({ run, event }) => {
        if (event?.event === 'start') started = Date.now();
        // Read between two steps: the request is answered when the trainer next yields.
        if (event?.event === 'checkpoint' && event.step % EVERY === 0) {
          sampling = sampling.then(async () => samples.push({ step: event.step, ...(await server.memory()) }));
        }
        if (!['preparing', 'training'].includes(run.status)) resolve(run);
      });
    });
    await server.connection.sendRequest(methods.startRun, {
      title: 'soak',
      request: {
        data,
        model: 'builtin:tiny-bert',
        outDir: join(scratch, 'model'),
        settings: { maxSteps: STEPS, epochs: 1, batchSize: BATCH, maxLength: 64, evalEverySteps: EVERY, earlyStoppingPatience: 0 },
      },
    });
    const run = await finished;
    const trainSec = (Date.now() - started) / 1000;
    await sampling;
    const after = await server.memory();
    if (run.status !== 'completed') return fail(`the run ended ${run.status}: ${run.error?.message ?? ''}\n${server.logs()}`);
    if (samples.length < 2) return fail(`only ${samples.length} samples`);
    const [first, last] = [samples[0], samples.at(-1)];
    const growth = { rssMB: round(last.rssMB - first.rssMB), tensors: last.numTensors - first.numTensors };
    const problems = [];
    if (growth.tensors > MAX_TENSOR_GROWTH) problems.push(`tensors grew by ${growth.tensors} from step ${first.step} to ${last.step} (bound ${MAX_TENSOR_GROWTH})`);
    if (growth.rssMB > MAX_RSS_GROWTH_MB) problems.push(`RSS grew by ${growth.rssMB} MB from step ${first.step} to ${last.step} (bound ${MAX_RSS_GROWTH_MB} MB)`);
    if (after.numTensors !== before.numTensors) problems.push(`${after.numTensors} tensors after the run, ${before.numTensors} before it`);
    console.log(JSON.stringify({
      case: 'soak-train',
      model: 'builtin:tiny-bert',
      data: source,
      steps: run.progress?.step,
      batch: BATCH,
      trainSec: round(trainSec),
      samplesPerSec: Math.round((STEPS * BATCH) / trainSec),
      before,
      samples,
      after,
      first: { step: first.step, rssMB: first.rssMB, numTensors: first.numTensors },
      last: { step: last.step, rssMB: last.rssMB, numTensors: last.numTensors },
      max: { rssMB: Math.max(...samples.map((x) => x.rssMB)), numTensors: Math.max(...samples.map((x) => x.numTensors)) },
      min: { rssMB: Math.min(...samples.map((x) => x.rssMB)), numTensors: Math.min(...samples.map((x) => x.numTensors)) },
      growth,
      // The least-squares line through the samples: its rise from the first to the last (GC timing swings single samples).
      fittedGrowth: { rssMB: round(fittedRise(samples, 'step', 'rssMB')), tensors: round(fittedRise(samples, 'step', 'numTensors')) },
      bounds: { rssMB: MAX_RSS_GROWTH_MB, tensors: MAX_TENSOR_GROWTH, tensorsAfterRun: before.numTensors },
      ok: problems.length === 0,
      problems,
    }));
    return problems.length === 0 ? 0 : 1;
  } finally {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

function fail(message) {
  console.error(`soak-train: ${message}`);
  return 1;
}

process.exitCode = await main();
