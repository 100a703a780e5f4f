// Shared fields: the app asks, in words, whether two tables' fields are the same information
// ("Contacts and Attendees both have Email: keep them as one field?"), shows record by record what
// would become one field before anything changes, and remembers a "no" on this device. Linking two
// tables (every record of one also appears in the other) and unlinking them, each with a preview
// first and Undo after.
import { confirmDialog, openDialog } from './dialog.js';
import { h, mount } from './dom.js';

const SHOWN = 8; // records listed by name in a preview; the rest are counted

function valueText(value) {
  if (value === null || value === undefined || value === '') return h('em', { class: 'empty' }, 'empty');
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  return String(value);
}

function names(list) {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}

function someRecords(items) {
  const shown = items.slice(0, SHOWN).map((r) => r.label);
  return items.length > SHOWN ? `${shown.join(', ')} and ${items.length - SHOWN} more` : names(shown);
}

/** What happened, with Undo beside it (the screen's own line: it stays until the next action). */
function done(app, screen, text) {
  screen.said = text;
  screen.refresh(null).catch((err) => app.notify(err.message));
}

function sideBySide(preview) {
  const [a, b] = preview.fields;
  if (!preview.rows.length) {
    return h('p', {}, `No record is in both ${a.table_name} and ${b.table_name} yet, so nothing you see changes now. `
      + `From now on, a record in both shows one ${a.name}.`);
  }
  const caption = preview.differing
    ? `${preview.differing} ${preview.differing === 1 ? 'record holds' : 'records hold'} two different values now: `
      + 'both fields will show the more recent one. The other stays in the history, and comes back if the fields are separated again.'
    : 'Where both have a value, the values are the same: nothing you see changes.';
  return [
    h('p', { class: 'hint' }, caption),
    h('div', { class: 'side-scroll' }, h('table', { class: 'side-by-side' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Record'),
        h('th', { scope: 'col' }, `${a.name} in ${a.table_name}`),
        h('th', { scope: 'col' }, `${b.name} in ${b.table_name}`),
        h('th', { scope: 'col' }, 'Both will show'))),
      h('tbody', {}, preview.rows.map((r) => h('tr', { class: r.differ ? 'differ' : '' },
        h('th', { scope: 'row' }, r.label),
        h('td', {}, valueText(r.values[0])),
        h('td', {}, valueText(r.values[1])),
        h('td', {}, valueText(r.after))))))),
    preview.in_both > preview.rows.length
      ? h('p', { class: 'hint' }, `Showing ${preview.rows.length} of the ${preview.in_both} records in both tables.`) : null,
  ];
}

/** The preview of one suggestion, then "Keep as one field" or "Keep separate". */
async function reviewSuggestion(app, screen, suggestion) {
  const [a, b] = suggestion.fields;
  let preview;
  try {
    preview = await app.read('mapping_preview', { field_a: a.id, field_b: b.id });
  } catch (err) {
    app.notify(`Could not show what would change: ${err.message}`);
    return;
  }
  openDialog({
    title: preview.description,
    className: 'flow-dialog mapping-dialog',
    body: (_dialog, close) => {
      const status = h('p', { class: 'form-status', role: 'status' });
      return [ // (null: nothing there)
        preview.problem ? h('p', { class: 'error' }, preview.problem) : null,
        h('div', { class: 'preview-body' }, sideBySide(preview)),
        h('div', { class: 'dialog-actions' },
          preview.problem ? null : h('button', {
            type: 'button', class: 'primary',
            onclick: async () => {
              status.textContent = 'Saving…';
              try {
                await app.write('confirm_mapping', { field_a: a.id, field_b: b.id });
                close();
                done(app, screen, `${a.name} is now one field in ${a.table_name} and ${b.table_name}.`);
              } catch (err) {
                status.textContent = `Nothing was changed: ${err.message}`;
              }
            },
          }, 'Keep as one field'),
          h('button', {
            type: 'button',
            onclick: async () => {
              try {
                await app.write('dismiss_mapping', { field_a: a.id, field_b: b.id });
                close();
                screen.said = null;
                app.notify(`${a.name} in ${a.table_name} and ${b.name} in ${b.table_name} stay separate. You will not be asked again on this device.`);
                await screen.refresh(null);
              } catch (err) {
                status.textContent = `Nothing was changed: ${err.message}`;
              }
            },
          }, 'No, keep them separate'),
          h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')),
        status,
      ].filter(Boolean);
    },
  });
}

async function linkFlow(app, screen, link) {
  const [source, target] = link.tables;
  let p;
  try {
    p = await app.read('link_preview', { source, target });
  } catch (err) {
    app.notify(`Could not show what would change: ${err.message}`);
    return;
  }
  const [from, to] = p.names;
  openDialog({
    title: `Link ${from} to ${to}?`,
    className: 'flow-dialog link-dialog',
    body: (_dialog, close) => {
      const status = h('p', { class: 'form-status', role: 'status' });
      return [
        h('p', {}, `Every ${from} record will also appear in ${to}: one record, shown in both tables.`),
        h('p', { class: 'hint' }, `${from} records added later do not join ${to} by themselves: add them from a record's `
          + `Tables section, or make a rule on the Rules screen that adds them.`),
        h('ul', { class: 'flow-list' },
          p.mappings.length
            ? h('li', {}, `${names(p.mappings.map((m) => m.fields[0].name))} will be one field in both tables.`)
            : h('li', {}, 'The two tables have no fields in common: each keeps its own.'),
          p.to_add.length
            ? h('li', {}, `${p.to_add.length} ${p.to_add.length === 1 ? 'record joins' : 'records join'} ${to}: ${someRecords(p.to_add)}.`)
            : h('li', {}, `No ${from} record needs to be added to ${to}.`),
          p.already ? h('li', {}, `${p.already} ${p.already === 1 ? 'record is' : 'records are'} in both already.`) : null),
        p.cannot_add.length ? h('div', { class: 'flow-problems' },
          h('p', {}, `${p.cannot_add.length} ${p.cannot_add.length === 1 ? 'record stays' : 'records stay'} out of ${to}, because ${to} needs what they lack:`),
          h('ul', {}, p.cannot_add.slice(0, SHOWN).map((c) => h('li', {}, `${c.label}: ${c.why}`))),
          p.cannot_add.length > SHOWN ? h('p', {}, `and ${p.cannot_add.length - SHOWN} more.`) : null,
          h('p', { class: 'hint' }, `Nothing about them changes; add them to ${to} one by one once they have it.`)) : null,
        h('div', { class: 'dialog-actions' },
          h('button', {
            type: 'button', class: 'primary',
            onclick: async () => {
              status.textContent = 'Saving…';
              try {
                const result = await app.write('link_tables', { source, target });
                close();
                done(app, screen, `${from} and ${to} are linked: ${result.added} ${result.added === 1 ? 'record' : 'records'} added to ${to}`
                  + `${result.skipped ? `, ${result.skipped} left out` : ''}.`);
              } catch (err) {
                status.textContent = `Nothing was changed: ${err.message}`;
              }
            },
          }, 'Link tables'),
          h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')),
        status,
      ].filter(Boolean);
    },
  });
}

async function unlinkFlow(app, screen, link) {
  const [source, target] = link.tables;
  let p;
  try {
    p = await app.read('unlink_preview', { source, target });
  } catch (err) {
    app.notify(`Could not show what would change: ${err.message}`);
    return;
  }
  const [from, to] = p.names;
  const parts = [];
  if (p.shared.length) {
    parts.push(`${p.shared.length} ${p.shared.length === 1 ? 'record is' : 'records are'} in both tables (${someRecords(p.shared)}). `
      + `Each becomes two: the ${from} record keeps its values, and a new ${to} record gets a copy of what it shows there.`);
  }
  if (p.mappings.length) parts.push(`${names(p.mappings.map((m) => m.fields[0].name))} will be separate fields again, each keeping the value it shows now.`);
  if (!parts.length) parts.push('No record is in both tables and no field is shared: only the link itself goes.');
  const ok = await confirmDialog({ title: `Unlink ${from} and ${to}?`, message: `${parts.join(' ')} You can undo this.`, confirm: 'Unlink tables', danger: true });
  if (!ok) return;
  try {
    const result = await app.write('unlink_tables', { source, target });
    done(app, screen, `${from} and ${to} are no longer linked${result.separated ? `: ${result.separated} records separated` : ''}.`);
  } catch (err) {
    app.notify(`Nothing was changed: ${err.message}`);
  }
}

export async function renderMappings({ main, app }) {
  const generation = app.generation;
  const screen = {
    said: null,
    shown: null,
    async refresh(focus) {
      const data = await app.read('shared_fields');
      if (app.generation !== generation) return;
      const signature = JSON.stringify([data, screen.said]);
      if (focus === undefined && signature === screen.shown) return;
      if (focus === undefined && main.contains(document.activeElement) && document.querySelector('dialog[open]')) return;
      screen.shown = signature;
      const undo = h('button', {
        type: 'button', class: 'small',
        onclick: async () => { screen.said = null; await app.undoRedo('undo'); await screen.refresh(null); },
      }, 'Undo');
      mount(main,
        h('h1', { id: 'fields-title', tabindex: -1 }, 'Shared fields'),
        h('p', { class: 'hint' }, 'When two tables hold the same information (a person\'s email in Contacts and in Attendees), keeping it as '
          + 'one field means a change in either table shows in both. Nothing is joined until you say so.'),
        screen.said ? h('p', { class: 'flow-done', role: 'status' }, screen.said, ' ', undo) : null,
        h('section', { 'aria-labelledby': 'suggest-title' },
          h('h2', { id: 'suggest-title' }, 'Suggestions'),
          data.suggestions.length ? h('ul', { class: 'flow-cards' }, data.suggestions.map((s) => h('li', { class: 'flow-card', dataset: { key: s.key } },
            h('p', { class: 'description' }, s.description),
            h('button', { type: 'button', class: 'primary', onclick: () => reviewSuggestion(app, screen, s) }, 'Review…'))))
            : h('p', { class: 'all-clear' }, 'No open suggestions.')),
        h('section', { 'aria-labelledby': 'links-title' },
          h('h2', { id: 'links-title' }, 'Linked tables'),
          h('ul', { class: 'flow-cards' }, data.links.map((l) => h('li', { class: 'flow-card', dataset: { tables: l.tables.join('|') } },
            h('p', { class: 'description' }, l.linked
              ? `${l.names[0]} and ${l.names[1]} are linked. Records added since join the other table when `
                + 'someone adds them, or a rule does.'
              : `${l.names[0]} and ${l.names[1]} are not linked.`),
            h('p', { class: 'hint' }, l.one_field.length
              ? `One field in both: ${names(l.one_field.map((m) => m.fields[0].name))}. ${l.in_both} ${l.in_both === 1 ? 'record is' : 'records are'} in both tables.`
              : `No field is shared yet. ${l.in_both} ${l.in_both === 1 ? 'record is' : 'records are'} in both tables.`),
            l.linked
              ? h('button', { type: 'button', onclick: () => unlinkFlow(app, screen, l) }, 'Unlink…')
              : h('button', { type: 'button', onclick: () => linkFlow(app, screen, l) }, `Link ${l.names[0]} to ${l.names[1]}…`))))));
      if (focus === null) main.querySelector('.flow-done button, #fields-title').focus();
    },
    focus() { main.querySelector('#fields-title')?.focus(); },
  };
  await screen.refresh(undefined);
  return screen;
}
