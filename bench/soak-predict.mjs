// Soak (issue "hardening", item 9): 100,000 annotation predictions through the real language
// server with its prediction cache full, the server's memory sampled every 10,000.
//
//   node bench/soak-predict.mjs [--annotations 100000] [--every 10000] [--distinct 30000] [--max-rss-growth-mb 64] [--max-tensor-growth 0]
//
// Starts dist/server.js over stdio (bench/language-server.mjs; $BENCH_DIST/server.js when set) and
// sends `bertWorkbench/predictInline` requests as the editor's annotations do (16 texts a request,
// priority "visible", max length 128, the extension's defaults; 4 requests in flight) for
// builtin:tiny-bert. The texts are 30,000 distinct sentences of ../shared/datasets/sst2/train.csv
// (numbered made-up lines when it is missing), taken in turn again and again: more than the
// server's cache holds (PredictionScheduler's 20,000 by text), so once 20,000 have been seen the
// cache is full and, cycling through more texts than it holds, every request misses and evicts
// (LRU's worst case): all 100,000 are run through the model. The server's own figures
// (`bertWorkbench/predictionStats`: cache size and capacity, texts predicted, cache hits) are read
// with each sample, so the soak checks rather than assumes that the cache is full and that it missed.
//
// Bounds, from the first sample with the cache full (20,000) to the last: tensors may not grow, RSS
// may grow by at most 64 MB; the cache is full at the end and every annotation was predicted by the
// model. Prints one JSON line; exit 1 when a bound is broken.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distFolder, methods, startServer } from './language-server.mjs';
import { fittedRise, round } from './samples.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const ANNOTATIONS = arg('--annotations', 100_000);
const EVERY = arg('--every', 10_000);
const DISTINCT = arg('--distinct', 30_000);
const MAX_RSS_GROWTH_MB = arg('--max-rss-growth-mb', 64);
const MAX_TENSOR_GROWTH = arg('--max-tensor-growth', 0);
/** What the extension sends (src/extension/annotations/controller.ts VISIBLE_CHUNK; the maxLength setting's default). */
const CHUNK = 16;
const MAX_LENGTH = 128;
const IN_FLIGHT = 4;
const MODEL = 'builtin:tiny-bert';
const SST2_TRAIN = join(root, '..', 'shared', 'datasets', 'sst2', 'train.csv');

/** `count` distinct texts: SST-2's sentences (the text column, unquoted), else numbered lines. */
function distinctTexts(count) {
  const texts = new Set();
  if (existsSync(SST2_TRAIN)) {
    for (const line of readFileSync(SST2_TRAIN, 'utf8').split('\n').slice(1)) {
      const text = line.replace(/,(positive|negative)\s*$/, '').replace(/^"|"$/g, '').replace(/""/g, '"').trim();
      if (text) texts.add(text);
      if (texts.size === count) break;
    }
  }
  for (let i = 0; texts.size < count; i++) texts.add(`line ${i}: the film was fine, the ending less so.`);
  return { texts: [...texts], source: existsSync(SST2_TRAIN) ? '../shared/datasets/sst2/train.csv' : 'made-up lines' };
}

async function main() {
  if (!existsSync(join(distFolder(root), 'server.js'))) return fail(`${join(distFolder(root), 'server.js')} is missing: run npm run build`);
  const { texts, source } = distinctTexts(DISTINCT);
  const server = await startServer(root, { backend: 'wasm' });
  try {
    // Load the model first, so that its loading is not in the timing.
    await server.connection.sendRequest(methods.predictInline, { model: MODEL, texts: ['warm-up'], maxLength: MAX_LENGTH, priority: 'visible' });
    /** The server's queue for this model and length: its cache's fill and its counters. */
    const queue = async () => {
      const { queues } = await server.connection.sendRequest(methods.predictionStats).catch((error) => {
        throw new Error(`the server does not answer ${methods.predictionStats} (${error.message}): a dist/ older than this soak? npm run build`);
      });
      const q = queues.find((x) => x.modelRef === MODEL && x.maxLength === MAX_LENGTH);
      if (!q) throw new Error(`the server has no prediction queue for ${MODEL} at ${MAX_LENGTH}: ${JSON.stringify(queues)}`);
      return q;
    };
    const warm = await queue();
    const SERVER_CACHE = warm.cacheCapacity;
    if (!(DISTINCT > SERVER_CACHE)) return fail(`--distinct ${DISTINCT} must exceed the server's cache (${SERVER_CACHE}) for the soak to mean anything`);
    const before = await server.memory();
    const samples = [];
    let sent = 0;
    let done = 0;
    let nextSample = EVERY;
    const started = Date.now();
    const worker = async () => {
      while (sent < ANNOTATIONS) {
        const from = sent;
        const batch = Array.from({ length: Math.min(CHUNK, ANNOTATIONS - from) }, (_, k) => texts[(from + k) % texts.length]);
        sent += batch.length;
        const { predictions } = await server.connection.sendRequest(methods.predictInline, { model: MODEL, texts: batch, maxLength: MAX_LENGTH, priority: 'visible' });
        if (predictions.length !== batch.length || !predictions.every((p) => typeof p.label === 'string')) throw new Error('a prediction is missing');
        done += batch.length;
        if (done >= nextSample) {
          nextSample += EVERY;
          const q = await queue();
          samples.push({ annotations: done, seconds: round((Date.now() - started) / 1000), ...(await server.memory()), cached: q.cacheSize, predicted: q.predicted - warm.predicted, cacheHits: q.cacheHits - warm.cacheHits });
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (Date.now() - started) / 1000;
    const end = await queue();
    const full = samples.find((s) => s.cached === SERVER_CACHE);
    if (!full) return fail(`the cache never filled (${end.cacheSize} of ${SERVER_CACHE})`);
    const last = samples.at(-1);
    const growth = { rssMB: round(last.rssMB - full.rssMB), tensors: last.numTensors - full.numTensors };
    const fromFull = samples.slice(samples.indexOf(full));
    const problems = [];
    if (end.cacheSize !== SERVER_CACHE) problems.push(`the cache holds ${end.cacheSize} of ${SERVER_CACHE} at the end`);
    const predicted = end.predicted - warm.predicted;
    if (predicted !== done) problems.push(`${predicted} of ${done} annotations were run through the model (${end.cacheHits - warm.cacheHits} cache hits)`);
    if (growth.tensors > MAX_TENSOR_GROWTH) problems.push(`tensors grew by ${growth.tensors} from ${full.annotations} to ${last.annotations} annotations (bound ${MAX_TENSOR_GROWTH})`);
    if (growth.rssMB > MAX_RSS_GROWTH_MB) problems.push(`RSS grew by ${growth.rssMB} MB from ${full.annotations} to ${last.annotations} annotations (bound ${MAX_RSS_GROWTH_MB} MB)`);
    console.log(JSON.stringify({
      case: 'soak-predict',
      model: MODEL,
      texts: source,
      annotations: done,
      distinctTexts: texts.length,
      serverCache: SERVER_CACHE,
      request: { texts: CHUNK, maxLength: MAX_LENGTH, inFlight: IN_FLIGHT, priority: 'visible' },
      seconds: round(seconds),
      annotationsPerSec: Math.round(done / seconds),
      before,
      samples,
      predicted,
      cacheHits: end.cacheHits - warm.cacheHits,
      batches: end.batches - warm.batches,
      first: { annotations: full.annotations, rssMB: full.rssMB, numTensors: full.numTensors },
      last: { annotations: last.annotations, rssMB: last.rssMB, numTensors: last.numTensors },
      max: { rssMB: Math.max(...fromFull.map((x) => x.rssMB)), numTensors: Math.max(...fromFull.map((x) => x.numTensors)) },
      min: { rssMB: Math.min(...fromFull.map((x) => x.rssMB)), numTensors: Math.min(...fromFull.map((x) => x.numTensors)) },
      growth,
      // The least-squares line through the samples: its rise from the first to the last (GC timing swings single samples).
      fittedGrowth: { rssMB: round(fittedRise(fromFull, 'annotations', 'rssMB')), tensors: round(fittedRise(fromFull, 'annotations', 'numTensors')) },
      bounds: { rssMB: MAX_RSS_GROWTH_MB, tensors: MAX_TENSOR_GROWTH },
      ok: problems.length === 0,
      problems,
    }));
    return problems.length === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}

function fail(message) {
  console.error(`soak-predict: ${message}`);
  return 1;
}

process.exitCode = await main();
