/**
 * Hub ids: downloaded once into the cache from a real HTTP server on 127.0.0.1 that serves the
 * fixture in the Hub's URL layout, then read offline; and clear errors when offline or unreachable.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { hubCacheFolder, resolveModelRef } from '../../../src/server/engine/hub';
import { loadClassifier } from '../../../src/server/engine/classifier';
import { TINY_BERT } from '../../helpers/golden';

const cacheDir = mkdtempSync(join(tmpdir(), 'hub-cache-'));
const requests: string[] = [];
const SERVED = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
const server = createServer((req, res) => {
  requests.push(req.url ?? '');
  const match = /^\/acme\/tiny-bert\/resolve\/main\/(.+)$/.exec(req.url ?? '');
  if (match && SERVED.includes(match[1])) res.end(readFileSync(join(TINY_BERT, match[1])));
  else res.writeHead(404).end('Entry not found');
});
const listening = new Promise<string>((resolve) =>
  server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
);
after(() => {
  server.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

test('a Hub id is downloaded once into the cache, then served from it, even offline', async () => {
  const endpoint = await listening;
  const dir = await resolveModelRef('acme/tiny-bert', { cacheDir, endpoint });
  assert.equal(dir, hubCacheFolder('acme/tiny-bert', { cacheDir }));
  for (const f of SERVED) assert.ok(existsSync(join(dir, f)), f);
  const downloads = requests.length;
  assert.ok(requests.includes('/acme/tiny-bert/resolve/main/model.safetensors'));

  const again = await loadClassifier('acme/tiny-bert', { cacheDir, endpoint, offline: true });
  assert.equal(requests.length, downloads, 'the second load made no request');
  assert.equal(again.info.modelDir, dir);
  const [p] = await again.predict(['a wonderful film']);
  assert.deepEqual(Object.keys(p.probs), ['negative', 'positive']);
  again.dispose();
});

test('an unknown Hub id is a clear error', async () => {
  const endpoint = await listening;
  await assert.rejects(resolveModelRef('acme/no-such-model', { cacheDir, endpoint }), (e: any) =>
    e.kind === 'model-not-found' && /acme\/no-such-model has none of config\.json/.test(e.message));
});

test('offline with an empty cache names the files and the local-folder alternative', async () => {
  await assert.rejects(resolveModelRef('google/bert_uncased_L-2_H-128_A-2', { cacheDir, offline: true }), (e: any) =>
    e.kind === 'hub-offline' && /offline setting is on/.test(e.message) && /config\.json/.test(e.message) && /model\.safetensors/.test(e.message) && /folder/.test(e.fix));
});

test('an unreachable Hub (no network) is a clear error, not a stack trace', async () => {
  // Port 9 on 127.0.0.1 has no listener here: the connection is refused at once, as with no network.
  await assert.rejects(resolveModelRef('google/bert_uncased_L-2_H-128_A-2', { cacheDir, endpoint: 'http://127.0.0.1:9' }), (e: any) =>
    e.kind === 'hub-offline' && /Cannot reach the Hugging Face Hub/.test(e.message) && /folder/.test(e.fix));
});
