/**
 * Explanation benchmark: `npx tsx bench/explain.ts [--layers N --hidden N --heads N --intermediate N --tokens N --runs N]`.
 *
 * Integrated Gradients (the hover's token attributions) for one line of `--tokens` tokens (64) on a
 * random BERT of the given shape (L4/H256 by default) on the wasm backend: seconds per explanation
 * (median of --runs after one warm-up), the quadrature steps used and the completeness error.
 * Prints one JSON line. Target (issue 13): under 0.5 s for L4/H256 and 64 tokens.
 */
import { initBackend } from '../src/server/engine/backend';
import { integratedGradients } from '../src/server/engine/explain/integrated-gradients';
import { randomBatch, randomBert } from '../src/server/engine/random-bert';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const shape = { layers: option('layers', 4), hidden: option('hidden', 256), heads: option('heads', 4), intermediate: option('intermediate', 1024), vocab: 30522 };
  const tokens = option('tokens', 64);
  const model = randomBert(shape, 42);
  const batch = randomBatch(1, tokens, shape.vocab, 7);
  const ids = Array.from(batch.inputIds);
  const inputIds = [101, ...ids.slice(1, tokens - 1).map((id) => (id < 1000 ? id + 1000 : id)), 102];
  const encoding = { inputIds, tokenTypeIds: inputIds.map(() => 0) };
  const runs = option('runs', 5);
  const seconds: number[] = [];
  let last;
  for (let r = 0; r <= runs; r++) {
    const started = performance.now();
    last = await integratedGradients(model, encoding, 0, [101, 102], { target: 1 });
    if (r > 0) seconds.push((performance.now() - started) / 1000); // the first run warms up
  }
  seconds.sort((a, b) => a - b);
  console.log(JSON.stringify({
    backend: backend.name,
    shape,
    tokens,
    seconds: +seconds[Math.floor(seconds.length / 2)].toFixed(3),
    steps: last!.steps,
    completeness_error: +last!.completenessError.toExponential(2),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }));
}

void main();
