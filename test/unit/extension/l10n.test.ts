/**
 * Every UI string has its Simplified Chinese translation: the manifest's `%key%` strings in
 * package.nls.json and package.nls.zh-cn.json, the runtime strings (`vscode.l10n.t`, the training
 * panel's) in l10n/bundle.l10n.zh-cn.json, with the same `{0}` placeholders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeStrings } from './l10n-strings';

const root = join(__dirname, '..', '..', '..');
const json = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8')) as Record<string, unknown>;
const placeholders = (text: string) => [...text.matchAll(/\{\d+\}/g)].map((m) => m[0]).sort();

test('every %key% of the manifest is in package.nls.json and package.nls.zh-cn.json', () => {
  const manifest = readFileSync(join(root, 'package.json'), 'utf8');
  const keys = [...manifest.matchAll(/"%([\w.-]+)%"/g)].map((m) => m[1]);
  assert.ok(keys.length > 20, 'the manifest is localized');
  const english = json('package.nls.json');
  const chinese = json('package.nls.zh-cn.json');
  assert.deepEqual(keys.filter((k) => !(k in english)), [], 'missing in package.nls.json');
  assert.deepEqual(keys.filter((k) => !(k in chinese)), [], 'missing in package.nls.zh-cn.json');
  assert.deepEqual(Object.keys(chinese).sort(), Object.keys(english).sort(), 'both files have the same keys');
});

test('the manifest declares its runtime translations', () => {
  assert.equal(json('package.json').l10n, './l10n');
});

test('every runtime string has a Chinese translation with the same placeholders', () => {
  const bundle = json(join('l10n', 'bundle.l10n.zh-cn.json')) as Record<string, string>;
  const strings = [...runtimeStrings(root)];
  assert.ok(strings.length > 50, `found ${strings.length} strings`);
  assert.deepEqual(strings.filter((s) => !(s in bundle)), [], 'missing in l10n/bundle.l10n.zh-cn.json');
  for (const s of strings) assert.deepEqual(placeholders(bundle[s]), placeholders(s), `placeholders of "${s}"`);
});
