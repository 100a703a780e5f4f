// A print view of one table: every column, the rows as the grid shows them (same filter and
// sort), with what, when and by whom on top. Print CSS hides everything else.
import { h, mount } from './dom.js';
import { formatValue } from './format.js';
import { visibleRows } from './grid.js';

export async function renderPrint({ main, table, app, view }) {
  const data = await app.read('rows', { table: table.id });
  const rows = visibleRows(data, view); // the grid's own filter and sort
  const printed = new Date().toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'short' });
  const filter = view.filter ? `Filter: “${view.filter}”` : null;
  mount(main,
    h('div', { class: 'print-actions no-print' },
      h('button', { type: 'button', class: 'primary', onclick: () => window.print() }, 'Print'),
      h('a', { class: 'button', href: `#${app.tableHref(table.id)}` }, 'Back to table')),
    h('article', { class: 'print-view' },
      h('header', {},
        h('h1', {}, `${table.display_name}`),
        h('p', { class: 'print-meta' }, `${app.workspaceName()} · ${rows.length} record${rows.length === 1 ? '' : 's'}`
          + ` · printed ${printed} by ${app.displayName()}`, filter ? ` · ${filter}` : '')),
      h('table', { class: 'print-table' },
        h('thead', {}, h('tr', {}, data.fields.map((f) => h('th', { scope: 'col' }, f.display_name)))),
        h('tbody', {}, rows.map((row) => h('tr', {}, data.fields.map((f) => h('td', { class: `type-${f.type}` }, formatValue(f, row.values[f.id])))))))));
  return { refresh: async () => {} };
}
