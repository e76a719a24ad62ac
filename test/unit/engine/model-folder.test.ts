/**
 * The same golden logits from every form of checkpoint users have, and one clear error for each
 * broken model folder.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src/server/engine/backend';
import { loadClassifier } from '../../../src/server/engine/classifier';
import { readSafetensors, writeSafetensors, type WriteDtype } from '../../../src/server/engine/checkpoint/safetensors';
import { TINY_BERT, loadGolden, maxAbsDiff } from '../../helpers/golden';

const golden = loadGolden();
const texts = golden.samples.map((s) => s.text);
const scratch = mkdtempSync(join(tmpdir(), 'model-folder-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

before(() => initBackend('wasm'));

/** A copy of the fixture folder with only the given files (plus extra ones written by `edit`). */
function folder(name: string, files: string[], edit?: (dir: string) => void | Promise<void>): Promise<string> {
  const dir = join(scratch, name);
  for (const f of files) cpSync(join(TINY_BERT, f), join(dir, f.replace('.legacy', '')));
  return Promise.resolve(edit?.(dir)).then(() => dir);
}

const TOKENIZER = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

async function logitsOf(dir: string): Promise<number[]> {
  const classifier = await loadClassifier(dir);
  try {
    return (await classifier.predict(texts, { maxLength: 16 })).flatMap((p) => p.logits);
  } finally {
    classifier.dispose();
  }
}

async function rewriteSafetensors(dir: string, dtype: WriteDtype, rename: (key: string) => string = (k) => k) {
  const { tensors } = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
  const renamed = new Map([...tensors].map(([k, t]) => [rename(k), t]));
  await writeSafetensors(join(dir, 'model.safetensors'), renamed, { dtype, metadata: { format: 'pt' } });
}

const cases: [string, () => Promise<string>, number][] = [
  ['model.safetensors', () => folder('safetensors', [...TOKENIZER, 'model.safetensors']), 2e-5],
  ['pytorch_model.bin (zip)', () => folder('zip', [...TOKENIZER, 'pytorch_model.bin']), 2e-5],
  ['pytorch_model.bin (legacy pickle)', () => folder('legacy', [...TOKENIZER, 'pytorch_model.legacy.bin']), 2e-5],
  ['legacy key names (no bert. prefix, LayerNorm gamma/beta)', () => folder('legacy-keys', TOKENIZER, (d) =>
    rewriteSafetensors(d, 'F32', (k) => k.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'))), 2e-5],
  ['an F16 copy', () => folder('f16', TOKENIZER, (d) => rewriteSafetensors(d, 'F16')), 3e-3], // measured 8.5e-4
  ['a BF16 copy', () => folder('bf16', TOKENIZER, (d) => rewriteSafetensors(d, 'BF16')), 4e-2], // measured 1.2e-2
  ['vocab.txt without tokenizer.json', () => folder('vocab-only', ['config.json', 'vocab.txt', 'tokenizer_config.json', 'model.safetensors']), 2e-5],
];

for (const [name, makeFolder, tolerance] of cases) {
  test(`${name}: the golden logits`, async () => {
    const diff = maxAbsDiff(await logitsOf(await makeFolder()), golden.outputs.logits);
    assert.ok(diff <= tolerance, `max abs diff ${diff} > ${tolerance}`);
  });
}

test('extra pre-training heads are ignored; a missing pooler and classifier are initialised and reported', async () => {
  const dir = await folder('base-model', TOKENIZER, async (d) => {
    const { tensors } = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
    const kept = new Map([...tensors].filter(([k]) => !k.startsWith('classifier.') && !k.startsWith('bert.pooler.')));
    kept.set('cls.predictions.bias', { shape: [30522], dtype: 'F32', data: new Float32Array(30522) });
    await writeSafetensors(join(d, 'model.safetensors'), kept);
  });
  const classifier = await loadClassifier(dir);
  const warnings = classifier.info.warnings.join('\n');
  assert.match(warnings, /bert\.pooler\.dense is not in .* initialised randomly/);
  assert.match(warnings, /classifier is not in .* initialised randomly/);
  assert.doesNotMatch(warnings, /cls\.predictions/);
  const [p] = await classifier.predict(['fine']);
  assert.equal(Object.keys(p.probs).length, 2);
  classifier.dispose();
});

test('a classifier for another number of classes is re-initialised for the config\'s classes', async () => {
  const dir = await folder('five-classes', ['tokenizer.json', 'model.safetensors'], (d) => {
    const config = JSON.parse(readFileSync(join(TINY_BERT, 'config.json'), 'utf8'));
    config.id2label = { 0: 'very negative', 1: 'negative', 2: 'neutral', 3: 'positive', 4: 'very positive' };
    writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  });
  const classifier = await loadClassifier(dir);
  assert.match(classifier.info.warnings.join('\n'), /another number of classes.*5 classes/);
  const [p] = await classifier.predict(['fine']);
  assert.deepEqual(Object.keys(p.probs), ['very negative', 'negative', 'neutral', 'positive', 'very positive']);
  classifier.dispose();
});

async function expectUserError(dir: string, kind: string, pattern: RegExp) {
  await assert.rejects(loadClassifier(dir), (e: any) => {
    assert.equal(e.name, 'UserError', `not a UserError: ${e.stack}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, pattern);
    return true;
  });
}

test('bad model folders: one clear error each, naming the file', async () => {
  await expectUserError(await folder('no-config', ['tokenizer.json', 'model.safetensors']), 'missing-file', /No config\.json/);
  await expectUserError(await folder('truncated', [...TOKENIZER, 'model.safetensors'], (d) => {
    const f = join(d, 'model.safetensors');
    truncateSync(f, Math.floor(statSync(f).size / 2));
  }), 'truncated-weights', /model\.safetensors/);
  await expectUserError(await folder('wrong-shape', TOKENIZER, async (d) => {
    const { tensors } = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
    tensors.set('bert.encoder.layer.0.intermediate.dense.weight', { shape: [32, 64], dtype: 'F32', data: new Float32Array(32 * 64) });
    await writeSafetensors(join(d, 'model.safetensors'), tensors);
  }), 'shape-mismatch', /bert\.encoder\.layer\.0\.intermediate\.dense\.weight .*\[32, 64\].*\[64, 32\]/);
  await expectUserError(await folder('gpt2', ['tokenizer.json', 'model.safetensors'], (d) => {
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'gpt2', vocab_size: 50257 }));
  }), 'unsupported-model', /model_type "gpt2" is not supported/);
  await expectUserError(await folder('no-weights', TOKENIZER), 'missing-file', /model\.safetensors/);
  await expectUserError(await folder('evil-pickle', TOKENIZER, (d) => {
    // protocol 2: os.system('ls') — must be refused, never run
    writeFileSync(join(d, 'pytorch_model.bin'), Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1'));
  }), 'unsafe-pickle', /os\.system/);
  await expectUserError(await folder('missing-tensor', TOKENIZER, async (d) => {
    const { tensors } = await readSafetensors(join(TINY_BERT, 'model.safetensors'));
    tensors.delete('bert.encoder.layer.1.attention.self.key.weight');
    await writeSafetensors(join(d, 'model.safetensors'), tensors);
  }), 'bad-weights', /bert\.encoder\.layer\.1\.attention\.self\.key\.weight/);
});
