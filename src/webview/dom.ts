/** The few DOM helpers the panel's modules share: elements by id, and tables and paragraphs built from text (never parsed as HTML). */

export function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the panel's page has no #${id}`);
  return found as T;
}

export function button(id: string): HTMLButtonElement {
  return element<HTMLButtonElement>(id);
}

export function tableHead(titles: string[]): HTMLTableSectionElement {
  const thead = document.createElement('thead');
  const tr = document.createElement('tr');
  tr.append(...titles.map((title) => tableCell('th', title, 'col')));
  thead.append(tr);
  return thead;
}

export function tableBody(rows: HTMLTableRowElement[]): HTMLTableSectionElement {
  const tbody = document.createElement('tbody');
  tbody.append(...rows);
  return tbody;
}

export function tableCell(tag: 'th' | 'td', text: string, scope?: 'row' | 'col'): HTMLTableCellElement {
  const cell = document.createElement(tag);
  cell.textContent = text;
  if (scope) cell.scope = scope;
  return cell;
}

export function paragraph(text: string, className?: string): HTMLParagraphElement {
  const p = document.createElement('p');
  p.textContent = text;
  if (className) p.className = className;
  return p;
}
