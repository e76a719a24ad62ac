/** The panel's strings: the translations the extension host put in the page, else English. */
import type { PanelString } from '../shared/panel-strings';

const translations = readTranslations();

/** `t('step {0}/{1}', 3, 10)` → `step 3/10`, in the UI language. */
export function t(text: PanelString, ...args: (string | number)[]): string {
  const template = translations[text] ?? text;
  return template.replace(/\{(\d+)\}/g, (match, i: string) => (args[Number(i)] !== undefined ? String(args[Number(i)]) : match));
}

function readTranslations(): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(document.getElementById('strings')?.textContent ?? '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function pct(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

/** `0:05`, `12:34`, `1:02:03` */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
