// The table screen: toolbar (new record, import, filter, columns, fill down, who-changed-this, undo,
// print), the bar that says which cell is selected and whether it is being edited, the grid, and next
// to the selected cell an explanation of its flags with their actions (resolve a conflict, keep mine
// / use canonical after drift, knock out a staged edit), so they are always in view beside the cell.
import { showResolveDialog } from './conflicts.js';
import { h, mount, uid } from './dom.js';
import { formatValue, plural } from './format.js';
import { Grid } from './grid.js';
import { showPasteProblems, showStagedPaste, toTsv } from './gridclip.js';
import { openColumnsDialog, saveView } from './gridview.js';
import { openImportDialog } from './import.js';
import { driftActions } from './staging.js';


function cellInfo(app, sel) {
  if (!sel || !sel.field || sel.editing) return [];
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
    parts.push(h('p', { class: 'flag staged' }, `${where} is waiting for review: not saved or shared until you save it. `,
      h('button', {
        type: 'button', class: 'small', 'aria-label': `Drop my change to ${where}`,
        onclick: () => app.write('stage_use_canonical', { record: sel.record, field: field.id }).catch((err) => app.notify(err.message)),
      }, 'Drop my change')));
  }
  if (!flag && sel.isNew) parts.push(h('p', { class: 'flag staged' }, `${sel.label} is a new record waiting for review: not saved until you save it.`));
  return parts;
}

/** "Jane Doe › Phone", the whole value, and the state: selected or being edited. */
function renderBar(bar, sel) {
  if (!sel) {
    mount(bar);
    return;
  }
  const where = sel.block ? `${plural(sel.rows, 'row')} × ${plural(sel.cols, 'column')} selected`
    : sel.field ? `${sel.label} › ${sel.field.display_name}` : sel.label;
  const value = !sel.block && sel.field ? formatValue(sel.field, sel.value) : '';
  const mode = sel.editing ? 'Editing — Enter saves, Esc cancels'
    : sel.block ? 'Selected — Ctrl+C copies, Ctrl+D fills down, Delete clears'
      : sel.field ? 'Selected — type or press Enter to edit' : 'Enter opens the record';
  mount(bar,
    h('span', { class: 'cell-where' }, where),
    h('span', { class: 'cell-value' }, value),
    h('span', { class: `cell-mode ${sel.editing ? 'is-editing' : 'is-selected'}` }, mode));
  bar.dataset.mode = sel.editing ? 'editing' : 'selected';
}

/** The grid fills the screen down to the hint line: nothing important below the fold, at any size. */
function fitGrid(frame, grid, hint) {
  if (!frame.isConnected) return;
  const top = frame.getBoundingClientRect().top + window.scrollY;
  const below = (hint.offsetHeight || 20) + 28;
  const height = Math.max(224, Math.floor(window.innerHeight - top - below));
  if (Math.abs(grid.scroller.offsetHeight - height) > 1) {
    grid.scroller.style.height = `${height}px`;
    grid.renderWindow();
  }
}

/** Put the explanation next to the selected cell: below it, or above when there is no room below. */
function placeInfo(info, frame, grid) {
  if (!info.childElementCount) return;
  const rect = grid.activeRect(frame);
  if (!rect) {
    info.classList.add('docked'); // the cell is scrolled away: keep the explanation at the bottom of the grid
    info.style.top = '';
    info.style.left = '';
    return;
  }
  info.classList.remove('docked');
  const width = info.offsetWidth;
  const height = info.offsetHeight;
  const room = frame.clientHeight;
  const below = rect.bottom + 4;
  info.style.top = `${below + height <= room || rect.top - height - 4 < 0 ? below : rect.top - height - 4}px`;
  info.style.left = `${Math.max(4, Math.min(rect.left, frame.clientWidth - width - 4))}px`;
}

export async function renderTable({ main, table, app, view }) {
  performance.mark('openprod-grid-start'); // bench/grid_bench.py: from here to the grid's first paint
  const data = await app.read('rows', { table: table.id });
  performance.mark('openprod-grid-rows');
  let grid = null;
  const count = h('p', { class: 'row-count', role: 'status', 'aria-live': 'polite' });
  const filterId = uid('filter');
  const columnId = uid('column');
  const remember = () => saveView(app.ws.id, table.id, view);
  const filterInput = h('input', {
    id: filterId, type: 'search', value: view.filter || '', placeholder: 'Type to filter', autocomplete: 'off',
    oninput: () => grid.setFilter(filterInput.value, columnSelect.value),
  });
  const columnSelect = h('select', {
    id: columnId, onchange: () => grid.setFilter(filterInput.value, columnSelect.value),
  }, h('option', { value: '' }, 'any column'),
  data.fields.map((f) => h('option', { value: f.id, selected: view.filterField === f.id }, f.display_name)));
  const bar = h('div', { class: 'cell-bar', dataset: { mode: 'selected' } });
  const info = h('div', { class: 'cell-info', 'aria-live': 'polite' });
  const frame = h('div', { class: 'grid-frame' });
  let infoKey = null;
  const importButton = h('button', { type: 'button', onclick: () => openImportDialog(app, table) }, 'Import…');
  const fillButton = h('button', { type: 'button', onclick: () => grid.fillDown(), 'aria-keyshortcuts': 'Control+D' }, 'Fill down');
  const historyButton = h('button', {
    type: 'button', onclick: () => {
      const sel = grid.selection();
      if (!sel || !sel.field || !sel.record) {
        app.notify('Select a cell of a record first (not the Open column).');
        return;
      }
      app.showHistory(sel.record, sel.field, sel.label);
    },
  }, 'Who changed this?');

  const done = (promise) => promise.catch((err) => {
    app.notify(`Not done: ${err.message}`);
    return null;
  });
  const actions = {
    save: (record, field, value) => app.write('set_cell', { record, field, value }),
    create: (values) => app.write('create_record', { table: table.id, values }),
    copy(clipboard, rows) {
      clipboard.setData('text/plain', toTsv(rows));
      app.notify(`Copied ${plural(rows.length, 'row')} × ${plural(rows[0].length, 'column')}.`);
    },
    async paste(text, records, fields) {
      performance.mark('openprod-paste-start');
      const result = await done(app.write('paste', { table: table.id, text, records, fields }));
      if (!result) return null;
      if (result.problems.length) showPasteProblems(result.problems);
      else if (result.staged) {
        showStagedPaste(app, result);
        performance.mark('openprod-paste-staged'); // bench/grid_bench.py: time to staged
      } else {
        const parts = [result.changed ? plural(result.changed, 'cell') : null,
          result.created.length ? plural(result.created.length, 'new record') : null].filter(Boolean);
        app.notify(parts.length ? `Pasted: ${parts.join(' and ')}.` : 'Pasted: nothing changed.');
      }
      return result;
    },
    async fillDown(records, fields) {
      const result = await done(app.write('fill_down', { records, fields }));
      if (result) app.notify(result.changed ? `Filled down: ${plural(result.changed, 'cell')} changed.` : 'Filled down: nothing changed.');
    },
    async clear(records, fields) {
      const result = await done(app.write('clear_cells', { records, fields }));
      if (result) app.notify(`Cleared ${plural(result.cleared, 'cell')}.`);
    },
  };

  grid = new Grid({
    table, data, view, actions,
    open: (record) => app.navigate(`${app.tableHref(table.id)}/r/${record}`),
    notify: (message) => app.notify(message),
    onViewChange: remember,
    hasActions: () => Boolean(info.querySelector('button, a[href], input, select, textarea')),
    onChange: () => {
      if (!grid || !grid.rows) return;
      const total = grid.data.rows.length;
      const shown = grid.rows.length;
      count.textContent = shown === total ? plural(total, 'record') : `${shown.toLocaleString()} of ${plural(total, 'record')}`;
      const sel = grid.selection();
      historyButton.disabled = !(sel && sel.field && sel.record);
      fillButton.disabled = !(sel && sel.block && sel.rows > 1);
      renderBar(bar, sel);
      const key = JSON.stringify(sel && [sel.record, sel.field && sel.field.id, sel.flag, sel.isNew, sel.editing]);
      if (key !== infoKey) {
        infoKey = key;
        mount(info, cellInfo(app, sel));
      }
      placeInfo(info, frame, grid);
    },
  });
  const hint = h('p', { class: 'hint keys' }, 'Arrows move, Shift+arrows select · Enter or typing edits · Esc cancels · ',
    'Ctrl+C, Ctrl+V copy and paste (also to and from Sheets and Excel) · Ctrl+D fills down · Ctrl+Z undoes · ',
    'on a tablet, tap a selected cell to edit and drag the round handle to select more');
  const fit = () => {
    if (!frame.isConnected) {
      window.removeEventListener('resize', fit);
      return;
    }
    fitGrid(frame, grid, hint);
    placeInfo(info, frame, grid);
  };
  window.addEventListener('resize', fit);
  mount(frame, grid.element, info);

  mount(main,
    h('div', { class: 'table-head' },
      h('h1', { id: 'table-title' }, table.display_name),
      count,
      table.description ? h('p', { class: 'hint table-description' }, table.description) : null),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': `${table.display_name} actions` },
      h('a', { class: 'button primary', href: `#${app.tableHref(table.id)}/new` }, 'New record'),
      importButton,
      h('span', { class: 'filter' },
        h('label', { for: filterId }, 'Filter'), filterInput,
        h('label', { for: columnId, class: 'visually-hidden' }, 'Filter in column'), columnSelect),
      h('button', {
        type: 'button', onclick: () => openColumnsDialog({
          table, fields: data.fields, view, onChange: () => { grid.refresh(); remember(); },
        }),
      }, 'Columns…'),
      fillButton,
      historyButton,
      h('button', { type: 'button', onclick: () => app.undoRedo('undo'), 'aria-keyshortcuts': 'Control+Z' }, 'Undo'),
      h('button', { type: 'button', onclick: () => app.undoRedo('redo'), 'aria-keyshortcuts': 'Control+Shift+Z' }, 'Redo'),
      h('a', { class: 'button', href: `#${app.tableHref(table.id)}/print` }, 'Print view')),
    bar,
    frame,
    hint);
  fitGrid(frame, grid, hint);
  grid.reveal();
  grid.onChange();
  requestAnimationFrame(() => setTimeout(() => performance.mark('openprod-grid-painted'))); // after the frame

  return {
    grid,
    async refresh() {
      grid.setData(await app.read('rows', { table: table.id }));
    },
    focus() { grid.focus(); },
    onStatus() { fit(); }, // the staging banner came or went: the grid's room changed
  };
}
