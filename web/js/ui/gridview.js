// What a person chose for a table's grid on this device: sort, filter, hidden columns and widths.
// Kept in localStorage per workspace and table (a device's own taste, never synced), read when the
// table opens and written on every change.
import { openDialog } from './dialog.js';
import { h, uid } from './dom.js';

const PREFIX = 'openprod.grid.';
const KEPT = ['sortField', 'sortDir', 'filter', 'filterField', 'hidden', 'widths'];
export const MIN_WIDTH = 56;
export const MAX_WIDTH = 640;
const DEFAULT_WIDTHS = { string: 176, number: 112, cue: 104, boolean: 104, timestamp: 184, list: 176 };

function key(workspace, table) {
  return `${PREFIX}${workspace}.${table}`;
}

/** The saved choices for a table (or {} if none, or if storage is unavailable). */
export function loadView(workspace, table) {
  try {
    const saved = JSON.parse(localStorage.getItem(key(workspace, table)) || '{}');
    return saved && typeof saved === 'object' ? saved : {};
  } catch {
    return {};
  }
}

export function saveView(workspace, table, view) {
  const kept = Object.fromEntries(KEPT.filter((k) => view[k] !== undefined && view[k] !== null).map((k) => [k, view[k]]));
  try {
    localStorage.setItem(key(workspace, table), JSON.stringify(kept));
  } catch {
    // private mode or full storage: the choices last for this visit only
  }
}

export function columnWidth(view, field) {
  const saved = view.widths && view.widths[field.id];
  if (typeof saved === 'number') return Math.max(MIN_WIDTH, Math.min(MAX_WIDTH, saved));
  return DEFAULT_WIDTHS[field.type] || 176;
}

/** The fields shown, in order (hidden ones left out; never all of them). */
export function shownFields(fields, view) {
  const hidden = new Set(view.hidden || []);
  const shown = fields.filter((f) => !hidden.has(f.id));
  return shown.length ? shown : fields.slice(0, 1);
}

/** "Columns…": show or hide each column, and reset the widths. The keyboard way to lay out a table. */
export function openColumnsDialog({ table, fields, view, onChange }) {
  openDialog({
    title: `Columns of ${table.display_name}`,
    className: 'columns-dialog',
    body: (_dialog, close) => {
      const boxes = fields.map((field) => {
        const id = uid('column');
        const box = h('input', {
          id, type: 'checkbox', checked: !(view.hidden || []).includes(field.id),
          onchange: () => {
            const hidden = fields.filter((f, i) => !boxes[i].querySelector('input').checked).map((f) => f.id);
            if (hidden.length === fields.length) {
              box.checked = true; // at least one column stays
              return;
            }
            view.hidden = hidden;
            onChange();
          },
        });
        return h('li', { class: 'column-choice' }, box, h('label', { for: id }, field.display_name));
      });
      return [
        h('p', { class: 'hint' }, 'Choose the columns to show. Drag a column’s right edge in the grid to change its width. ',
          'These choices are kept on this device only.'),
        h('ul', { class: 'column-list' }, boxes),
        h('div', { class: 'dialog-actions' },
          h('button', {
            type: 'button', onclick: () => {
              view.widths = {};
              onChange();
            },
          }, 'Reset widths'),
          h('button', { type: 'button', class: 'primary close-button', onclick: close }, 'Done')),
      ];
    },
  });
}
