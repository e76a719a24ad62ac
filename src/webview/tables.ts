/**
 * The panel's tables, built with DOM calls (labels and texts come from the user's data and are
 * never parsed as HTML): the confusion matrix and per-class metrics of an evaluation, and the
 * dataset summary.
 */
import type { DatasetSummary } from '../server/engine/data';
import type { ClassificationMetrics } from '../server/engine/train/metrics';
import { paragraph, tableBody as body, tableCell as cell, tableHead as head } from './dom';
import { pct, t } from './strings';

/**
 * The confusion matrix; with `onSelect`, each count is a button (click or Enter) that chooses its
 * cell, to list the rows behind it.
 */
export function renderConfusion(table: HTMLTableElement, metrics: ClassificationMetrics, onSelect?: (trueClass: number, predicted: number) => void): void {
  const labels = Object.keys(metrics.perClass);
  const max = Math.max(1, ...metrics.confusion.flat());
  table.replaceChildren(
    head([t('true \\ predicted'), ...labels]),
    body(
      metrics.confusion.map((row, i) => {
        const tr = document.createElement('tr');
        tr.append(cell('th', labels[i], 'row'));
        row.forEach((count, j) => {
          const td = cell('td', onSelect ? '' : String(count));
          td.classList.add('heat', i === j ? 'diagonal' : 'off-diagonal');
          if (onSelect) {
            const choose = document.createElement('button');
            choose.type = 'button';
            choose.className = 'cell';
            choose.textContent = String(count);
            Object.assign(choose.dataset, { true: String(i), predicted: String(j), count: String(count) });
            choose.setAttribute('aria-label', t('True "{0}", predicted "{1}": {2} rows. Show them', labels[i], labels[j], count));
            choose.addEventListener('click', () => onSelect(i, j));
            td.append(choose);
          }
          // A custom property set through the CSSOM: allowed by the page's CSP, unlike a style attribute.
          td.style.setProperty('--share', String(count / max));
          td.title = `${labels[i]} → ${labels[j]}: ${count}`;
          tr.append(td);
        });
        return tr;
      }),
    ),
  );
}

export function renderPerClass(table: HTMLTableElement, metrics: ClassificationMetrics): void {
  const rows = Object.entries(metrics.perClass).map(([label, m]) => row([label, pct(m.precision), pct(m.recall), pct(m.f1), String(m.support)]));
  rows.push(row([t('macro F1'), '', '', pct(metrics.macroF1), String(metrics.n)], 'total'));
  table.replaceChildren(head([t('class'), t('precision'), t('recall'), t('F1'), t('support')]), body(rows));
}

export function renderDataset(container: HTMLElement, s: DatasetSummary): void {
  const lines = [
    `${s.path} (${s.format})`,
    t('Rows: {0} read, {1} kept', s.rows.read, s.rows.kept),
    t('Columns: text "{0}", label "{1}"', s.columns.text, s.columns.label),
    s.splitRule,
    t('Always "{0}" (baseline): {1}', s.baseline.label, (['train', 'validation', 'test'] as const).filter((x) => s.baseline.accuracy[x] !== undefined).map((x) => `${t(x)} ${pct(s.baseline.accuracy[x])}`).join(', ')),
    ...(s.tokens ? [t('Tokens: median {0}, 90th percentile {1}, longest {2}', s.tokens.median, s.tokens.p90, s.tokens.max)] : []),
  ];
  const splits = document.createElement('table');
  splits.className = 'splits';
  splits.append(
    head([t('split'), t('examples'), ...s.id2label]),
    body((['train', 'validation', 'test'] as const).map((x) => row([t(x), String(s.splits[x].examples), ...s.id2label.map((l) => String(s.splits[x].labels[l] ?? 0))]))),
  );
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  wrap.append(splits);
  const warnings = s.warnings.map((w) => paragraph(`⚠ ${w}`, 'warning'));
  container.replaceChildren(...lines.map((line) => paragraph(line)), wrap, ...warnings);
}

function row(values: string[], className?: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  if (className) tr.className = className;
  tr.append(cell('th', values[0], 'row'), ...values.slice(1).map((v) => cell('td', v)));
  return tr;
}
