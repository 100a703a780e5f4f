// A spreadsheet-like grid for one table (WAI-ARIA grid pattern), drawn a window of rows at a time.
//
// Two states that never look alike: a SELECTED cell (tinted, outlined; the bar above says
// "Selected") and a cell being EDITED (white, thick border, caret; the bar says "Editing").
// Keyboard, as in Google Sheets: arrows move (Shift extends the selection), Enter or F2 edits the
// selected cell (never another), typing starts editing with what is typed; while editing Enter saves
// and moves down, Tab saves and moves right, Escape cancels, and arrows save and move when editing
// was started by typing. Tab on a selected cell moves along the row too. Delete clears, Ctrl+C / Ctrl+X / Ctrl+V copy, cut and paste blocks as
// tab-separated text, Ctrl+D fills down, Ctrl+A selects everything.
// Pointer: a click selects, a double click edits; dragging selects a block. Touch and pen: a tap
// selects, a tap on the selected cell edits, the round handle at a selection's corner drags it
// larger (a finger drag scrolls). Below the last row, a new row: typing there creates a record.
// Every saved cell is one call, so one signed bundle; a paste, a fill or a clear is one bundle too.
// Only the rows in view (and a margin) are in the DOM: 10,000 rows scroll like 10.
import { h, mount } from './dom.js';
import { formatValue, inputAttrs, inputValue, sortKey } from './format.js';
import { MAX_WIDTH, MIN_WIDTH, columnWidth, shownFields } from './gridview.js';

export const ROW_HEIGHT = 44;
// WebKitGTK names Shift+Tab's key "Unidentified" (GTK's ISO_Left_Tab); its code is still "Tab".
const isTab = (event) => event.key === 'Tab' || event.code === 'Tab';
const OVERSCAN = 12;
const OPEN_WIDTH = 76;

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
    const keyed = rows.map((row) => [sortKey(field, row.values[field.id]), row]);
    keyed.sort(([a], [b]) => {
      if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1; // empty last, both ways
      return sign * (a < b ? -1 : a > b ? 1 : 0);
    });
    rows = keyed.map(([, row]) => row);
  }
  return rows;
}

/** A flagged cell's classes: conflict, staged, drift, and queued (kept while the app opens, js/opening.js). */
const FLAG_CLASSES = ['conflict', 'staged', 'drift', 'queued'];

/** The marks a flagged cell shows: an icon, and the same in words for screen readers. */
function cellMarks(flag) {
  if (!flag) return null;
  const words = [flag.conflict ? 'in conflict' : null, flag.drift ? 'changed by someone else meanwhile' : flag.staged ? 'waiting for review' : null,
    flag.queued ? 'kept, saved once the app has opened' : null].filter(Boolean).join(', ');
  const icon = flag.conflict ? '⚑' : flag.drift ? '⚠' : '';
  return [icon ? h('span', { class: 'cell-flag', 'aria-hidden': 'true' }, icon) : null,
    h('span', { class: 'visually-hidden' }, ` (${words})`)];
}

const empty = (v) => v === undefined || v === null || v === '';

export class Grid {
  /**
   * @param {object} o
   * @param {{id: string, display_name: string}} o.table
   * @param {{fields: object[], rows: object[], flags: object}} o.data from the worker's `rows` method
   * @param {object} o.view sort/filter/columns, kept by the caller (mutated here; `onViewChange` saves it)
   * @param {object} o.actions {save(record, field, value), create(values), paste(text, records, fields),
   *   fillDown(records, fields), clear(records, fields), copied(rowCount)}: each returns a promise
   * @param {(record: string) => void} o.open show the record form
   * @param {(message: string) => void} o.notify tell the person something
   * @param {() => void} o.onChange the selection, the rows or the editing state changed
   * @param {() => void} o.onViewChange sort, filter or columns changed (to be remembered)
   */
  constructor({ table, data, view, actions, open, notify, onChange, onViewChange, hasActions }) {
    this.table = table;
    this.hasActions = hasActions || (() => false); // the selected cell's explanation has buttons: Tab goes there
    this.view = view;
    this.actions = actions;
    this.open = open;
    this.notify = notify;
    this.onChange = onChange || (() => {});
    this.onViewChange = onViewChange || (() => {});
    this.editing = null;
    this.deferred = null;
    this.draft = {}; // the new row's values, typed before it has what a record needs
    // A row typed across (Tab) that became a record on its first required cell: {id, pending}. The
    // selection follows it, and the rest of the row goes to it, not to the next new row.
    this.follow = null;
    // Where a run of Tabs began, {col, newRow}: Enter goes back to that column one row down, as in Sheets
    // (to the + row again when the run began there, wherever a sort put the record it made).
    this.tabStart = null;
    this.active = { row: view.activeRow ?? 0, col: view.activeCol ?? 1 };
    this.extent = { ...this.active };
    this.window = { start: 0, end: 0 };
    this.drawn = new Map(); // row index -> its <tr>, for the rows in the DOM
    this.topSpacer = this.spacer(); // the rows above the window, one tall empty row (and below)
    this.bottomSpacer = this.spacer();
    this.drag = null;
    this.scrollScheduled = false;
    this.build();
    this.setData(data, { keepFocus: false });
  }

  get fields() {
    return this.data.fields;
  }

  /** The row count including the new row at the end. */
  get total() {
    return this.rows.length + 1;
  }

  /** New rows from the worker; keeps the active cell on the same record if it is still shown. */
  setData(data, { keepFocus = true } = {}) {
    if (this.editing) {
      this.deferred = data; // never yank a cell out from under the person typing in it
      return;
    }
    const hadFocus = keepFocus && this.hasFocus();
    this.data = data;
    this.refresh(hadFocus);
  }

  /** Re-read the view (sort, filter, columns) and redraw, keeping the selection on its records. */
  refresh(focus = false) {
    this.onDraft = Boolean(this.rows) && this.active.row >= this.rows.length; // stays on the new row
    this.rows = visibleRows(this.data, this.view);
    this.columns = shownFields(this.fields, this.view);
    this.renderColumns();
    this.renderHead();
    this.window = { start: 0, end: 0 };
    this.placeActive();
    this.renderWindow(true);
    if (this.scrollPending) {
      this.scrollPending = false;
      this.scrollToCell(this.active);
    }
    this.markSelection();
    if (focus) this.focus();
    this.onChange();
  }

  /** Once in the page: back where this table was last scrolled in this tab (the copy shown while
   * opening, or before going to a record), else the active cell in view; then draw what is visible. */
  reveal() {
    const kept = this.view.scroll;
    if (kept) {
      this.scroller.scrollTop = kept.top;
      this.scroller.scrollLeft = kept.left;
    } else {
      this.scrollToCell(this.active);
    }
    this.renderWindow(true);
  }

  hasFocus() {
    return Boolean(this.element) && this.element.contains(document.activeElement) && !this.editing;
  }

  // --- building -----------------------------------------------------------------------------

  build() {
    this.colgroup = h('colgroup');
    this.head = h('thead');
    this.body = h('tbody');
    this.tableEl = h('table', {
      class: 'grid', role: 'grid', 'aria-label': this.table.display_name, 'aria-readonly': 'false',
      'aria-multiselectable': 'true', tabindex: -1,
      onkeydown: (e) => this.onKeyDown(e),
      onpointerdown: (e) => this.onPointerDown(e),
      onpointermove: (e) => this.onPointerMove(e),
      onpointerup: (e) => this.onPointerUp(e),
      onpointercancel: () => { this.drag = null; this.press = null; }, // a touch that scrolled: no tap
      ondblclick: (e) => this.onDoubleClick(e),
      onclick: (e) => this.onClick(e),
      oncopy: (e) => this.onCopy(e, false),
      oncut: (e) => this.onCopy(e, true),
      onpaste: (e) => this.onPaste(e),
    }, this.colgroup, this.head, this.body);
    this.scroller = h('div', { class: 'grid-scroll' }, this.tableEl);
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.element = this.scroller;
  }

  renderColumns() {
    const widths = [OPEN_WIDTH, ...this.columns.map((f) => columnWidth(this.view, f))];
    mount(this.colgroup, widths.map((w) => h('col', { style: `width:${w}px` })));
    this.tableEl.style.width = `${widths.reduce((a, b) => a + b, 0)}px`;
    this.frozenWidth = OPEN_WIDTH + (widths[1] || 0);
    this.tableEl.style.setProperty('--frozen-left', `${OPEN_WIDTH}px`);
  }

  renderHead() {
    const cells = [h('th', { scope: 'col', class: 'open-col' }, h('span', { class: 'visually-hidden' }, 'Record'))];
    this.columns.forEach((field, i) => {
      const sort = this.view.sortField === field.id ? this.view.sortDir : null;
      const label = field.display_name + (field.required ? ' *' : '');
      cells.push(h('th', {
        scope: 'col', 'aria-sort': sort || false, title: field.description || false, class: i === 0 ? 'frozen' : false,
        dataset: { field: field.id },
      },
      h('button', {
        type: 'button', class: 'sort', dataset: { field: field.id },
        onclick: () => this.cycleSort(field.id),
        'aria-label': `${field.display_name}${field.required ? ' (required)' : ''}: sort`,
      }, label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sort === 'ascending' ? ' ▲' : sort === 'descending' ? ' ▼' : '')),
      h('span', {
        class: 'col-resize', 'aria-hidden': 'true', title: 'Drag to change the width',
        onpointerdown: (e) => this.startResize(e, field),
      })));
    });
    mount(this.head, h('tr', { 'aria-rowindex': 1 }, cells));
    this.tableEl.setAttribute('aria-colcount', String(this.columns.length + 1));
    this.tableEl.setAttribute('aria-rowcount', String(this.total + 1));
  }

  // --- the window of rows in the DOM ---------------------------------------------------------

  headHeight() {
    return this.head.offsetHeight || ROW_HEIGHT;
  }

  /** Rows [start, end) that must be in the DOM for what is scrolled into view. */
  neededWindow() {
    const top = Math.max(0, this.scroller.scrollTop - this.headHeight());
    const height = this.scroller.clientHeight || ROW_HEIGHT * 20;
    const first = Math.floor(top / ROW_HEIGHT);
    const last = Math.min(this.total, Math.ceil((top + height) / ROW_HEIGHT) + 1);
    return { first, last };
  }

  renderWindow(force = false) {
    const { first, last } = this.neededWindow();
    if (!force && first >= this.window.start && last <= this.window.end) return false;
    if (this.editing && (this.editing.index < first - OVERSCAN || this.editing.index >= last + OVERSCAN)) {
      this.finishEdit(true, 0, 0, false); // scrolled far away from the cell being edited: saved, as leaving it does
    }
    const hadFocus = this.hasFocus();
    const from = Math.max(0, first - OVERSCAN);
    const to = Math.min(this.total, last + OVERSCAN);
    const { start, end } = this.window;
    const moved = !force && this.rows.length && this.body.firstChild === this.topSpacer && from < end && to > start;
    if (moved) this.shiftWindow(from, to);
    else this.drawWindow(from, to);
    this.window = { start: from, end: to };
    this.markSelection();
    if (hadFocus) this.focus();
    return true;
  }

  /** The window drawn afresh (a jump, new data): every row in it is made again. */
  drawWindow(from, to) {
    const trs = [this.topSpacer];
    this.drawn = new Map();
    for (let r = from; r < to; r += 1) trs.push(this.drawRow(r));
    trs.push(this.bottomSpacer);
    if (!this.rows.length) {
      const message = this.data.rows.length ? 'No records match the filter.' : 'No records yet: type in the row below to add one.';
      trs.unshift(h('tr', { class: 'empty-row' }, h('td', { colspan: this.columns.length + 1, class: 'empty' }, message)));
    }
    const keep = this.editing && trs.includes(this.editing.tr) ? this.editing.tr : null;
    if (keep) { // never detach the row being edited: its input would lose focus and the typing
      for (const child of [...this.body.children]) if (child !== keep) child.remove();
      const at = trs.indexOf(keep);
      keep.before(...trs.slice(0, at));
      keep.after(...trs.slice(at + 1));
    } else this.body.replaceChildren(...trs);
    this.sizeSpacers(from, to);
  }

  /**
   * A scroll that overlaps the window drawn: the rows still in it stay where they are (moving them
   * would make the browser lay every one out again), those that left are removed, the new ones added
   * at the ends. Per frame the work is the rows scrolled in, not the window.
   */
  shiftWindow(from, to) {
    const { start, end } = this.window;
    for (let r = start; r < end; r += 1) {
      if (r >= from && r < to) continue;
      const tr = this.drawn.get(r);
      if (tr) tr.remove();
      this.drawn.delete(r);
    }
    const above = [];
    for (let r = from; r < Math.min(start, to); r += 1) above.push(this.drawRow(r));
    if (above.length) this.topSpacer.after(...above);
    const below = [];
    for (let r = Math.max(end, from); r < to; r += 1) below.push(this.drawRow(r));
    if (below.length) this.bottomSpacer.before(...below);
    this.sizeSpacers(from, to);
  }

  /** Row `r`'s <tr>, noted as drawn: the one being edited as it is, else made. */
  drawRow(r) {
    const tr = this.editing && this.editing.index === r ? this.editing.tr
      : r < this.rows.length ? this.renderRow(r) : this.renderDraftRow(r);
    this.drawn.set(r, tr);
    return tr;
  }

  /** The spacers stand for the rows above and below the window, so the scroll bar spans them all. */
  sizeSpacers(from, to) {
    const columns = String(this.columns.length + 1);
    for (const [spacer, rows] of [[this.topSpacer, from], [this.bottomSpacer, this.total - to]]) {
      spacer.hidden = rows <= 0;
      const td = spacer.firstChild;
      if (td.getAttribute('colspan') !== columns) td.setAttribute('colspan', columns);
      td.style.height = `${Math.max(0, rows) * ROW_HEIGHT}px`;
    }
  }

  spacer() {
    return h('tr', { class: 'spacer', 'aria-hidden': 'true' }, h('td', { colspan: 1 }));
  }

  renderRow(r) {
    const row = this.rows[r];
    const label = this.rowLabel(row);
    const fresh = this.isNew(row.id);
    const tds = [h('th', { scope: 'row', role: 'rowheader', class: 'open-col', tabindex: -1, dataset: { row: r, col: 0 } },
      h('a', { href: `#${this.recordHref(row.id)}`, tabindex: -1, 'aria-label': `Open ${label}${fresh ? ' (new, waiting for review)' : ''}`, class: 'open-link' }, 'Open'),
      fresh ? h('span', { class: 'new-badge', 'aria-hidden': 'true' }, 'new') : null)];
    this.columns.forEach((field, i) => tds.push(this.renderCell(row, field, r, i + 1)));
    return h('tr', { 'aria-rowindex': r + 2, class: fresh ? 'staged-new' : false, dataset: { id: row.id } }, tds);
  }

  renderCell(row, field, r, c) {
    const value = row.values[field.id];
    const flag = this.flagFor(row.id, field.id);
    const classes = flag ? FLAG_CLASSES.filter((k) => flag[k]) : [];
    if (c === 1) classes.push('frozen');
    const attrs = {
      role: 'gridcell', tabindex: -1, dataset: { row: r, col: c, field: field.id, type: field.type },
      'aria-readonly': this.inlineEditable(field) ? false : 'true', class: classes.join(' ') || false,
    };
    return h('td', attrs, formatValue(field, value), cellMarks(flag));
  }

  /** What was typed across the + row while the record it made is being saved and not yet drawn: kept in
   * view there (the row went blank until the record appeared), else null. */
  savingRow() {
    const follow = this.follow;
    return follow && !(follow.id && this.rows.some((r) => r.id === follow.id)) ? follow.shown : null;
  }

  /** The row below the last: what is typed there becomes a new record (with the fields' defaults). */
  renderDraftRow(r) {
    const tds = [h('th', { scope: 'row', role: 'rowheader', class: 'open-col draft-head', tabindex: -1, dataset: { row: r, col: 0 } },
      h('span', { 'aria-hidden': 'true' }, '+'), h('span', { class: 'visually-hidden' }, 'New record: type in any cell of this row'))];
    const saving = this.savingRow();
    this.columns.forEach((field, i) => {
      const typed = this.draft[field.id] ?? (saving ? saving[field.id] ?? undefined : undefined);
      const shown = typed !== undefined ? typed : field.default !== undefined && field.default !== null ? formatValue(field, field.default) : '';
      tds.push(h('td', {
        role: 'gridcell', tabindex: -1, dataset: { row: r, col: i + 1, field: field.id, type: field.type },
        class: ['draft', typed === undefined && shown ? 'default' : null, i === 0 ? 'frozen' : null].filter(Boolean).join(' '),
        'aria-readonly': this.inlineEditable(field) ? false : 'true',
      }, shown));
    });
    return h('tr', { 'aria-rowindex': r + 2, class: 'draft-row', dataset: { draft: 'true' } }, tds);
  }

  onScroll() {
    this.view.scroll = { top: this.scroller.scrollTop, left: this.scroller.scrollLeft }; // for reveal()
    if (this.scrollScheduled) return;
    this.scrollScheduled = true;
    requestAnimationFrame(() => {
      this.scrollScheduled = false;
      this.renderWindow();
      this.onChange();
    });
  }

  // --- records and fields --------------------------------------------------------------------

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
    if (!row) return 'new record';
    const named = this.fields.find((f) => ['name', 'title', 'label'].includes(f.name) && row.values[f.id]);
    const first = named || this.fields.find((f) => (f.type === 'string' || f.type === 'cue') && row.values[f.id]);
    return first ? String(row.values[first.id]) : 'record';
  }

  // --- selection ----------------------------------------------------------------------------

  cell(row, col) {
    return this.body.querySelector(`[data-row="${row}"][data-col="${col}"]`);
  }

  activeCell() {
    return this.cell(this.active.row, this.active.col);
  }

  /** The selected block: rows and columns, inclusive. */
  range() {
    const { active: a, extent: e } = this;
    return { top: Math.min(a.row, e.row), bottom: Math.max(a.row, e.row), left: Math.min(a.col, e.col), right: Math.max(a.col, e.col) };
  }

  isBlock() {
    return this.active.row !== this.extent.row || this.active.col !== this.extent.col;
  }

  /** After a re-render: the same record if still shown, else clamp. */
  placeActive() {
    let row = this.active.row;
    const followed = this.follow && this.follow.id ? this.rows.findIndex((r) => r.id === this.follow.id) : -1;
    if (followed >= 0) {
      row = followed; // the row being typed across is a record now: stay on it
      this.follow = null;
    } else if (this.onDraft) row = this.rows.length; // a record just created from the new row must not take its place
    else if (this.view.activeId) {
      const index = this.rows.findIndex((r) => r.id === this.view.activeId);
      if (index >= 0) row = index;
    }
    let col = this.active.col ?? 1;
    const shown = this.takeShowAt();
    if (shown) ({ row, col } = shown);
    row = Math.max(0, Math.min(row ?? 0, this.total - 1));
    col = Math.max(0, Math.min(col, this.columns.length));
    const dRow = (this.extent.row ?? row) - (this.active.row ?? row); // a selected block keeps its shape
    const dCol = (this.extent.col ?? col) - (this.active.col ?? col);
    this.active = { row, col };
    this.extent = {
      row: Math.max(0, Math.min(row + dRow, this.total - 1)), col: Math.max(0, Math.min(col + dCol, this.columns.length)),
    };
    this.remember();
  }

  /** Select and mark what undo or redo just changed (`App.showChange`): now if its row is shown,
   * else when the rows that have it arrive (a redone new record), for a few seconds. */
  show(record, field) {
    this.view.showAt = { record, field, until: Date.now() + 10000 };
    if (this.editing) return; // the refresh after the person's typing picks it up
    this.follow = null;
    this.refresh(true);
  }

  /** The cell `show` asked for, once its record is among the rows: it becomes the selection, and
   * is marked until the mark fades. Null while it is not (still deleted, or filtered out). */
  takeShowAt() {
    const at = this.view.showAt;
    if (!at) return null;
    if (Date.now() > at.until) {
      delete this.view.showAt;
      return null;
    }
    const row = this.rows.findIndex((r) => r.id === at.record);
    if (row < 0) return null;
    delete this.view.showAt;
    const index = this.columns.findIndex((f) => f.id === at.field);
    const col = index >= 0 ? index + 1 : Math.max(1, this.active.col ?? 1);
    this.onDraft = false;
    this.active = { row, col }; // one cell, not a block from the old selection
    this.extent = { row, col };
    this.changed = { record: at.record, field: at.field };
    clearTimeout(this.changedTimer);
    this.changedTimer = setTimeout(() => { this.changed = null; this.markSelection(); }, 2500);
    this.scrollPending = true;
    return { row, col };
  }

  remember() {
    this.view.activeRow = this.active.row;
    this.view.activeCol = this.active.col;
    this.view.activeId = this.rows[this.active.row] ? this.rows[this.active.row].id : null;
  }

  setActive(row, col, { extend = false, focus = true } = {}) {
    const target = { row: Math.max(0, Math.min(this.total - 1, row)), col: Math.max(0, Math.min(this.columns.length, col)) };
    if (target.row !== this.active.row) this.follow = null; // another row chosen: the selection stays there
    this.tabStart = null;
    if (extend) this.extent = target;
    else {
      this.active = target;
      this.extent = { ...target };
      this.remember();
    }
    this.scrollToCell(extend ? this.extent : this.active);
    this.markSelection();
    if (focus) this.focus();
    this.onChange();
  }

  /** Scroll so the cell is in view below the header and right of the frozen columns, then draw it. */
  scrollToCell({ row, col }) {
    const s = this.scroller;
    const head = this.headHeight();
    const top = row * ROW_HEIGHT;
    const view = s.clientHeight - head;
    if (top < s.scrollTop) s.scrollTop = top;
    else if (top + ROW_HEIGHT > s.scrollTop + view) s.scrollTop = top + ROW_HEIGHT - view;
    if (col > 1) {
      const widths = this.columns.map((f) => columnWidth(this.view, f));
      const left = OPEN_WIDTH + widths.slice(0, col - 1).reduce((a, b) => a + b, 0);
      const right = left + widths[col - 1];
      if (left < s.scrollLeft + this.frozenWidth) s.scrollLeft = left - this.frozenWidth;
      else if (right > s.scrollLeft + s.clientWidth) s.scrollLeft = right - s.clientWidth;
    }
    this.renderWindow();
  }

  /** Classes and ARIA for the active cell and the selected block (only rows in the DOM). */
  markSelection() {
    for (const el of this.body.querySelectorAll('.active, .in-range, [aria-selected]')) {
      el.classList.remove('active', 'in-range', 'range-top', 'range-bottom', 'range-left', 'range-right');
      el.removeAttribute('aria-selected');
      if (el.tabIndex === 0) el.tabIndex = -1;
    }
    for (const handle of this.body.querySelectorAll('.range-handle')) {
      handle.parentElement.classList.remove('range-corner');
      handle.remove();
    }
    const { top, bottom, left, right } = this.range();
    const block = this.isBlock();
    const from = Math.max(top, this.window.start);
    const to = Math.min(bottom, this.window.end - 1);
    for (let r = from; r <= to; r += 1) {
      for (let c = left; c <= right; c += 1) {
        const el = this.cell(r, c);
        if (!el) continue;
        if (block) {
          el.classList.add('in-range');
          el.setAttribute('aria-selected', 'true');
          if (r === top) el.classList.add('range-top');
          if (r === bottom) el.classList.add('range-bottom');
          if (c === left) el.classList.add('range-left');
          if (c === right) el.classList.add('range-right');
        }
      }
    }
    for (const el of this.body.querySelectorAll('.just-changed')) el.classList.remove('just-changed');
    const changed = this.changed ? this.rows.findIndex((r) => r.id === this.changed.record) : -1;
    if (changed >= 0) { // what undo or redo changed: its cell (or its whole row) is marked briefly
      const col = this.columns.findIndex((f) => f.id === this.changed.field) + 1;
      const marked = col > 0 ? [this.cell(changed, col)] : this.body.querySelectorAll(`[data-row="${changed}"]`);
      for (const el of marked) if (el) el.classList.add('just-changed');
    }
    const active = this.activeCell();
    if (active) {
      active.classList.add('active');
      active.tabIndex = 0;
      if (!block) active.setAttribute('aria-selected', 'true');
    } else {
      this.tableEl.tabIndex = 0; // the active cell is scrolled away: the grid itself stays one Tab stop
    }
    if (active) this.tableEl.tabIndex = -1;
    const corner = this.cell(bottom, right);
    if (corner && right > 0 && !this.editing) {
      corner.classList.add('range-corner');
      corner.append(h('span', {
        class: 'range-handle', 'aria-hidden': 'true', title: 'Drag to select more cells',
        onpointerdown: (e) => this.startHandleDrag(e),
      }));
    }
  }

  move(dRow, dCol, extend = false) {
    if (dRow) this.follow = null; // down (Enter) from the new row: it is for the next record
    const from = extend ? this.extent : this.active;
    this.setActive(from.row + dRow, from.col + dCol, { extend });
  }

  /** What the bar above the grid and "who changed this?" need about the active cell. */
  selection() {
    const row = this.rows[this.active.row];
    const field = this.columns[this.active.col - 1] || null;
    const { top, bottom, left, right } = this.range();
    const draft = this.active.row >= this.rows.length;
    return {
      record: row ? row.id : null, field, label: draft ? 'New record' : this.rowLabel(row), draft,
      value: row && field ? row.values[field.id] : field ? this.draft[field.id] : undefined,
      flag: row && field ? this.flagFor(row.id, field.id) : null, isNew: row ? this.isNew(row.id) : false,
      editing: Boolean(this.editing), block: this.isBlock(),
      rows: bottom - top + 1, cols: right - Math.max(1, left) + 1,
    };
  }

  focus() {
    const cell = this.editing ? null : this.activeCell();
    if (this.editing) this.editing.input.focus({ preventScroll: true });
    else if (cell) cell.focus({ preventScroll: true });
    else this.tableEl.focus({ preventScroll: true });
  }

  /** The active cell's box relative to `frame` (for the explanation shown next to it), or null if out of view. */
  activeRect(frame) {
    const cell = this.activeCell();
    if (!cell) return null;
    const box = cell.getBoundingClientRect();
    const port = this.scroller.getBoundingClientRect();
    if (box.bottom <= port.top + this.headHeight() || box.top >= port.bottom || box.right <= port.left || box.left >= port.right) return null;
    const origin = frame.getBoundingClientRect();
    return { top: box.top - origin.top, bottom: box.bottom - origin.top, left: box.left - origin.left, right: box.right - origin.left };
  }

  // --- pointer --------------------------------------------------------------------------------

  cellAt(target) {
    const cell = target && target.closest ? target.closest('[data-row]') : null;
    return cell && this.body.contains(cell) ? cell : null;
  }

  onPointerDown(event) {
    if (event.target.closest('.range-handle, .col-resize, a, button')) return;
    const cell = this.cellAt(event.target);
    if (!cell || this.editing && this.editing.cell === cell) return;
    this.pointerType = event.pointerType;
    const row = Number(cell.dataset.row);
    const col = Number(cell.dataset.col);
    this.tapWasActive = !this.isBlock() && this.active.row === row && this.active.col === col;
    // The cell pressed, kept for the tap's click (the editor's blur may redraw the row under the finger)
    this.press = { row, col, newRow: Boolean(cell.closest('tr[data-draft]')), follows: false };
    this.tapped = false;
    if (event.pointerType !== 'mouse' || event.button !== 0) return; // touch: a drag scrolls; act on the tap
    if (this.editing) this.finishEditFor(this.press);
    const target = this.pressedRow(this.press);
    if (event.shiftKey) this.setActive(target, col, { extend: true });
    else this.setActive(target, col);
    this.drag = { kind: 'select' };
    event.preventDefault(); // no text selection while selecting cells; focus is set by setActive
  }

  onPointerMove(event) {
    if (!this.drag || (event.pointerType === 'mouse' && !(event.buttons & 1))) return;
    const under = document.elementFromPoint(event.clientX, event.clientY);
    const cell = this.cellAt(under);
    if (!cell) return;
    const row = Number(cell.dataset.row);
    const col = Math.max(this.drag.kind === 'handle' ? 1 : 0, Number(cell.dataset.col));
    if (row !== this.extent.row || col !== this.extent.col) this.setActive(row, col, { extend: true, focus: false });
  }

  onPointerUp(event) {
    const press = this.press;
    if (press && event.pointerType !== 'mouse') { // touch and pen: the tap, acted on now
      this.press = null;
      this.tapped = true; // its click, which comes after the editor's blur, has nothing left to do
      this.tap(press);
    }
    if (this.drag) {
      this.drag = null;
      this.focus();
    }
  }

  startHandleDrag(event) {
    event.preventDefault();
    event.stopPropagation();
    event.target.setPointerCapture(event.pointerId);
    this.drag = { kind: 'handle' };
    const move = (e) => this.onPointerMove(e);
    const up = () => {
      event.target.removeEventListener('pointermove', move);
      this.drag = null;
      this.focus();
    };
    event.target.addEventListener('pointermove', move);
    event.target.addEventListener('pointerup', up, { once: true });
    event.target.addEventListener('pointercancel', up, { once: true });
  }

  /** An edit ended by a press on another cell. A press on the + row while typing in the + row is a move
   * along that row (as Tab is): what is typed next goes to the record the row became, not a new one. */
  finishEditFor(press) {
    press.follows = press.newRow && !this.editing.row;
    this.finishEdit(true, 0, 0, false, press.follows);
  }

  /** The row a press selects: the + row's index now (a record made from it may have been drawn above
   * it), or the record's row when the selection followed the row typed across to it. */
  pressedRow(press) {
    if (!press.newRow) return press.row;
    return press.follows && this.active.row < this.rows.length ? this.active.row : this.rows.length;
  }

  /** A tap (touch, pen) on a cell: it selects the cell, and a second tap edits it (as in Sheets). It is
   * acted on at pointerup, not at its click: the editor's blur, between the two, redraws the row being
   * typed, and the click of a tap whose cell was redrawn never came (the tap was swallowed). */
  tap(press) {
    if (this.editing) this.finishEditFor(press);
    if (this.tapWasActive && press.col > 0) this.activate();
    else this.setActive(this.pressedRow(press), press.col);
  }

  onClick(event) {
    const tapped = this.tapped;
    this.tapped = false;
    this.press = null;
    if (event.target.closest('a, button, .range-handle, .col-resize')) return;
    const cell = this.cellAt(event.target);
    if (!cell || this.editing || tapped) return;
    if (this.pointerType === 'mouse') return; // handled on pointerdown; a click on the selected cell only selects
    // a click with no pointerup before it (assistive technology): as a tap
    this.tap({ row: Number(cell.dataset.row), col: Number(cell.dataset.col), newRow: false, follows: false });
  }

  onDoubleClick(event) {
    const cell = this.cellAt(event.target);
    if (cell && !this.editing && Number(cell.dataset.col) > 0) {
      this.setActive(Number(cell.dataset.row), Number(cell.dataset.col));
      this.activate();
    }
  }

  startResize(event, field) {
    event.preventDefault();
    event.stopPropagation();
    const handle = event.target;
    handle.setPointerCapture(event.pointerId);
    const start = event.clientX;
    const width = columnWidth(this.view, field);
    const index = this.columns.indexOf(field) + 1;
    const move = (e) => {
      const next = Math.max(MIN_WIDTH, Math.min(MAX_WIDTH, Math.round(width + e.clientX - start)));
      this.view.widths = { ...(this.view.widths || {}), [field.id]: next };
      this.colgroup.children[index].style.width = `${next}px`;
      const total = [...this.colgroup.children].reduce((sum, col) => sum + parseFloat(col.style.width), 0);
      this.tableEl.style.width = `${total}px`;
    };
    const up = () => {
      handle.removeEventListener('pointermove', move);
      this.renderColumns();
      this.onViewChange();
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up, { once: true });
    handle.addEventListener('pointercancel', up, { once: true });
  }

  // --- keyboard -------------------------------------------------------------------------------

  onKeyDown(event) {
    if (this.editing) return; // the editor handles its own keys
    if (event.target !== this.tableEl && !this.cellAt(event.target)) return;
    const { key } = event;
    const ctrl = event.ctrlKey || event.metaKey;
    const page = Math.max(1, Math.floor((this.scroller.clientHeight - this.headHeight()) / ROW_HEIGHT) - 1);
    const moves = {
      ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1], PageUp: [-page, 0], PageDown: [page, 0],
    };
    if (moves[key] && !event.altKey) {
      event.preventDefault();
      if (ctrl && key.startsWith('Arrow')) { // to the edge, as spreadsheets do
        const [dr, dc] = moves[key];
        const from = event.shiftKey ? this.extent : this.active;
        this.setActive(dr ? (dr < 0 ? 0 : this.total - 1) : from.row, dc ? (dc < 0 ? 1 : this.columns.length) : from.col,
          { extend: event.shiftKey });
      } else this.move(...moves[key], event.shiftKey);
    } else if (key === 'Home' || key === 'End') {
      event.preventDefault();
      const from = event.shiftKey ? this.extent : this.active;
      const row = ctrl ? (key === 'Home' ? 0 : this.total - 1) : from.row;
      this.setActive(row, key === 'Home' ? 0 : this.columns.length, { extend: event.shiftKey });
    } else if (key === 'Enter' || key === 'F2') {
      event.preventDefault();
      if (this.isBlock()) this.setActive(this.active.row, this.active.col);
      this.activate();
    } else if (key === 'Escape' && this.isBlock()) {
      event.preventDefault();
      this.setActive(this.active.row, this.active.col);
    } else if (isTab(event) && !ctrl && !event.altKey) {
      // Along the row, as in Sheets (an empty column skipped, then typing goes to the next one). Past
      // the row's ends, or forward to the selected cell's own actions (a conflict's Resolve…), Tab
      // leaves the grid as usual: no keyboard trap.
      const col = this.active.col + (event.shiftKey ? -1 : 1);
      if (col < 0 || col > this.columns.length || (!event.shiftKey && this.hasActions())) return;
      event.preventDefault();
      const start = this.tabStart ?? { col: this.active.col, newRow: this.active.row >= this.rows.length };
      this.setActive(this.active.row, col);
      this.tabStart = start;
    } else if (key === ' ' && !ctrl && this.currentField() && this.currentField().type === 'boolean') {
      event.preventDefault();
      this.toggle();
    } else if ((key === 'Delete' || key === 'Backspace') && !ctrl) {
      event.preventDefault();
      this.clearSelection();
    } else if (ctrl && !event.altKey && key.toLowerCase() === 'd') {
      event.preventDefault();
      this.fillDown();
    } else if (ctrl && !event.altKey && key.toLowerCase() === 'a') {
      event.preventDefault();
      this.active = { row: 0, col: 1 };
      this.remember();
      this.setActive(Math.max(0, this.rows.length - 1), this.columns.length, { extend: true });
    } else if (key.length === 1 && !ctrl && !event.altKey && this.currentField()) {
      const field = this.currentField();
      if (field.type === 'boolean' || field.type === 'timestamp') return;
      event.preventDefault();
      if (this.isBlock()) this.setActive(this.active.row, this.active.col);
      this.startEdit(key);
    }
  }

  currentField() {
    return this.active.col > 0 ? this.columns[this.active.col - 1] : null;
  }

  /** Enter/F2/second tap: open the record from the first column, toggle a yes/no, else edit. */
  activate() {
    const row = this.rows[this.active.row];
    if (this.active.col === 0) {
      if (row) this.open(row.id);
      return;
    }
    const field = this.currentField();
    if (!field) return;
    if (field.crdt === 'text' && field.editable) {
      if (row) this.open(row.id); // collaborative text is edited in the record form
      return;
    }
    if (field.type === 'boolean') this.toggle();
    else this.startEdit(null);
  }

  toggle() {
    const field = this.currentField();
    if (!field || !field.editable) return;
    const row = this.rows[this.active.row];
    if (!row) {
      const current = this.draft[field.id] !== undefined ? this.draft[field.id] === 'Yes' : Boolean(field.default);
      this.setDraft(field, current ? 'No' : 'Yes', { across: true });
      return;
    }
    this.commitValue(!row.values[field.id]);
  }

  // --- editing --------------------------------------------------------------------------------

  startEdit(initial) {
    const field = this.currentField();
    const index = this.active.row;
    const row = this.rows[index] || null;
    const cell = this.activeCell();
    if (!field || !cell) return;
    if (!this.inlineEditable(field)) {
      this.notify(field.crdt === 'text' && field.editable ? `${field.display_name} is edited in the record form: press Enter.`
        : `${field.display_name} cannot be edited in the grid.`);
      return;
    }
    const saving = row ? null : this.savingRow();
    const original = row ? inputValue(field, row.values[field.id]) : (this.draft[field.id] ?? (saving && saving[field.id]) ?? '');
    const input = h('input', {
      ...inputAttrs(field), class: 'cell-editor', value: initial ?? original,
      'aria-label': `${field.display_name} of ${row ? this.rowLabel(row) : 'the new record'}: editing`,
      onkeydown: (e) => this.onEditorKey(e),
      onblur: () => {
        if (!this.editing || this.editing.input !== input) return;
        if (this.press) this.finishEditFor(this.press); // a tap on another cell (touch: the edit ends here)
        else this.finishEdit(true, 0, 0, false);
      },
    });
    for (const handle of cell.querySelectorAll('.range-handle')) handle.remove();
    this.editing = { input, field, row, cell, tr: cell.closest('tr'), index, original, typed: initial !== null };
    cell.classList.add('editing');
    mount(cell, input);
    input.focus({ preventScroll: true });
    if (initial === null && input.type === 'text') input.select();
    this.onChange();
  }

  onEditorKey(event) {
    const { key } = event;
    const arrows = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (key === 'Enter') {
      event.preventDefault();
      const run = this.tabStart;
      const down = run && run.newRow ? this.total : 1; // clamped to the + row
      this.finishEdit(true, event.shiftKey ? -1 : down, run ? run.col - this.active.col : 0);
    } else if (isTab(event)) {
      event.preventDefault();
      const start = this.tabStart ?? { col: this.active.col, newRow: this.active.row >= this.rows.length };
      this.finishEdit(true, 0, event.shiftKey ? -1 : 1);
      this.tabStart = start;
    } else if (key === 'Escape') {
      event.preventDefault();
      this.finishEdit(false, 0, 0);
    } else if (arrows[key] && this.editing && this.editing.typed && !event.shiftKey) {
      event.preventDefault(); // started by typing: arrows save and move, as in spreadsheets
      this.finishEdit(true, ...arrows[key]);
    }
  }

  /** Leave edit mode: save if asked and changed, then move the active cell. */
  finishEdit(commit, dRow, dCol, refocus = true, across = dRow === 0 && refocus) {
    const editing = this.editing;
    if (!editing) return;
    this.editing = null;
    const { input, field, row, cell, original } = editing;
    const text = input.value;
    cell.classList.remove('editing');
    if (row) {
      mount(cell, formatValue(field, row.values[field.id]), cellMarks(this.flagFor(row.id, field.id)));
      if (commit && text !== original) this.saveCell(row, field, text === '' ? null : text, cell);
    } else {
      mount(cell, this.draft[field.id] ?? (this.savingRow() || {})[field.id] ?? '');
      if (commit && text !== original) this.setDraft(field, text, { across });
    }
    if (this.deferred) {
      const data = this.deferred;
      this.deferred = null;
      this.data = data;
      this.refresh(false);
    }
    this.markSelection();
    if (refocus) {
      if (dRow || dCol) this.move(dRow, dCol);
      else this.focus();
    }
    this.onChange();
  }

  commitValue(value) {
    const field = this.currentField();
    const row = this.rows[this.active.row];
    if (!field) return;
    if (!row) {
      this.setDraft(field, value === null ? undefined : value, { across: true });
      return;
    }
    if (!this.inlineEditable(field)) {
      this.notify(field.crdt === 'text' && field.editable ? `${field.display_name} is edited in the record form: press Enter.`
        : `${field.display_name} cannot be edited in the grid.`);
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
      const result = await this.actions.save(row.id, field.id, value);
      if (result.value === null || result.value === undefined) delete row.values[field.id];
      else row.values[field.id] = result.value;
    } catch (err) {
      this.notify(`Not saved: ${err.message}`);
      if (cell) cell.setAttribute('aria-invalid', 'true');
      setTimeout(() => cell && cell.removeAttribute('aria-invalid'), 4000);
    } finally {
      if (cell && cell.isConnected) {
        cell.classList.remove('pending');
        const flag = this.flagFor(row.id, field.id);
        for (const kind of FLAG_CLASSES) cell.classList.toggle(kind, Boolean(flag && flag[kind]));
        if (!cell.classList.contains('editing')) mount(cell, formatValue(field, row.values[field.id]), cellMarks(flag));
        this.markSelection();
      }
      this.onChange();
    }
  }

  /** A value typed into the new row. Once the row has every required field it becomes a record; typed
   * `across` (Tab), the row stays that record's row, so the rest of what is typed in it goes to it. */
  async setDraft(field, text, { across = false } = {}) {
    if (this.follow) {
      this.followValue(this.follow, field, text, across);
      return null;
    }
    if (text === undefined || text === '') delete this.draft[field.id];
    else this.draft[field.id] = text;
    const missing = this.fields.filter((f) => f.required && f.editable && f.type !== 'boolean'
      && (f.default === null || f.default === undefined) && empty(this.draft[f.id]));
    if (!Object.keys(this.draft).length) {
      this.renderWindow(true);
      return;
    }
    if (missing.length) {
      this.renderWindow(true);
      this.notify(`New record: fill in ${missing.map((f) => f.display_name).join(', ')} to save it.`);
      return;
    }
    const values = {};
    const typed = this.draft;
    for (const [id, value] of Object.entries(typed)) {
      const f = this.fields.find((x) => x.id === id);
      values[id] = f && f.type === 'boolean' ? value === 'Yes' : value;
    }
    this.draft = {}; // the new row is free for the next record at once, while this one is saved
    const follow = across ? { id: null, pending: {}, shown: { ...typed } } : null;
    this.follow = follow;
    this.renderWindow(true);
    try {
      const created = await this.actions.create(values);
      if (follow && created && created.id) {
        follow.id = created.id;
        for (const [id, value] of Object.entries(follow.pending)) this.saveFollowed(follow, id, value);
        if (this.follow === follow && !this.editing) this.placeFollowed();
      }
      return created;
    } catch (err) {
      if (this.follow === follow) this.follow = null;
      this.draft = { ...typed, ...(follow ? follow.pending : {}), ...this.draft };
      this.notify(`New record not saved: ${err.message}`);
      this.renderWindow(true);
      return null;
    }
  }

  /** A value typed in the new row while it is the row of a record just created from it (`follow`). */
  followValue(follow, field, text, across) {
    const value = text === undefined || text === '' ? null : text;
    follow.shown[field.id] = value;
    if (follow.id) this.saveFollowed(follow, field.id, value);
    else follow.pending[field.id] = value; // the record is still being saved: sent once it has its id
    if (!across) this.follow = null; // Enter: the new row is for the next record
    else if (follow.id) this.placeFollowed();
    this.renderWindow(true);
  }

  saveFollowed(follow, fieldId, value) {
    const field = this.fields.find((f) => f.id === fieldId);
    const typed = field && field.type === 'boolean' && typeof value === 'string' ? value === 'Yes' : value;
    this.actions.save(follow.id, fieldId, typed).catch((err) => this.notify(`Not saved: ${err.message}`));
  }

  /** The selection onto the followed record's row once the grid shows it (else at the next refresh). */
  placeFollowed() {
    const index = this.follow ? this.rows.findIndex((r) => r.id === this.follow.id) : -1;
    if (index < 0) return;
    this.follow = null;
    const start = this.tabStart;
    this.setActive(index, this.active.col, { focus: this.hasFocus() });
    this.tabStart = start; // still the same run of Tabs
  }

  // --- blocks: copy, cut, paste, fill down, clear ----------------------------------------------

  blockRecords() {
    const { top, bottom } = this.range();
    return this.rows.slice(top, Math.min(bottom + 1, this.rows.length)).map((r) => r.id);
  }

  blockFields() {
    const { left, right } = this.range();
    return this.columns.slice(Math.max(1, left) - 1, right);
  }

  /** The selected block as rows of cell texts (as shown, so it reads right in any spreadsheet). */
  blockText() {
    const { top, bottom } = this.range();
    const fields = this.blockFields();
    const out = [];
    for (let r = top; r <= Math.min(bottom, this.rows.length - 1); r += 1) {
      out.push(fields.map((f) => formatValue(f, this.rows[r].values[f.id])));
    }
    return out;
  }

  onCopy(event, cut) {
    if (this.editing || !event.clipboardData) return;
    const rows = this.blockText();
    if (!rows.length || !rows[0].length) return;
    event.preventDefault();
    this.actions.copy(event.clipboardData, rows);
    if (cut) this.clearSelection();
  }

  async onPaste(event) {
    if (this.editing || !event.clipboardData) return;
    const text = event.clipboardData.getData('text/plain');
    if (!text) return;
    event.preventDefault();
    await this.pasteText(text);
  }

  /** Paste a tab-separated block with its top left at the active cell (rows past the end are new records). */
  async pasteText(text) {
    const { top, left } = this.range();
    const col = Math.max(1, left);
    const records = this.rows.slice(top).map((r) => r.id);
    const fields = this.columns.slice(col - 1).map((f) => f.id);
    const result = await this.actions.paste(text, records, fields);
    if (result && !result.problems.length && result.rows) {
      const height = result.rows;
      const width = Math.max(1, ...text.replace(/(\r\n|\r|\n)$/, '').split(/\r\n|\r|\n/).map((l) => l.split('\t').length));
      this.active = { row: top, col };
      this.remember();
      this.extent = { row: Math.min(top + height - 1, this.total - 1), col: Math.min(col + width - 1, this.columns.length) };
      this.markSelection();
      this.onChange();
    }
    return result;
  }

  async fillDown() {
    const records = this.blockRecords();
    const fields = this.blockFields();
    if (records.length < 2 || !fields.length) {
      this.notify('Fill down: select the cell to copy and the cells below it first (Shift+↓, or drag).');
      return;
    }
    await this.actions.fillDown(records, fields.map((f) => f.id));
  }

  clearSelection() {
    if (!this.isBlock()) {
      if (this.currentField()) this.commitValue(null);
      return;
    }
    const records = this.blockRecords();
    const fields = this.blockFields();
    if (records.length && fields.length) this.actions.clear(records, fields.map((f) => f.id));
  }

  // --- sort and filter ------------------------------------------------------------------------

  cycleSort(fieldId) {
    const order = [null, 'ascending', 'descending'];
    const current = this.view.sortField === fieldId ? this.view.sortDir : null;
    const next = order[(order.indexOf(current) + 1) % order.length];
    this.view.sortField = next ? fieldId : null;
    this.view.sortDir = next;
    this.refresh();
    this.onViewChange();
    const button = this.head.querySelector(`button[data-field="${CSS.escape(fieldId)}"]`);
    if (button) button.focus();
  }

  setFilter(text, fieldId) {
    this.view.filter = text;
    this.view.filterField = fieldId || null;
    this.refresh();
    this.onViewChange();
  }
}
