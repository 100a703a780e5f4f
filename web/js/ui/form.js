// The record form: every field of one table for one record. Save writes all changed fields as
// one bundle (or creates the record, also one bundle). Each field shows its flags: in conflict
// (Resolve…), staged (Knock out), changed underneath while staging (Keep mine / Use canonical).
// Collaborative text fields are textareas whose edits merge with others' typing. Below: links to
// other records and ordered lists, which other tables the record is in, per-field history, delete.
import { attachmentField } from './attachments.js';
import { showResolveDialog } from './conflicts.js';
import { h, mount, uid } from './dom.js';
import { formatDateTime, inputAttrs, inputValue } from './format.js';
import { renderLinks } from './links.js';
import { renderIdentity } from './identity.js';
import { driftActions } from './staging.js';
import { dropDraft, keepDraft, readDraft, settleDraft } from './drafts.js';
import { closeTyping, saveTyping } from './typing.js';

/** What a field's flags say, with their actions; empty when the field has none. */
function flagContent(app, record, field, flag, label, afterAction) {
  if (!flag) return [];
  const parts = [];
  if (flag.conflict) {
    parts.push(h('p', { class: 'flag conflict' }, h('span', { 'aria-hidden': 'true' }, '⚑ '),
      h('span', {}, `In conflict: ${flag.conflict_text}. `),
      h('button', { type: 'button', class: 'small', onclick: () => showResolveDialog(app, flag.conflict) }, 'Resolve…')));
  }
  if (flag.drift) {
    parts.push(h('p', { class: 'flag drift' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), h('span', {}, `${flag.drift}. `),
      driftActions(app, { record, field: field.id, record_label: label, field_name: field.display_name }, afterAction)));
  }
  if (flag.staged && !flag.drift) {
    parts.push(h('p', { class: 'flag staged' }, h('span', {}, 'Waiting for review: not saved or shared until you save it. '),
      h('button', {
        type: 'button', class: 'small', 'aria-label': `Drop my change to ${field.display_name}`,
        onclick: async () => {
          await app.write('stage_use_canonical', { record, field: field.id }).catch((err) => app.notify(err.message));
          await afterAction();
        },
      }, 'Drop my change')));
  }
  return parts;
}

const listText = (value) => (Array.isArray(value) ? value.join(', ') : '');

/**
 * @param {object} o
 * @param {HTMLElement} o.main where to render
 * @param {object} o.table table info (with fields)
 * @param {string|null} o.recordId null for a new record
 * @param {object} o.app the app context (write, read, notify, navigate, showHistory, tableHref)
 */
export async function renderForm({ main, table, recordId, app }) {
  closeTyping(); // an earlier form's typing is saved first
  const record = recordId ? await app.read('record', { record: recordId }) : null;
  if (recordId && !record) {
    mount(main, h('h1', {}, 'Record not found'),
      h('p', {}, 'It may have been deleted. '), h('a', { href: `#${app.tableHref(table.id)}` }, `Back to ${table.display_name}`));
    return { refresh: async () => {} };
  }
  const inTable = !record || record.tables.includes(table.id);
  const title = record ? `${table.display_name}: ${record.label}` : `New record in ${table.display_name}`;
  const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const inputs = new Map();
  const flagBoxes = new Map();
  const bases = {}; // collaborative text as the form last showed it: the start of this person's edit
  const savers = new Map(); // field id -> its burst saver (collaborative text of a saved record)
  const typed = new Set(); // text fields whose typing saved itself since the form last said "Saved"
  const draftBoxes = new Map(); // field id -> where typing left unsaved last time is offered back

  /** Typing in a collaborative text field saves itself in bursts (ui/typing.js), one bundle each. */
  function typingSaver(field, input) {
    return saveTyping({
      input,
      base: () => bases[field.id],
      save: (value, base) => app.write('set_cell', { record: record.id, field: field.id, value, base }),
      typed: (value, base) => keepDraft(app.ws.id, record.id, field.id, base, value),
      saved: (value, result) => {
        let text = value;
        const merged = result && typeof result.value === 'string' ? result.value : value;
        if (merged !== value && input.value === value) { // others' typing arrived meanwhile: show it
          const tail = value.length - input.selectionEnd; // keep the caret where it was, from the end
          const focused = document.activeElement === input;
          input.value = merged;
          if (focused && merged.endsWith(value.slice(value.length - tail))) {
            input.setSelectionRange(merged.length - tail, merged.length - tail);
          }
          text = merged;
        }
        bases[field.id] = text;
        settleDraft(app.ws.id, record.id, field.id, value, text);
        typed.add(field.id);
        const shown = JSON.parse(initial);
        shown[field.id] = text;
        initial = JSON.stringify(shown);
      },
      left: () => screen.refresh(),
      failed: (err) => {
        status.textContent = `Not saved: ${err.message}`;
      },
    });
  }

  const rows = table.fields.map((field) => {
    const id = uid('field');
    // a new record starts with the fields' defaults (a cue is Called: Yes unless unticked)
    const value = record ? record.values[field.id] : (field.default ?? undefined);
    const described = [field.description ? `${id}-desc` : null, `${id}-flags`].filter(Boolean).join(' ');
    const attrs = {
      id, name: field.id, disabled: !field.editable, required: field.required && field.type !== 'boolean',
      'aria-describedby': described,
    };
    let input;
    if (field.crdt === 'text') {
      input = h('textarea', { ...attrs, rows: 5, spellcheck: 'true', value: value || '' });
      bases[field.id] = value || '';
      if (record && field.editable) savers.set(field.id, typingSaver(field, input));
    } else if (field.crdt === 'list') {
      input = h('input', { ...attrs, type: 'text', autocomplete: 'off', value: listText(value) });
    } else if (field.type === 'boolean') {
      input = h('input', { ...attrs, ...inputAttrs(field), checked: Boolean(value) });
    } else if (field.type === 'blob') { // a file: its own control (ui/attachments.js), not a text box
      const widget = attachmentField({ app, record: record && record.id, field, id, value });
      input = widget.el;
      input.setValue = widget.set;
    } else {
      input = h('input', { ...attrs, ...inputAttrs(field), value: inputValue(field, value) });
    }
    inputs.set(field.id, input);
    const flags = h('div', { id: `${id}-flags`, class: 'field-flags' });
    flagBoxes.set(field.id, flags);
    const leftover = savers.has(field.id) ? h('div', { class: 'field-flags', 'aria-live': 'polite' }) : null;
    if (leftover) draftBoxes.set(field.id, leftover);
    return h('div', { class: `form-row type-${field.type}${field.crdt ? ` crdt-${field.crdt}` : ''}` },
      h('label', { for: id }, field.display_name, field.required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
      input,
      field.description ? h('p', { id: `${id}-desc`, class: 'hint' }, field.description) : null,
      flags,
      leftover,
      record ? h('button', {
        type: 'button', class: 'link-button history-button',
        'aria-label': `History: who changed ${field.display_name}?`,
        onclick: () => app.showHistory(record.id, field, record.label),
      }, 'History') : null);
  });

  const collect = () => {
    const values = {};
    for (const field of table.fields) {
      if (!field.editable) continue;
      const input = inputs.get(field.id);
      values[field.id] = field.type === 'boolean' ? input.checked : input.value;
    }
    return values;
  };

  const showFlags = (flags) => {
    for (const field of table.fields) {
      const box = flagBoxes.get(field.id);
      const flag = flags && flags.fields ? flags.fields[field.id] : null;
      mount(box, flagContent(app, record.id, field, flag, record.label, () => screen.refresh(true)));
      box.closest('.form-row').classList.toggle('flagged', Boolean(flag));
    }
  };

  let initial = JSON.stringify(collect());
  const form = h('form', {
    class: 'record-form', 'aria-labelledby': 'form-title', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const values = collect();
      const missing = table.fields.filter((f) => f.required && f.editable && f.type !== 'boolean' && !String(values[f.id]).trim());
      if (missing.length) {
        status.textContent = `Fill in: ${missing.map((f) => f.display_name).join(', ')}`;
        inputs.get(missing[0].id).focus();
        return;
      }
      status.textContent = 'Saving…';
      try {
        if (record) {
          await Promise.all([...savers.values()].map((saver) => saver.flush())); // typing first, then the rest
          Object.assign(values, collect());
          const result = await app.write('update_record', { record: record.id, values, bases: { ...bases } });
          for (const field of table.fields) if (field.crdt === 'text') bases[field.id] = values[field.id];
          initial = JSON.stringify(collect());
          const changed = new Set([...result.changed, ...typed]).size; // typing saved itself: still a change
          typed.clear();
          status.textContent = changed ? `Saved ${changed} change${changed === 1 ? '' : 's'}.` : 'Nothing changed.';
        } else {
          const created = await app.write('create_record', { table: table.id, values });
          app.rememberActive(table.id, created.id);
          app.navigate(app.tableHref(table.id));
        }
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    },
  },
  h('fieldset', { disabled: !inTable }, h('legend', { class: 'visually-hidden' }, 'Fields'), rows),
  h('div', { class: 'form-actions' },
    h('button', { type: 'submit', class: 'primary', disabled: !inTable }, record ? 'Save' : 'Create record'),
    h('a', { class: 'button', href: `#${app.tableHref(table.id)}` }, record ? 'Back to table' : 'Cancel')),
  status);

  const membership = h('section', { class: 'membership', 'aria-labelledby': 'membership-title' });
  const linksBox = record ? h('section', { class: 'links', 'aria-labelledby': 'links-title' }) : null;
  const danger = record ? h('section', { class: 'danger', 'aria-labelledby': 'danger-title' },
    h('h2', { id: 'danger-title' }, 'Delete'),
    h('p', {}, 'Deleting removes the record from every table. Its history stays.'),
    h('button', {
      type: 'button', class: 'danger-button',
      onclick: async () => {
        if (!window.confirm(`Delete “${record.label}” from every table?`)) return;
        try {
          await app.write('delete_record', { record: record.id });
          app.navigate(app.tableHref(table.id));
        } catch (err) {
          app.notify(`Not deleted: ${err.message}`);
        }
      },
    }, 'Delete record')) : null;


  async function renderMembership() {
    if (!record) return;
    const tables = await app.read('membership', { record: record.id });
    const items = tables.map((t) => {
      if (t.member) {
        return h('li', {}, h('span', { class: 'member' }, `✓ In ${t.display_name}`), ' ',
          record.tables.length > 1 ? h('button', {
            type: 'button', class: 'small',
            onclick: async () => {
              try {
                await app.write('remove_from_table', { record: record.id, table: t.table });
                record.tables = record.tables.filter((x) => x !== t.table);
                if (t.table === table.id) app.navigate(app.tableHref(table.id));
                else renderMembership();
              } catch (err) {
                app.notify(`Not removed: ${err.message}`);
              }
            },
          }, `Remove from ${t.display_name}`) : h('span', { class: 'hint' }, '(its only table)'));
      }
      const needInputs = t.needs.map((f) => {
        const id = uid('need');
        return h('span', { class: 'need' }, h('label', { for: id }, f.display_name), h('input', { id, name: f.id, ...inputAttrs(f), required: true }));
      });
      const addForm = h('form', {
        class: 'add-to-table',
        onsubmit: async (event) => {
          event.preventDefault();
          const values = Object.fromEntries(needInputs.map((span) => {
            const input = span.querySelector('input');
            return [input.name, input.value];
          }));
          try {
            await app.write('add_to_table', { record: record.id, table: t.table, values });
            record.tables = [...record.tables, t.table];
            renderMembership();
          } catch (err) {
            app.notify(`Not added: ${err.message}`);
          }
        },
      }, needInputs, h('button', { type: 'submit', class: 'small' }, `Add to ${t.display_name}`));
      return h('li', {}, h('span', { class: 'table-name' }, t.display_name), addForm);
    });
    mount(membership, h('h2', { id: 'membership-title' }, 'Tables'),
      h('p', { class: 'hint' }, 'A record can be in several tables at once: a person in Contacts can also be an Attendee.'),
      h('ul', { class: 'table-list' }, items));
  }
  // Everything is read before anything is shown: sections filling in later would push the page around.
  await renderMembership();
  const links = record ? await renderLinks(linksBox, app, record.id) : null;
  const identityBox = h('section', { class: 'identity-section', 'aria-labelledby': 'identity-title' });
  const identity = record ? await renderIdentity(identityBox, app, record.id) : null;
  mount(main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: `#${app.tableHref(table.id)}` }, table.display_name), ' › ', record ? record.label : 'New'),
    h('h1', { id: 'form-title' }, title),
    inTable ? null : h('p', { class: 'notice' }, `This record is not in ${table.display_name}.`),
    form, linksBox, record ? identityBox : null, membership, danger);
  if (record) showFlags(record.flags);
  for (const field of table.fields) if (draftBoxes.has(field.id)) await putBackTyping(field);
  (inputs.get(table.fields.find((f) => f.editable)?.id) || form).focus();

  /** Show `text` as this field's saved text (nothing of it left to save). */
  function showSaved(field, text) {
    inputs.get(field.id).value = text;
    bases[field.id] = text;
    const shown = JSON.parse(initial);
    shown[field.id] = text;
    initial = JSON.stringify(shown);
  }

  /** Typing this device kept (ui/drafts.js) but whose save was never confirmed: the tab was closed or
   * the browser stopped in the middle of a burst. Put back at once if the text is still what it was
   * typed over; if it changed since, show what was typed and let the person choose. */
  async function putBackTyping(field) {
    const box = draftBoxes.get(field.id);
    const draft = readDraft(app.ws.id, record.id, field.id);
    const current = inputs.get(field.id).value;
    if (!draft || draft.value === current) { // nothing kept, or it was saved after all
      if (draft) dropDraft(app.ws.id, record.id, field.id);
      return;
    }
    const when = formatDateTime(draft.at);
    const putBack = async () => {
      const result = await app.write('set_cell', { record: record.id, field: field.id, value: draft.value, base: draft.base });
      showSaved(field, typeof result.value === 'string' ? result.value : draft.value);
      dropDraft(app.ws.id, record.id, field.id);
      typed.add(field.id);
    };
    if (draft.base === current) {
      try {
        await putBack();
        mount(box, h('p', { class: 'flag restored' },
          `Put back what you typed here on ${when}: the app closed before it was saved.`));
        return;
      } catch (err) {
        console.warn('typing not put back at once', err);
      }
    }
    const shown = draft.value.length > 400 ? `${draft.value.slice(0, 400)}…` : draft.value;
    mount(box, h('div', { class: 'flag drift' },
      h('p', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '),
        `You typed this here on ${when} and it was not saved before the app closed. `
        + `${field.display_name} has changed since. Put your typing back into it?`),
      h('blockquote', { class: 'kept-typing' }, shown),
      h('button', {
        type: 'button', class: 'small',
        onclick: async () => {
          try {
            await putBack();
            mount(box, h('p', { class: 'flag restored' }, 'Your typing is back.'));
          } catch (err) {
            mount(box, h('p', { class: 'flag conflict' }, `Not put back: ${err.message}`));
          }
        },
      }, 'Put it back'), ' ',
      h('button', {
        type: 'button', class: 'small',
        onclick: () => {
          dropDraft(app.ws.id, record.id, field.id);
          mount(box, []);
        },
      }, 'Discard it')));
  }

  const screen = {
    /** Another tab or a received change touched the workspace: reload values not being edited.
     * `force`: this form's own action changed them (a knockout, Keep mine). */
    async refresh(force = false) {
      if (!record) return;
      const fresh = await app.read('record', { record: record.id });
      if (!fresh) return;
      showFlags(fresh.flags);
      if (links) await links.refresh();
      if (identity) await identity.refresh();
      if (!force && JSON.stringify(collect()) !== initial) return; // unsaved typing wins; Save merges text
      for (const field of table.fields) {
        const input = inputs.get(field.id);
        if (document.activeElement === input && !force) continue;
        if (savers.get(field.id)?.busy()) continue; // typing being saved: it wins
        const value = fresh.values[field.id];
        if (field.type === 'boolean') input.checked = Boolean(value);
        else if (field.type === 'blob') input.setValue(value);
        else if (field.crdt === 'text') {
          input.value = value || '';
          bases[field.id] = value || '';
        } else if (field.crdt === 'list') input.value = listText(value);
        else input.value = inputValue(field, value);
      }
      initial = JSON.stringify(collect());
      record.tables = fresh.tables;
      const typing = membership.contains(document.activeElement)
        || [...membership.querySelectorAll('input')].some((input) => input.value);
      if (!typing) await renderMembership(); // never wipe what someone is typing
    },
  };
  return screen;
}
