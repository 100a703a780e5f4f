// A print view of one table: the columns shown in the grid (chosen with Columns…), the rows as the grid
// shows them (same filter and sort), with what, when and by whom on top; the show's name, the table
// and the page number on every printed page; Export CSV / Excel of the whole table. Print CSS hides
// everything else.
import { h, mount } from './dom.js';
import { formatDateTime } from './format.js';
import { visibleRows } from './grid.js';
import { shownFields } from './gridview.js';
import { cellText, downloadFile, keepsTogether, setPageFurniture } from './paper.js';

export async function renderPrint({ main, table, app, view }) {
  const data = await app.read('rows', { table: table.id });
  const rows = visibleRows(data, view); // the grid's own filter and sort
  const fields = shownFields(data.fields, view).map((f) => ({ ...f, nowrap: /phone|mobile|tel/i.test(f.id) }));
  const printed = formatDateTime(new Date());
  const filter = view.filter ? `Filter: “${view.filter}”` : null;
  setPageFurniture({ show: app.workspaceName(), title: table.display_name });
  const exportAs = async (format) => {
    try {
      const file = await app.read('view_export', { view: `table:${table.id}`, format, offset: -new Date().getTimezoneOffset() });
      downloadFile(file);
      app.notify(`Exported ${file.filename}: every record and field of ${table.display_name}.`);
    } catch (err) {
      app.notify(`Not exported: ${err.message}`);
    }
  };
  mount(main,
    h('div', { class: 'print-actions no-print' },
      h('button', { type: 'button', class: 'primary', onclick: () => window.print() }, 'Print'),
      h('button', { type: 'button', onclick: () => exportAs('csv') }, 'Export CSV'),
      h('button', { type: 'button', onclick: () => exportAs('xlsx') }, 'Export Excel'),
      h('button', { type: 'button', onclick: () => app.newView(table.id, fields.map((f) => f.id)) }, 'Save as a view…'),
      h('a', { class: 'button', href: `#${app.tableHref(table.id)}` }, 'Back to table')),
    h('article', { class: 'print-view' },
      h('header', {},
        h('h1', {}, `${table.display_name}`),
        h('p', { class: 'print-meta' }, `${app.workspaceName()} · ${rows.length} record${rows.length === 1 ? '' : 's'}`
          + ` · printed ${printed} by ${app.displayName()}`, filter ? ` · ${filter}` : '')),
      h('table', { class: 'print-table' },
        h('thead', {}, h('tr', {}, fields.map((f) => h('th', { scope: 'col' }, f.display_name)))),
        h('tbody', {}, rows.map((row) => h('tr', {}, fields.map((f) => h('td', {
          class: `type-${f.type}${keepsTogether(f) ? ' keep' : ''}`,
        }, cellText(f, row.values[f.id])))))))));
  return { refresh: async () => {} };
}
