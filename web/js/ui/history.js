// "Who changed this?": every write to one field of one record, oldest first, in a modal dialog.
import { h, mount } from './dom.js';
import { formatValue, formatWhen } from './format.js';

let dialog = null;

function ensureDialog() {
  if (dialog) return dialog;
  dialog = h('dialog', { class: 'history-dialog', 'aria-labelledby': 'history-title' });
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close(); // a tap outside the panel closes it
  });
  document.body.append(dialog);
  return dialog;
}

const shown = (field, value) => {
  const text = formatValue(field, value);
  return text === '' ? h('em', {}, 'empty') : h('q', {}, text);
};

/**
 * @param {(method: string, args: object) => Promise<any>} read
 * @param {string} record record id
 * @param {object} field field info
 * @param {string} label how the record is named
 */
export async function showHistory(read, record, field, label) {
  const box = ensureDialog();
  const changes = await read('history', { record, field: field.id });
  const items = changes.slice().reverse().map((c) => h('li', { class: 'change' },
    h('p', { class: 'who' }, h('strong', {}, c.display_name), ' ',
      h('time', { datetime: String(c.when).split('/')[0] }, formatWhen(c.when))),
    h('p', { class: 'what' },
      c.new === null || c.new === undefined ? ['cleared it (was ', shown(field, c.old), ')']
        : c.old === null || c.old === undefined ? ['set it to ', shown(field, c.new)]
          : ['changed it from ', shown(field, c.old), ' to ', shown(field, c.new)])));
  mount(box,
    h('h2', { id: 'history-title' }, `Who changed ${field.display_name}?`),
    h('p', { class: 'hint' }, `${label} · newest first · every change is signed by its author`),
    items.length ? h('ol', { class: 'history-list' }, items) : h('p', {}, 'No one has set this field yet.'),
    h('form', { method: 'dialog' }, h('button', { type: 'submit', class: 'primary', autofocus: true }, 'Close')));
  const opener = document.activeElement;
  box.addEventListener('close', () => { if (opener && opener.isConnected) opener.focus(); }, { once: true });
  box.showModal();
}
