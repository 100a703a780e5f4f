// Triggers: "when this field changes, run this script" (spec/scripts.md). Part of the Scripts
// screen: a list of the workspace's triggers, a form to make or change one (the field it watches,
// an optional condition on the old and new value, an optional link to follow, the script and its
// inputs, whether its changes wait for review or are saved at once), and what triggers did lately.
// A trigger that would set itself off (through other triggers or rules) is refused with the reason.
import { h, uid } from './dom.js';

const MODES = [
  ['session', 'Wait for me to review them (Review before saving)'],
  ['autoCommit', 'Save them straight away'],
];

const RUN_WORDS = {
  committed: 'made its changes',
  staged: 'left changes for you to review (Review before saving)',
  unchanged: 'ran and changed nothing',
  failed: 'stopped; nothing was changed',
  stopped: 'stopped',
};

/** The list of triggers for the Scripts screen's side list. */
export function triggerList(data, chosenId, choose) {
  return [
    h('h3', {}, 'When something changes'),
    data.triggers.length ? h('ul', {}, data.triggers.map((t) => h('li', {},
      h('button', {
        type: 'button', class: `script-choice${chosenId === t.id ? ' chosen' : ''}`,
        'aria-pressed': chosenId === t.id ? 'true' : 'false',
        onclick: () => choose(t),
      }, h('strong', {}, t.name), h('span', { class: 'hint' }, describe(data, t)))))) : h('p', { class: 'hint' }, 'No triggers yet.'),
  ];
}

function label(list, id) {
  const found = list.find((x) => x.id === id);
  return found ? found.label || found.name : id;
}

function describe(data, t) {
  const what = `When ${label(data.fields, t.field)} changes, run “${label(data.scripts, t.script)}”.`;
  return t.enabled ? what : `Turned off. ${what}`;
}

/** What triggers did lately (newest first). */
export function triggerRunsView(runs) {
  if (!runs.length) return null;
  return h('section', { class: 'trigger-runs', 'aria-labelledby': 'trigger-runs-title' },
    h('h3', { id: 'trigger-runs-title' }, 'What triggers did lately'),
    h('ul', {}, runs.slice(-8).reverse().map((r) => h('li', { class: r.status === 'failed' || r.status === 'stopped' ? 'warn' : '' },
      r.trigger ? `“${r.trigger}” ${RUN_WORDS[r.status] || r.status}` : 'Triggers stopped',
      r.message ? `: ${r.message}` : '.'))));
}

/**
 * The form to make a trigger (`trigger` null) or change one. `library` is the script library (for
 * each script's inputs); `done(id)` is called once saved.
 */
export function triggerForm(app, data, library, trigger, done) {
  const t = trigger || { name: '', field: '', script: '', when: '', scope: '', params: {}, mode: 'session', writes: [], enabled: true };
  const ids = {
    name: uid('trigger-name'), field: uid('trigger-field'), when: uid('trigger-when'), scope: uid('trigger-scope'),
    script: uid('trigger-script'), writes: uid('trigger-writes'), enabled: uid('trigger-enabled'),
  };
  const status = h('p', { class: 'form-status', role: 'status' });
  const inputs = h('div', { class: 'trigger-inputs' });
  const option = (value, text, selected) => h('option', { value, selected: selected || undefined }, text);
  const scriptSelect = h('select', { id: ids.script, required: true, onchange: () => showInputs() },
    option('', 'Choose a script…', !t.script), library.map((s) => option(s.id, s.name, s.id === t.script)));

  function showInputs() {
    const script = library.find((s) => s.id === scriptSelect.value);
    inputs.replaceChildren();
    if (!script || !script.args.length) return;
    inputs.append(h('p', { class: 'hint' }, 'The script’s inputs. Write $source for the record that changed, ',
      '$source.label for one of its fields, $new_value or $old_value for the value.'));
    for (const arg of script.args) {
      const id = uid(`trigger-arg-${arg.name}`);
      const value = t.script === script.id && t.params[arg.name] !== undefined ? String(t.params[arg.name]) : '';
      inputs.append(h('div', { class: 'form-row' }, h('label', { for: id }, arg.label),
        h('input', { id, 'data-arg': arg.name, value, placeholder: arg.default ?? '', autocomplete: 'off' })));
    }
  }

  const form = h('form', {
    class: 'script-inputs',
    onsubmit: async (event) => {
      event.preventDefault();
      const value = (id) => form.querySelector(`#${id}`).value;
      const params = {};
      for (const el of inputs.querySelectorAll('input[data-arg]')) {
        if (el.value.trim() !== '') params[el.dataset.arg] = el.value.trim();
      }
      const payload = {
        name: value(ids.name).trim(), field: value(ids.field), script: value(ids.script), when: value(ids.when).trim(),
        scope: value(ids.scope), params, mode: form.querySelector('input[name=trigger-mode]:checked').value,
        writes_fields: [...form.querySelector(`#${ids.writes}`).selectedOptions].map((o) => o.value),
        enabled: form.querySelector(`#${ids.enabled}`).checked,
      };
      if (trigger) payload.trigger_id = trigger.id;
      try {
        const saved = await app.write('trigger_save', payload);
        app.notify(payload.enabled ? `Saved “${payload.name}”: it runs when ${label(data.fields, payload.field)} changes.`
          : `Saved “${payload.name}”: it is turned off and will not run.`);
        await done(saved.id);
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    },
  },
  h('div', { class: 'form-row' }, h('label', { for: ids.name }, 'Name'),
    h('input', { id: ids.name, required: true, value: t.name, autocomplete: 'off' })),
  h('div', { class: 'form-row' }, h('label', { for: ids.field }, 'When this changes'),
    h('select', { id: ids.field, required: true }, option('', 'Choose a field…', !t.field),
      data.fields.map((f) => option(f.id, f.label, f.id === t.field)))),
  h('div', { class: 'form-row' }, h('label', { for: ids.when }, 'Only when (optional)'),
    h('input', { id: ids.when, value: t.when, autocomplete: 'off', spellcheck: false, placeholder: 'new_value == "GO"' })),
  h('div', { class: 'form-row' }, h('label', { for: ids.scope }, 'Only for records linked by (optional)'),
    h('select', { id: ids.scope }, option('', 'Any record', !t.scope), data.scopes.map((s) => option(s.id, s.label, s.id === t.scope)))),
  h('div', { class: 'form-row' }, h('label', { for: ids.script }, 'Run this script'), scriptSelect),
  inputs,
  h('fieldset', { class: 'trigger-modes' }, h('legend', {}, 'Its changes'),
    MODES.map(([mode, words]) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'trigger-mode', value: mode, checked: t.mode === mode || undefined }), ' ', words))),
  h('div', { class: 'form-row' }, h('label', { for: ids.writes }, 'Fields the script changes'),
    h('select', { id: ids.writes, multiple: true, size: 4 },
      data.fields.map((f) => option(f.id, f.label, t.writes.includes(f.id))))),
  h('p', { class: 'hint' }, 'Used to stop triggers from setting each other off without end.'),
  h('label', { class: 'choice', for: ids.enabled },
    h('input', { id: ids.enabled, type: 'checkbox', checked: t.enabled || undefined }), ' Turned on'),
  h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save trigger')),
  status);
  showInputs();
  return h('section', { class: 'script-form', 'aria-labelledby': 'trigger-form-title' },
    h('h2', { id: 'trigger-form-title', tabindex: -1 }, trigger ? trigger.name : 'New trigger'),
    h('p', {}, 'A trigger runs a script by itself when a field changes on this device, ',
      'e.g. setting the page when a cue’s label becomes GO.'),
    form);
}
