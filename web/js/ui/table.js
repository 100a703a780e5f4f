// The table screen: toolbar (new record, filter, who-changed-this, print) above the grid.
import { h, mount, uid } from './dom.js';
import { Grid } from './grid.js';

export async function renderTable({ main, table, app, view }) {
  const data = await app.read('rows', { table: table.id });
  let grid = null;
  const count = h('p', { class: 'row-count', role: 'status', 'aria-live': 'polite' });
  const filterId = uid('filter');
  const columnId = uid('column');
  const filterInput = h('input', {
    id: filterId, type: 'search', value: view.filter || '', placeholder: 'Type to filter', autocomplete: 'off',
    oninput: () => grid.setFilter(filterInput.value, columnSelect.value),
  });
  const columnSelect = h('select', {
    id: columnId, onchange: () => grid.setFilter(filterInput.value, columnSelect.value),
  }, h('option', { value: '' }, 'any column'),
  data.fields.map((f) => h('option', { value: f.id, selected: view.filterField === f.id }, f.display_name)));
  const historyButton = h('button', {
    type: 'button', onclick: () => {
      const sel = grid.selection();
      if (!sel || !sel.field) {
        app.notify('Select a cell first (not the Open column).');
        return;
      }
      app.showHistory(sel.record, sel.field, sel.label);
    },
  }, 'Who changed this?');

  grid = new Grid({
    table, data, view,
    save: (record, field, value) => app.write('set_cell', { record, field, value }),
    open: (record) => app.navigate(`${app.tableHref(table.id)}/r/${record}`),
    notify: (message) => app.notify(message),
    onChange: () => {
      if (!grid || !grid.rows) return;
      const total = grid.data.rows.length;
      const shown = grid.rows.length;
      count.textContent = shown === total ? `${total} record${total === 1 ? '' : 's'}` : `${shown} of ${total} records`;
      const sel = grid.selection();
      historyButton.disabled = !(sel && sel.field);
    },
  });

  mount(main,
    h('div', { class: 'table-head' },
      h('h1', { id: 'table-title' }, table.display_name),
      table.description ? h('p', { class: 'hint' }, table.description) : null),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': `${table.display_name} actions` },
      h('a', { class: 'button primary', href: `#${app.tableHref(table.id)}/new` }, 'New record'),
      h('span', { class: 'filter' },
        h('label', { for: filterId }, 'Filter'), filterInput,
        h('label', { for: columnId, class: 'visually-hidden' }, 'Filter in column'), columnSelect),
      historyButton,
      h('button', { type: 'button', onclick: () => app.undoRedo('undo'), 'aria-keyshortcuts': 'Control+Z' }, 'Undo'),
      h('button', { type: 'button', onclick: () => app.undoRedo('redo'), 'aria-keyshortcuts': 'Control+Shift+Z' }, 'Redo'),
      h('a', { class: 'button', href: `#${app.tableHref(table.id)}/print` }, 'Print view')),
    count,
    h('div', { class: 'grid-scroll' }, grid.element),
    h('p', { class: 'hint keys' }, 'Arrows move · Enter edits and saves · Tab saves and moves right · Escape cancels · ',
      'Delete clears · tap a selected cell to edit · Ctrl+Z undoes your last change'));
  grid.onChange();

  return {
    grid,
    async refresh() {
      grid.setData(await app.read('rows', { table: table.id }));
    },
    focus() { grid.focus(); },
  };
}
