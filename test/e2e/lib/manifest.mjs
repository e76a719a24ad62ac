// The extension's manifest as users see it: `%key%` strings replaced by their English text from
// package.nls.json, and each command's full palette title ("BERT: Fine-tune on Workspace Data").
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function readManifest(root) {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const nlsFile = join(root, 'package.nls.json');
  const nls = existsSync(nlsFile) ? JSON.parse(readFileSync(nlsFile, 'utf8')) : {};
  const resolve = (text) => (typeof text === 'string' ? text.replace(/^%([\w.-]+)%$/, (match, key) => nls[key] ?? match) : text);
  const commandTitles = Object.fromEntries(
    manifest.contributes.commands.map((c) => [c.command, `${resolve(c.category)}: ${resolve(c.title)}`]),
  );
  return { manifest, extensionId: `${manifest.publisher}.${manifest.name}`, commandTitles, resolve };
}
