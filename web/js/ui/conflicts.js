// The conflicts panel: every open conflict in plain words (who set what, when), and choosing the
// value to keep: one person's, or a new one. Large groups between the same people can be settled in
// one go ("take Jordan's side for all 40"). Each resolution is one signed bundle, kept in history.
import { confirmDialog, openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';
import { formatValue, formatWhen, inputAttrs } from './format.js';

const NEW = '__new__';

function shownValue(field, value) {
  const text = field ? formatValue(field, value) : (value === null || value === undefined ? '' : String(value));
  return text === '' ? h('em', {}, 'cleared') : h('q', {}, text);
}

function newValueInput(field, id, label) {
  if (field && field.type === 'boolean') {
    return h('select', { id, 'aria-label': label },
      h('option', { value: '' }, 'cleared'), h('option', { value: 'yes' }, 'Yes'), h('option', { value: 'no' }, 'No'));
  }
  return h('input', { id, ...inputAttrs(field || { type: 'string' }), 'aria-label': label });
}

/**
 * The choice between the competing values (and a new one), submitted as one resolution.
 * @param {object} conflict from the worker's `conflicts` method
 * @param {object} app
 * @param {(message: string) => void} onDone after the resolution is saved
 */
export function resolveForm(conflict, app, onDone) {
  const name = uid('resolve');
  const status = h('p', { class: 'form-status', role: 'status' });
  const field = conflict.field;
  const choices = conflict.competitors.map((c) => {
    const id = uid('choice');
    const current = c.value === conflict.current
      || (c.value === null && (conflict.current === null || conflict.current === undefined));
    return h('div', { class: 'choice' },
      h('input', { type: 'radio', name, id, value: c.op_id, dataset: { who: c.display_name } }),
      h('label', { for: id },
        shownValue(field, c.value), ' — ', h('strong', {}, c.display_name), ', ',
        h('time', { datetime: String(c.when).split('/')[0] }, formatWhen(c.when)),
        current ? h('span', { class: 'hint' }, ' (shown now)') : null));
  });
  const newId = uid('choice');
  const inputId = uid('new-value');
  const input = newValueInput(field, inputId, `New value for ${conflict.field_name}`);
  const newRadio = h('input', { type: 'radio', name, id: newId, value: NEW });
  input.addEventListener('input', () => { newRadio.checked = true; });
  input.addEventListener('focus', () => { newRadio.checked = true; });
  const form = h('form', {
    class: 'resolve-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const picked = form.querySelector(`input[name="${name}"]:checked`);
      if (!picked) {
        status.textContent = 'Choose the value to keep first.';
        form.querySelector('input[type=radio]').focus();
        return;
      }
      const args = { conflict: conflict.id };
      let said;
      if (picked.value === NEW) {
        args.value = input.value === '' ? null : input.value;
        said = `${conflict.record_label}'s ${conflict.field_name} is now your new value.`;
      } else {
        args.pick = picked.value;
        said = `Kept ${picked.dataset.who}'s ${conflict.field_name} for ${conflict.record_label}.`;
      }
      status.textContent = 'Saving…';
      try {
        await app.write('resolve_conflict', args);
        onDone(said);
      } catch (err) {
        status.textContent = `Not resolved: ${err.message}`;
      }
    },
  },
  h('fieldset', {},
    h('legend', {}, 'Keep which value?'),
    choices,
    h('div', { class: 'choice new-choice' }, newRadio, h('label', { for: newId }, 'Enter a new value:'), input)),
  h('button', { type: 'submit', class: 'primary' }, 'Resolve'),
  status);
  return form;
}

/** From the grid or the form: resolve one conflict in a dialog. */
export async function showResolveDialog(app, conflictId) {
  const { conflicts } = await app.read('conflicts');
  const conflict = conflicts.find((c) => c.id === conflictId);
  if (!conflict) {
    app.notify('This conflict is already resolved.');
    return;
  }
  openDialog({
    title: `Resolve: ${conflict.record_label} › ${conflict.field_name}`,
    className: 'resolve-dialog',
    body: (_dialog, close) => [
      h('p', {}, conflict.description),
      resolveForm(conflict, app, (said) => { close(); app.notify(said); }),
      h('button', { type: 'button', onclick: close }, 'Cancel'),
    ],
  });
}

function recordLink(app, conflict) {
  const table = conflict.tables && conflict.tables[0];
  const text = `${conflict.record_label} › ${conflict.field_name}`;
  return table && conflict.record ? h('a', { href: `#${app.tableHref(table)}/r/${conflict.record}` }, text) : text;
}

export async function renderConflicts({ main, app }) {
  let shown = null;
  const generation = app.generation;
  const screen = {
    /** focusId: a conflict to focus after rendering (null: the heading); undefined: a change arrived
     * from elsewhere, so re-render only if the list itself changed (never under someone choosing). */
    async refresh(focusId) {
      const { conflicts, groups } = await app.read('conflicts');
      if (app.generation !== generation) return; // another screen is shown now
      const signature = JSON.stringify([conflicts.map((c) => c.id), groups.map((g) => [g.actors, g.count])]);
      if (focusId === undefined && signature === shown) return;
      shown = signature;
      const active = document.activeElement && document.activeElement.closest('[data-conflict]');
      const keep = focusId === undefined && active ? active.dataset.conflict : null;
      const groupItems = groups.map((g) => h('li', { class: 'group' },
        h('p', {}, h('strong', {}, g.names.join(' and ')), ` disagree on ${g.count} fields.`),
        h('div', { class: 'group-actions' }, g.people.map((p) => h('button', {
          type: 'button',
          onclick: async () => {
            const ok = await confirmDialog({
              title: `Take ${p.display_name}'s side for all ${g.count}?`,
              message: `Each of the ${g.count} fields keeps the value ${p.display_name} set. Every resolution is recorded `
                + 'in history, and you can change any field again afterwards.',
              confirm: `Take ${p.display_name}'s side`,
            });
            if (!ok) return;
            try {
              const result = await app.write('resolve_all', { actors: g.actors, take: p.actor });
              app.notify(`Resolved ${result.resolved} conflicts in favour of ${p.display_name}.`);
              await screen.refresh();
            } catch (err) {
              app.notify(`Not resolved: ${err.message}`);
            }
          },
        }, `Take ${p.display_name}'s side for all ${g.count}`)))));
      const items = conflicts.map((c) => {
        const headingId = `conflict-${c.id}`;
        return h('li', {},
          h('article', { class: 'conflict', 'aria-labelledby': headingId, dataset: { conflict: c.id } },
            h('h2', { id: headingId, tabindex: -1 }, h('span', { class: 'flag-icon', 'aria-hidden': 'true' }, '⚑ '), recordLink(app, c)),
            h('p', { class: 'hint' }, c.is_edge ? `Link ${c.table}` : c.table),
            h('p', { class: 'description' }, c.description),
            resolveForm(c, app, async (said) => {
              app.notify(said);
              const index = conflicts.indexOf(c);
              await screen.refresh(conflicts[index + 1] ? conflicts[index + 1].id : null);
            })));
      });
      mount(main,
        h('h1', { id: 'conflicts-title', tabindex: -1 }, 'Conflicts'),
        h('p', { class: 'hint' }, 'Two or more people changed the same field while they were apart. Nothing was overwritten: ',
          'each field shows the most recent value until someone chooses what to keep. Every choice is recorded in history.'),
        groups.length ? h('section', { class: 'conflict-groups', 'aria-labelledby': 'groups-title' },
          h('h2', { id: 'groups-title' }, 'Settle many at once'),
          h('ul', { class: 'group-list' }, groupItems)) : null,
        conflicts.length
          ? h('ol', { class: 'conflict-list', 'aria-labelledby': 'conflicts-title' }, items)
          : h('p', { class: 'all-clear', role: 'status' }, 'No conflicts: everything merged cleanly.'));
      const wanted = focusId || keep;
      const target = wanted ? main.querySelector(`[id="conflict-${wanted}"]`) : null;
      if (target) target.focus();
      else if (focusId !== undefined || keep) main.querySelector('#conflicts-title').focus();
    },
    focus() { main.querySelector('#conflicts-title')?.focus(); },
  };
  await screen.refresh(undefined);
  return screen;
}
