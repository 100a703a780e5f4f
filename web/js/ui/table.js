// The table screen: toolbar (new record, import CSV, filter, who-changed-this, print) above the
// grid, and a strip that explains the selected cell's flags with their actions (resolve a conflict,
// keep mine / use canonical after drift, knock out a staged edit).
import { showResolveDialog } from './conflicts.js';
import { h, mount, uid } from './dom.js';
import { Grid } from './grid.js';
import { openImportDialog } from './import.js';
import { driftActions } from './staging.js';

function cellInfo(app, sel) {
  if (!sel || !sel.field) return [];
  const { flag, field } = sel;
  const where = `${sel.label} › ${field.display_name}`;
  const parts = [];
  if (flag && flag.conflict) {
    parts.push(h('p', { class: 'flag conflict' }, h('span', { 'aria-hidden': 'true' }, '⚑ '), `${flag.conflict_text}. `,
      h('button', { type: 'button', class: 'small', onclick: () => showResolveDialog(app, flag.conflict) }, 'Resolve…')));
  }
  if (flag && flag.drift) {
    parts.push(h('p', { class: 'flag drift' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), `${where}: ${flag.drift}. `,
      driftActions(app, { record: sel.record, field: field.id, record_label: sel.label, field_name: field.display_name })));
  } else if (flag && flag.staged) {
    parts.push(h('p', { class: 'flag staged' }, `${where} is staged: not saved to the shared log until you commit. `,
      h('button', {
        type: 'button', class: 'small', 'aria-label': `Knock out the staged change to ${where}`,
        onclick: () => app.write('stage_use_canonical', { record: sel.record, field: field.id }).catch((err) => app.notify(err.message)),
      }, 'Knock out')));
  }
  if (!flag && sel.isNew) parts.push(h('p', { class: 'flag staged' }, `${sel.label} is a new record, staged: not saved until you commit.`));
  return parts;
}

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
  const info = h('div', { class: 'cell-info', 'aria-live': 'polite' });
  let infoKey = null;
  const importButton = h('button', { type: 'button', onclick: () => openImportDialog(app, table) }, 'Import CSV…');
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
      const key = JSON.stringify(sel && [sel.record, sel.field && sel.field.id, sel.flag, sel.isNew]);
      if (key !== infoKey) {
        infoKey = key;
        mount(info, cellInfo(app, sel));
      }
    },
  });

  mount(main,
    h('div', { class: 'table-head' },
      h('h1', { id: 'table-title' }, table.display_name),
      table.description ? h('p', { class: 'hint' }, table.description) : null),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': `${table.display_name} actions` },
      h('a', { class: 'button primary', href: `#${app.tableHref(table.id)}/new` }, 'New record'),
      importButton,
      h('span', { class: 'filter' },
        h('label', { for: filterId }, 'Filter'), filterInput,
        h('label', { for: columnId, class: 'visually-hidden' }, 'Filter in column'), columnSelect),
      historyButton,
      h('button', { type: 'button', onclick: () => app.undoRedo('undo'), 'aria-keyshortcuts': 'Control+Z' }, 'Undo'),
      h('button', { type: 'button', onclick: () => app.undoRedo('redo'), 'aria-keyshortcuts': 'Control+Shift+Z' }, 'Redo'),
      h('a', { class: 'button', href: `#${app.tableHref(table.id)}/print` }, 'Print view')),
    count,
    h('div', { class: 'grid-scroll' }, grid.element),
    info,
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
