// A spreadsheet-like grid for one table, following the WAI-ARIA grid pattern.
//
// Keyboard: the grid is one Tab stop; arrows, Home/End, Ctrl+Home/End and PageUp/PageDown move
// the active cell; Enter or F2 edits (or opens the record from the first column, or toggles a
// yes/no cell, as Space does); typing a character starts editing with it; Delete clears.
// While editing: Enter saves and moves down, Tab/Shift+Tab save and move right/left, Escape
// cancels. Touch: tap a cell to select it, tap it again (or double-tap) to edit.
// Every saved cell is one call, so one signed bundle. Flagged cells are marked: in conflict (⚑),
// staged in the active overlay (tinted), changed underneath while staging (⚠ drift); rows created in
// the overlay are marked new. Collaborative text is edited in the record form (Enter opens it).
import { h, mount } from './dom.js';
import { compareValues, formatValue, inputAttrs, inputValue } from './format.js';

const PAGE = 10;

/** The rows a view shows: filtered (all columns or one) and sorted, empty values last. */
export function visibleRows(data, view) {
  const { sortField, sortDir, filter, filterField } = view;
  const fields = data.fields;
  let rows = data.rows;
  const needle = (filter || '').trim().toLowerCase();
  if (needle) {
    const searched = filterField ? fields.filter((f) => f.id === filterField) : fields;
    rows = rows.filter((row) => searched.some((f) => formatValue(f, row.values[f.id]).toLowerCase().includes(needle)));
  }
  const field = fields.find((f) => f.id === sortField);
  if (field && sortDir) {
    const sign = sortDir === 'ascending' ? 1 : -1;
    const empty = (v) => v === undefined || v === null || v === '';
    rows = [...rows].sort((a, b) => {
      const va = a.values[field.id];
      const vb = b.values[field.id];
      if (empty(va) || empty(vb)) return compareValues(field, va, vb);
      return sign * compareValues(field, va, vb);
    });
  }
  return rows;
}


/** The marks a flagged cell shows: an icon, and the same in words for screen readers. */
function cellMarks(flag) {
  if (!flag) return null;
  const words = [flag.conflict ? 'in conflict' : null, flag.drift ? 'changed underneath' : flag.staged ? 'staged' : null]
    .filter(Boolean).join(', ');
  const icon = flag.conflict ? '⚑' : flag.drift ? '⚠' : '';
  return [icon ? h('span', { class: 'cell-flag', 'aria-hidden': 'true' }, icon) : null,
    h('span', { class: 'visually-hidden' }, ` (${words})`)];
}

export class Grid {
  /**
   * @param {object} o
   * @param {{id: string, display_name: string}} o.table
   * @param {{fields: object[], rows: object[]}} o.data from the worker's `rows` method
   * @param {object} o.view sort/filter state, kept by the caller across visits (mutated here)
   * @param {(record: string, field: string, value: any) => Promise<any>} o.save one cell, one bundle
   * @param {(record: string) => void} o.open show the record form
   * @param {(message: string) => void} o.notify tell the user something went wrong
   * @param {() => void} o.onChange the visible rows or active cell changed
   */
  constructor({ table, data, view, save, open, notify, onChange }) {
    this.table = table;
    this.view = view;
    this.save = save;
    this.open = open;
    this.notify = notify;
    this.onChange = onChange || (() => {});
    this.editing = null;
    this.deferred = null;
    this.active = { row: view.activeRow ?? null, col: view.activeCol ?? 1 };
    this.setData(data, { keepFocus: false });
  }

  get fields() {
    return this.data.fields;
  }

  /** New rows from the worker; keeps the active cell on the same record if it is still shown. */
  setData(data, { keepFocus = true } = {}) {
    if (this.editing) {
      this.deferred = data; // never yank a cell out from under the person typing in it
      return;
    }
    const hadFocus = keepFocus && Boolean(this.element) && this.body.contains(document.activeElement);
    this.data = data;
    this.rows = this.visibleRows();
    if (!this.element) this.build();
    this.renderHead();
    this.renderBody();
    this.placeActive(hadFocus);
    this.onChange();
  }

  visibleRows() {
    return visibleRows(this.data, this.view);
  }

  // --- building -----------------------------------------------------------------------------

  build() {
    this.head = h('thead');
    this.body = h('tbody');
    this.element = h('table', {
      class: 'grid', role: 'grid', 'aria-label': this.table.display_name, 'aria-readonly': 'false',
      onkeydown: (e) => this.onKeyDown(e),
      onclick: (e) => this.onClick(e),
      ondblclick: (e) => this.onDoubleClick(e),
    }, this.head, this.body);
  }

  renderHead() {
    const cells = [h('th', { scope: 'col', class: 'open-col' }, h('span', { class: 'visually-hidden' }, 'Record'))];
    for (const field of this.fields) {
      const sort = this.view.sortField === field.id ? this.view.sortDir : null;
      const label = field.display_name + (field.required ? ' *' : '');
      cells.push(h('th', { scope: 'col', 'aria-sort': sort || false, title: field.description || false },
        h('button', {
          type: 'button', class: 'sort', dataset: { field: field.id },
          onclick: () => this.cycleSort(field.id),
          'aria-label': `${field.display_name}${field.required ? ' (required)' : ''}: sort`,
        }, label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sort === 'ascending' ? ' ▲' : sort === 'descending' ? ' ▼' : ''))));
    }
    mount(this.head, h('tr', { 'aria-rowindex': 1 }, cells));
    this.element.setAttribute('aria-colcount', String(this.fields.length + 1));
    this.element.setAttribute('aria-rowcount', String(this.rows.length + 1));
  }

  renderBody() {
    const trs = this.rows.map((row, r) => {
      const label = this.rowLabel(row);
      const fresh = this.isNew(row.id);
      const tds = [h('th', { scope: 'row', role: 'rowheader', class: 'open-col', tabindex: -1, dataset: { row: r, col: 0 } },
        h('a', { href: `#${this.recordHref(row.id)}`, tabindex: -1, 'aria-label': `Open ${label}${fresh ? ' (new, staged)' : ''}`, class: 'open-link' }, 'Open'),
        fresh ? h('span', { class: 'new-badge', 'aria-hidden': 'true' }, 'new') : null)];
      this.fields.forEach((field, i) => {
        tds.push(this.renderCell(row, field, r, i + 1));
      });
      return h('tr', { 'aria-rowindex': r + 2, class: fresh ? 'staged-new' : false, dataset: { id: row.id } }, tds);
    });
    if (!trs.length) {
      const message = this.data.rows.length ? 'No records match the filter.' : 'No records yet.';
      trs.push(h('tr', {}, h('td', { colspan: this.fields.length + 1, class: 'empty' }, message)));
    }
    mount(this.body, trs);
  }

  renderCell(row, field, r, c) {
    const value = row.values[field.id];
    const flag = this.flagFor(row.id, field.id);
    const classes = flag ? ['conflict', 'staged', 'drift'].filter((k) => flag[k]) : [];
    const attrs = {
      role: 'gridcell', tabindex: -1, dataset: { row: r, col: c, field: field.id, type: field.type },
      'aria-readonly': this.inlineEditable(field) ? false : 'true', class: classes.join(' ') || false,
    };
    if (field.type === 'boolean') attrs['aria-checked'] = value ? 'true' : 'false';
    return h('td', attrs, formatValue(field, value), cellMarks(flag));
  }

  /** {conflict, conflict_text, staged, drift} for one cell, or null. */
  flagFor(recordId, fieldId) {
    const flags = this.data.flags && this.data.flags[recordId];
    return (flags && flags.fields && flags.fields[fieldId]) || null;
  }

  isNew(recordId) {
    const flags = this.data.flags && this.data.flags[recordId];
    return Boolean(flags && flags.new);
  }

  /** Editable in the cell itself: collaborative text is edited in the record form instead. */
  inlineEditable(field) {
    return field.editable && field.crdt !== 'text';
  }

  recordHref(id) {
    return `${this.view.base}/r/${id}`;
  }

  rowLabel(row) {
    const named = this.fields.find((f) => ['name', 'title', 'label'].includes(f.name) && row.values[f.id]);
    const first = named || this.fields.find((f) => f.type === 'string' && row.values[f.id]);
    return first ? String(row.values[first.id]) : 'record';
  }

  // --- the active cell ----------------------------------------------------------------------

  cell(row, col) {
    return this.body.querySelector(`[data-row="${row}"][data-col="${col}"]`);
  }

  activeCell() {
    return this.active.row === null ? null : this.cell(this.active.row, this.active.col);
  }

  /** After a re-render: same record if still visible, else clamp. */
  placeActive(focus) {
    if (!this.rows.length) {
      this.active.row = null;
      return;
    }
    let row = this.active.row;
    if (this.view.activeId) {
      const index = this.rows.findIndex((r) => r.id === this.view.activeId);
      if (index >= 0) row = index;
    }
    row = Math.max(0, Math.min(row ?? 0, this.rows.length - 1));
    const col = Math.max(0, Math.min(this.active.col ?? 1, this.fields.length));
    this.setActive(row, col, focus);
  }

  setActive(row, col, focus = true) {
    const old = this.activeCell();
    if (old) old.tabIndex = -1;
    this.active = { row, col };
    this.view.activeRow = row;
    this.view.activeCol = col;
    this.view.activeId = this.rows[row] ? this.rows[row].id : null;
    const cell = this.activeCell();
    if (!cell) return;
    cell.tabIndex = 0;
    if (focus) {
      cell.focus({ preventScroll: true });
      cell.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
    this.onChange();
  }

  move(dRow, dCol) {
    if (this.active.row === null) return;
    const row = Math.max(0, Math.min(this.rows.length - 1, this.active.row + dRow));
    const col = Math.max(0, Math.min(this.fields.length, this.active.col + dCol));
    this.setActive(row, col);
  }

  /** The record and field under the active cell (with its flags), for "who changed this?" and the cell info. */
  selection() {
    const row = this.rows[this.active.row];
    const field = this.fields[this.active.col - 1];
    return row ? {
      record: row.id, field: field || null, label: this.rowLabel(row),
      flag: field ? this.flagFor(row.id, field.id) : null, isNew: this.isNew(row.id),
    } : null;
  }

  focus() {
    const cell = this.activeCell();
    if (cell) cell.focus();
  }

  // --- input --------------------------------------------------------------------------------

  onClick(event) {
    const cell = event.target.closest('[data-row]');
    if (!cell || this.editing || event.target.closest('a')) return;
    const row = Number(cell.dataset.row);
    const col = Number(cell.dataset.col);
    const wasActive = this.active.row === row && this.active.col === col && document.activeElement === cell;
    this.setActive(row, col);
    if (wasActive && col > 0) this.activate(); // second tap edits (touch-friendly)
  }

  onDoubleClick(event) {
    const cell = event.target.closest('[data-row]');
    if (cell && !this.editing && Number(cell.dataset.col) > 0) this.activate();
  }

  onKeyDown(event) {
    if (this.editing) return; // the editor handles its own keys
    if (!event.target.closest('[data-row]')) return;
    const { key } = event;
    const ctrl = event.ctrlKey || event.metaKey;
    const moves = {
      ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1],
      PageUp: [-PAGE, 0], PageDown: [PAGE, 0],
    };
    if (moves[key]) {
      event.preventDefault();
      this.move(...moves[key]);
    } else if (key === 'Home') {
      event.preventDefault();
      this.setActive(ctrl ? 0 : this.active.row, 0);
    } else if (key === 'End') {
      event.preventDefault();
      this.setActive(ctrl ? this.rows.length - 1 : this.active.row, this.fields.length);
    } else if (key === 'Enter' || key === 'F2') {
      event.preventDefault();
      this.activate();
    } else if (key === ' ' && this.currentField() && this.currentField().type === 'boolean') {
      event.preventDefault();
      this.toggle();
    } else if ((key === 'Delete' || key === 'Backspace') && this.currentField()) {
      event.preventDefault();
      this.commitValue(null);
    } else if (key.length === 1 && !ctrl && !event.altKey && this.currentField()) {
      const field = this.currentField();
      if (field.type === 'boolean' || field.type === 'timestamp') return;
      event.preventDefault();
      this.startEdit(key);
    }
  }

  currentField() {
    return this.active.col > 0 ? this.fields[this.active.col - 1] : null;
  }

  /** Enter/F2/second tap: open the record from the first column, toggle a yes/no, else edit. */
  activate() {
    if (this.active.col === 0) {
      const row = this.rows[this.active.row];
      if (row) this.open(row.id);
      return;
    }
    const field = this.currentField();
    if (!field) return;
    if (field.crdt === 'text' && field.editable) {
      const row = this.rows[this.active.row];
      if (row) this.open(row.id); // collaborative text is edited in the record form
      return;
    }
    if (field.type === 'boolean') this.toggle();
    else this.startEdit(null);
  }

  toggle() {
    const field = this.currentField();
    const row = this.rows[this.active.row];
    if (!field || !row || !field.editable) return;
    this.commitValue(!row.values[field.id]);
  }

  startEdit(initial) {
    const field = this.currentField();
    const row = this.rows[this.active.row];
    const cell = this.activeCell();
    if (!field || !row || !cell) return;
    if (!this.inlineEditable(field)) {
      this.notify(field.crdt === 'text' && field.editable ? `${field.display_name} is edited in the record form: press Enter.`
        : `${field.display_name} cannot be edited in the grid yet.`);
      return;
    }
    const original = inputValue(field, row.values[field.id]);
    const input = h('input', {
      ...inputAttrs(field), class: 'cell-editor', value: initial ?? original,
      'aria-label': `${field.display_name} of ${this.rowLabel(row)}`,
      onkeydown: (e) => this.onEditorKey(e),
      onblur: () => { if (this.editing && this.editing.input === input) this.finishEdit(true, 0, 0, false); },
    });
    this.editing = { input, field, row, cell, original };
    cell.classList.add('editing');
    mount(cell, input);
    input.focus();
    if (initial === null && input.type === 'text') input.select();
  }

  onEditorKey(event) {
    const { key } = event;
    if (key === 'Enter') {
      event.preventDefault();
      this.finishEdit(true, event.shiftKey ? -1 : 1, 0);
    } else if (key === 'Tab') {
      event.preventDefault();
      this.finishEdit(true, 0, event.shiftKey ? -1 : 1);
    } else if (key === 'Escape') {
      event.preventDefault();
      this.finishEdit(false, 0, 0);
    }
  }

  /** Leave edit mode: save if asked and changed, then move the active cell. */
  finishEdit(commit, dRow, dCol, refocus = true) {
    const editing = this.editing;
    if (!editing) return;
    this.editing = null;
    const { input, field, row, cell, original } = editing;
    const text = input.value;
    cell.classList.remove('editing');
    mount(cell, formatValue(field, row.values[field.id]), cellMarks(this.flagFor(row.id, field.id)));
    if (commit && text !== original) this.saveCell(row, field, text === '' ? null : text, cell);
    if (this.deferred) {
      const data = this.deferred;
      this.deferred = null;
      this.setData(data, { keepFocus: refocus });
    }
    if (refocus) {
      if (dRow || dCol) this.move(dRow, dCol);
      else this.focus();
    }
  }

  commitValue(value) {
    const field = this.currentField();
    const row = this.rows[this.active.row];
    if (!field || !row) return;
    if (!this.inlineEditable(field)) {
      this.notify(field.crdt === 'text' && field.editable ? `${field.display_name} is edited in the record form: press Enter.`
        : `${field.display_name} cannot be edited in the grid yet.`);
      return;
    }
    if ((row.values[field.id] ?? null) === value) return;
    this.saveCell(row, field, value, this.activeCell());
  }

  async saveCell(row, field, value, cell) {
    if (cell) {
      cell.classList.add('pending');
      mount(cell, formatValue(field, value));
    }
    try {
      const result = await this.save(row.id, field.id, value);
      if (result.value === null || result.value === undefined) delete row.values[field.id];
      else row.values[field.id] = result.value;
    } catch (err) {
      this.notify(`Not saved: ${err.message}`);
      if (cell) cell.setAttribute('aria-invalid', 'true');
      setTimeout(() => cell && cell.removeAttribute('aria-invalid'), 4000);
    } finally {
      if (cell && cell.isConnected) {
        cell.classList.remove('pending');
        if (!cell.classList.contains('editing')) mount(cell, formatValue(field, row.values[field.id]), cellMarks(this.flagFor(row.id, field.id)));
        if (field.type === 'boolean') cell.setAttribute('aria-checked', row.values[field.id] ? 'true' : 'false');
      }
    }
  }

  // --- sort and filter ----------------------------------------------------------------------

  cycleSort(fieldId) {
    const order = [null, 'ascending', 'descending'];
    const current = this.view.sortField === fieldId ? this.view.sortDir : null;
    const next = order[(order.indexOf(current) + 1) % order.length];
    this.view.sortField = next ? fieldId : null;
    this.view.sortDir = next;
    this.refresh();
    const button = this.head.querySelector(`button[data-field="${CSS.escape(fieldId)}"]`);
    if (button) button.focus();
  }

  setFilter(text, fieldId) {
    this.view.filter = text;
    this.view.filterField = fieldId || null;
    this.refresh();
  }

  refresh() {
    this.rows = this.visibleRows();
    this.renderHead();
    this.renderBody();
    this.placeActive(false);
    this.onChange();
  }
}
