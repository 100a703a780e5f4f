// "Who changed this?": every write to one field of one record, oldest first, in a modal dialog.
import { h, mount } from './dom.js';
import { closeOnBackdrop } from './dialog.js';
import { formatValue, formatWhen } from './format.js';

let dialog = null;
let backdrop = null;

function ensureDialog() {
  if (dialog) return dialog;
  dialog = h('dialog', { class: 'history-dialog', 'aria-labelledby': 'history-title' });
  backdrop = closeOnBackdrop(dialog, () => dialog.close()); // a deliberate tap outside the panel closes it
  document.body.append(dialog);
  return dialog;
}

const shown = (field, value) => {
  const text = formatValue(field, value);
  return text === '' ? h('em', {}, 'empty') : h('q', {}, text);
};

/** "Jordan's 555-0199 and Alex's decision 555-0101": the other values in a conflict, and whose. */
function others(field, list) {
  const parts = [];
  list.forEach((o, i) => {
    if (i > 0) parts.push(i === list.length - 1 ? ' and ' : ', ');
    parts.push(`${o.display_name}'s `, o.resolution ? 'decision ' : '', shown(field, o.value));
  });
  return parts;
}

/** A piece of text as quoted in a change: long ones cut in the middle, where the eye cares least. */
function piece(text) {
  const cut = text.length > 160 ? `${text.slice(0, 100)} … ${text.slice(-50)}` : text;
  return h('q', {}, cut);
}

/** What one change did, in words: a decision names what it chose over, not "from X to X". */
function what(field, c) {
  if (c.collaborative === 'text') {
    const [removed, added] = c.text_change || ['', ''];
    if (removed && added) return ['replaced ', piece(removed), ' with ', piece(added)];
    if (added) return ['added ', piece(added)];
    if (removed) return ['removed ', piece(removed)];
    return ['edited the text'];
  }
  if (c.collaborative === 'list') return ['changed the list'];
  if (c.resolution) {
    const over = c.chosen_over && c.chosen_over.length ? [' over ', others(field, c.chosen_over)] : [];
    const whose = c.picked_from ? `${c.picked_from}'s ` : '';
    return ['chose ', whose, shown(field, c.new), ...over, c.supersedes ? ', replacing an earlier decision' : ''];
  }
  if (c.new === null || c.new === undefined) return ['cleared it (was ', shown(field, c.old), ')'];
  if (c.old === null || c.old === undefined) return ['set it to ', shown(field, c.new)];
  return ['changed it from ', shown(field, c.old), ' to ', shown(field, c.new)];
}

/**
 * @param {(method: string, args: object) => Promise<any>} read
 * @param {string} record record id
 * @param {object} field field info
 * @param {string} label how the record is named
 */
export async function showHistory(read, record, field, label) {
  const box = ensureDialog();
  const changes = await read('history', { record, field: field.id });
  const items = changes.slice().reverse().map((c) => h('li', { class: c.resolution ? 'change decision' : 'change' },
    h('p', { class: 'who' }, h('strong', {}, c.display_name), ' ',
      c.staged ? h('span', { class: 'hint' }, 'waiting for review, not saved yet')
        : h('time', { datetime: String(c.when).split('/')[0] }, formatWhen(c.when))),
    h('p', { class: 'what' }, what(field, c)),
    c.concurrent_with && c.concurrent_with.length ? h('p', { class: 'hint concurrent' },
      'At the same time as ', others(field, c.concurrent_with),
      c.concurrent_with.length === 1 ? ': neither had seen the other\'s change.'
        : ': none had seen the others\' changes.') : null,
    c.resolution && !c.accepted ? h('p', { class: 'hint' }, 'Not applied: someone had already settled this.')
      : null));
  mount(box,
    h('h2', { id: 'history-title' }, `Who changed ${field.display_name}?`),
    h('p', { class: 'hint' }, `${label} · newest first · every change is signed by its author`),
    items.length ? h('ol', { class: 'history-list' }, items) : h('p', {}, 'No one has set this field yet.'),
    h('form', { method: 'dialog' }, h('button', { type: 'submit', class: 'primary', autofocus: true }, 'Close')));
  const opener = document.activeElement;
  box.addEventListener('close', () => { if (opener && opener.isConnected) opener.focus(); }, { once: true });
  box.showModal();
  backdrop.opened();
}
