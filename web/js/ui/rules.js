// Rules and their suggestions. A rule is built from plain choices ("records in Lighting Cues where
// Called is Yes go into SM Cues"), previewed ("right now it would suggest 12 things") before it is
// saved, edited or turned off. Suggestions ("LX 11 no longer meets the criteria for SM Cues. Remove
// it?") are listed by the table they apply to, and accepted or dismissed one by one or all together.
// A rule that would set itself off again and again is refused, said in words, and nothing is saved.
import { openDialog } from './dialog.js';
import { h, mount, uid } from './dom.js';

const SHOWN = 12; // suggestions listed in a preview; the rest are counted

function labelled(label, control) {
  const id = control.id || uid('rule');
  control.id = id;
  return h('div', { class: 'rule-row' }, h('label', { for: id }, label), control);
}

function options(list, selected, blank) {
  return [blank ? h('option', { value: '' }, blank) : null,
    ...list.map((o) => h('option', { value: o.id, selected: o.id === selected }, o.name))].filter(Boolean);
}

function valueInput(field, value, label) {
  if (field && field.type === 'boolean') {
    const yes = value === true || value === 'yes';
    return h('select', { 'aria-label': label }, h('option', { value: 'yes', selected: yes }, 'Yes'),
      h('option', { value: 'no', selected: !yes && value !== undefined && value !== null }, 'No'));
  }
  return h('input', { type: 'text', 'aria-label': label, value: value === undefined || value === null ? '' : String(value) });
}

/** The rule form, in a dialog: new (`rule` null) or editing a saved rule's choices. */
function openRuleForm(app, screen, rule) {
  const tables = app.ws.info.tables.map((t) => ({
    id: t.id, name: t.display_name,
    fields: t.fields.filter((f) => !f.crdt).map((f) => ({ id: f.id, name: f.display_name, type: f.type })),
  }));
  const start = rule || { kind: 'membership', source_table: tables[0].id, op: 'is' };
  const fieldsOf = (tableId) => (tables.find((t) => t.id === tableId) || { fields: [] }).fields;
  const name = h('input', { type: 'text', value: start.name || '', required: true });
  const kindName = uid('kind');
  const kinds = [['membership', 'Put records in a table'], ['match', 'Find records that are the same person or thing']]
    .map(([value, text]) => {
      const id = uid('kind');
      return { value, input: h('input', { type: 'radio', name: kindName, id, value, checked: start.kind === value }), label: h('label', { for: id }, text) };
    });
  const source = h('select', {}, options(tables, start.source_table));
  const field = h('select', {});
  const op = h('select', { 'aria-label': 'Comparison' }, [['is', 'is'], ['is_not', 'is not'], ['empty', 'is empty'], ['filled', 'is filled in']]
    .map(([v, t]) => h('option', { value: v, selected: (start.op || 'is') === v }, t)));
  const valueSlot = h('span', { class: 'value-slot' });
  const target = h('select', {}, options(tables, start.table, 'Choose a table…'));
  const defaultField = h('select', {});
  const defaultSlot = h('span', { class: 'value-slot' });
  const matchBox = h('fieldset', { class: 'match-fields' });
  const loose = h('input', { type: 'checkbox', id: uid('loose'), checked: Boolean(start.loose) });
  const auto = h('input', { type: 'checkbox', id: uid('auto'), checked: Boolean(start.auto) });
  const preview = h('div', { class: 'rule-preview', role: 'status' });
  const status = h('p', { class: 'form-status', role: 'status' });
  let value = start.value;
  let defaultValue = start.default_value;

  const drawCondition = () => {
    const list = fieldsOf(source.value);
    mount(field, h('option', { value: '' }, 'any record'), list.map((f) => h('option', { value: f.id, selected: f.id === start.field }, f.name)));
    drawValue();
    mount(matchBox, h('legend', {}, 'The same'), list.map((f) => {
      const id = uid('same');
      return h('span', { class: 'check' }, h('input', { type: 'checkbox', id, value: f.id, checked: (start.match_on || []).includes(f.id) }),
        h('label', { for: id }, f.name));
    }));
  };
  const drawValue = () => {
    const f = fieldsOf(source.value).find((x) => x.id === field.value);
    op.disabled = !f;
    const needs = f && (op.value === 'is' || op.value === 'is_not');
    mount(valueSlot, needs ? valueInput(f, value, 'Value') : null);
  };
  const drawDefault = () => {
    const list = fieldsOf(target.value);
    mount(defaultField, h('option', { value: '' }, 'nothing'), list.map((f) => h('option', { value: f.id, selected: f.id === start.default_field }, f.name)));
    const f = list.find((x) => x.id === defaultField.value);
    mount(defaultSlot, f ? valueInput(f, defaultValue, 'Fill in with') : null);
  };
  const kind = () => (kinds.find((k) => k.input.checked) || kinds[0]).value;
  const definition = () => {
    const valueEl = valueSlot.querySelector('input, select');
    const defaultEl = defaultSlot.querySelector('input, select');
    return {
      id: rule ? rule.id : undefined, name: name.value, kind: kind(), source_table: source.value, field: field.value || null,
      op: op.value, value: valueEl ? valueEl.value : null, table: target.value || null,
      default_field: defaultField.value || null, default_value: defaultEl ? defaultEl.value : null,
      match_on: [...matchBox.querySelectorAll('input:checked')].map((i) => i.value), loose: loose.checked, auto: auto.checked,
    };
  };
  const membershipPart = h('div', { class: 'rule-part' }, labelled('Put them in', target),
    h('div', { class: 'rule-row' }, labelled('and fill in', defaultField), defaultSlot));
  const matchPart = h('div', { class: 'rule-part' }, matchBox,
    h('span', { class: 'check' }, loose, h('label', { for: loose.id }, 'Ignore capital letters and extra spaces')));
  const showKind = () => {
    membershipPart.hidden = kind() !== 'membership';
    matchPart.hidden = kind() !== 'match';
    preview.textContent = '';
  };
  source.addEventListener('change', () => { start.field = null; start.match_on = []; drawCondition(); });
  field.addEventListener('change', () => { value = null; drawValue(); });
  op.addEventListener('change', drawValue);
  target.addEventListener('change', () => { start.default_field = null; defaultValue = null; drawDefault(); });
  defaultField.addEventListener('change', () => { start.default_field = defaultField.value; defaultValue = null; drawDefault(); });
  for (const k of kinds) k.input.addEventListener('change', showKind);
  drawCondition();
  drawDefault();
  showKind();

  openDialog({
    title: rule ? `Edit rule: ${rule.name}` : 'New rule',
    className: 'flow-dialog rule-dialog',
    body: (_dialog, close) => [
      labelled('Rule name', name),
      h('fieldset', {}, h('legend', {}, 'What should it do?'), kinds.map((k) => h('span', { class: 'check' }, k.input, k.label))),
      labelled('Look at records in', source),
      h('div', { class: 'rule-row condition' }, labelled('where', field), op, valueSlot),
      membershipPart,
      matchPart,
      h('span', { class: 'check' }, auto, h('label', { for: auto.id }, 'Do it without asking, for records changed from now on')),
      h('div', { class: 'dialog-actions' },
        h('button', {
          type: 'button',
          onclick: async () => {
            status.textContent = '';
            try {
              const p = await app.read('rule_preview', { definition: definition() });
              const listed = p.proposals.slice(0, SHOWN);
              mount(preview, h('p', {}, p.summary),
                h('p', { class: 'preview-count' }, p.proposals.length
                  ? `Right now it would suggest ${p.proposals.length} ${p.proposals.length === 1 ? 'thing' : 'things'}:`
                  : 'Right now it would change nothing.'),
                listed.length ? h('ul', { class: 'flow-list' }, listed.map((x) => h('li', {}, x.description))) : null,
                p.proposals.length > SHOWN ? h('p', { class: 'hint' }, `and ${p.proposals.length - SHOWN} more.`) : null);
            } catch (err) {
              mount(preview);
              status.textContent = err.message;
            }
          },
        }, 'Preview'),
        h('button', {
          type: 'button', class: 'primary',
          onclick: async () => {
            status.textContent = 'Saving…';
            try {
              await app.write('save_rule', { definition: definition() });
              close();
              screen.said = rule ? `Rule “${name.value.trim()}” saved.` : `Rule “${name.value.trim()}” created.`;
              screen.undoable = false;
              await screen.refresh(null);
            } catch (err) {
              status.textContent = err.message;
            }
          },
        }, rule ? 'Save rule' : 'Create rule'),
        h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')),
      status,
      preview,
    ],
  });
}

async function decide(app, screen, method, ids, said) {
  try {
    await app.write(method, { ids });
    screen.said = said;
    screen.undoable = method === 'accept_proposals';
  } catch (err) {
    screen.said = err.message;
    screen.undoable = false;
  }
  await screen.refresh(null);
}

function proposalsSection(app, screen, proposals) {
  if (!proposals.length) return h('p', { class: 'all-clear' }, 'No suggestions waiting.');
  const byTable = new Map();
  for (const p of proposals) {
    const key = p.table_name || 'Other';
    if (!byTable.has(key)) byTable.set(key, []);
    byTable.get(key).push(p);
  }
  const ids = proposals.map((p) => p.id);
  const n = proposals.length;
  return [
    h('div', { class: 'card-actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => decide(app, screen, 'accept_proposals', ids, `Done: ${n} ${n === 1 ? 'suggestion' : 'suggestions'} carried out.`) },
        n === 1 ? 'Accept it' : `Accept all ${n}`),
      h('button', { type: 'button', onclick: () => decide(app, screen, 'dismiss_proposals', ids, `Dismissed ${n} ${n === 1 ? 'suggestion' : 'suggestions'} on this device.`) },
        n === 1 ? 'Dismiss it' : `Dismiss all ${n}`)),
    [...byTable.entries()].map(([table, items]) => h('section', { class: 'proposal-group' },
      h('h3', {}, `In ${table}`),
      h('ul', { class: 'flow-cards' }, items.map((p) => h('li', { class: 'flow-card proposal', dataset: { proposal: p.id } },
        h('p', { class: 'description' }, p.description),
        h('div', { class: 'card-actions' },
          h('button', { type: 'button', class: 'primary', 'aria-label': `Accept: ${p.description}`, onclick: () => decide(app, screen, 'accept_proposals', [p.id], `Done: ${p.description.replace(/\?$/, '')}.`) }, 'Accept'),
          h('button', { type: 'button', 'aria-label': `Dismiss: ${p.description}`, onclick: () => decide(app, screen, 'dismiss_proposals', [p.id], 'Dismissed on this device.') }, 'Dismiss'))))))),
  ];
}

export async function renderRules({ main, app }) {
  const generation = app.generation;
  const screen = {
    said: null,
    undoable: false,
    shown: null,
    async refresh(focus) {
      const data = await app.read('rules');
      if (app.generation !== generation) return;
      const signature = JSON.stringify([data, screen.said]);
      if (focus === undefined && signature === screen.shown) return;
      if (focus === undefined && document.querySelector('dialog[open]')) return; // never under someone's form
      screen.shown = signature;
      const undo = screen.undoable ? h('button', {
        type: 'button', class: 'small',
        onclick: async () => { screen.said = null; await app.undoRedo('undo'); await screen.refresh(null); },
      }, 'Undo') : null;
      mount(main,
        h('h1', { id: 'rules-title', tabindex: -1 }, 'Rules'),
        h('p', { class: 'hint' }, 'A rule watches your records and suggests what to do: put called cues in the SM\'s cue list, or '
          + 'point out two records that look like the same person. It asks first, unless you tell it not to.'),
        screen.said ? h('p', { class: 'flow-done', role: 'status', tabindex: -1 }, screen.said, ' ', undo) : null,
        h('section', { 'aria-labelledby': 'proposals-title' },
          h('h2', { id: 'proposals-title' }, 'Suggestions'),
          proposalsSection(app, screen, data.proposals)),
        h('section', { 'aria-labelledby': 'rule-list-title' },
          h('h2', { id: 'rule-list-title' }, 'Your rules'),
          h('button', { type: 'button', onclick: () => openRuleForm(app, screen, null) }, 'New rule…'),
          data.rules.length ? h('ul', { class: 'flow-cards' }, data.rules.map((r) => h('li', { class: `flow-card rule${r.enabled ? '' : ' off'}`, dataset: { rule: r.id } },
            h('p', { class: 'description' }, h('strong', {}, r.name), r.enabled ? '' : ' (turned off)'),
            h('p', { class: 'hint' }, r.summary),
            h('div', { class: 'card-actions' },
              r.builder ? h('button', { type: 'button', 'aria-label': `Edit ${r.name}`, onclick: () => openRuleForm(app, screen, r.builder) }, 'Edit…') : null,
              r.enabled ? h('button', {
                type: 'button', 'aria-label': `Turn off ${r.name}`,
                onclick: async () => {
                  try {
                    await app.write('disable_rule', { rule: r.id });
                    screen.said = `Rule “${r.name}” is off: it suggests nothing more.`;
                    screen.undoable = false;
                  } catch (err) {
                    screen.said = `Nothing was changed: ${err.message}`;
                  }
                  await screen.refresh(null);
                },
              }, 'Turn off') : null)))) : h('p', { class: 'hint' }, 'No rules yet.')));
      if (focus === null) main.querySelector('.flow-done, #rules-title').focus();
    },
    focus() { main.querySelector('#rules-title')?.focus(); },
  };
  await screen.refresh(undefined);
  return screen;
}
