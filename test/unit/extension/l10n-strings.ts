/**
 * The UI strings of the extension, found in its sources: the literal first arguments of
 * `vscode.l10n.t(…)` (and of the training panel page's `t(…)`), plus the panel script's strings.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PANEL_STRINGS } from '../../../src/shared/panel-strings';

const CALL = /\b(?:l10n\.t|\bt)\(\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\$]|\\.)*`)/g;

export function runtimeStrings(root: string): Set<string> {
  const found = new Set<string>(PANEL_STRINGS);
  for (const file of tsFiles(join(root, 'src', 'extension'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(CALL)) found.add(unquote(match[1]));
  }
  return found;
}

function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  return body.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}
